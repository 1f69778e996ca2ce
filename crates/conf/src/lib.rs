//! The cherokee.conf key tree (being written).
