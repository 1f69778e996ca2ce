//! The `baton` command. Everything is in the library; see `baton::cli`.

fn main() {
    std::process::exit(baton::cli::main());
}
