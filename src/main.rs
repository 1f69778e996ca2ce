//! The `baton` command. Everything is in the library; see `baton::cli`.

/// mimalloc (see `baton::allocator` for why, and why not through the `mimalloc` crate).
#[global_allocator]
static GLOBAL: baton::allocator::Allocator = baton::allocator::Allocator;

fn main() {
    std::process::exit(baton::cli::main());
}
