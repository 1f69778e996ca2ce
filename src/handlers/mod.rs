//! Request handler building blocks.

pub mod dirlist_render;
