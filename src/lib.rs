//! Baton: a zero-downtime web server that reads Cherokee's `cherokee.conf`.
pub mod log;
