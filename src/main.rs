//! The `wharf` binary: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc rather than the system's allocator: a cached manifest fetch
/// makes some forty allocations, and glibc's `malloc` and `free` were 17 %
/// of its instructions (callgrind; 64,000 per request, 55,500 with
/// mimalloc). Its version 2, whose freed memory goes back to the system
/// after 10 ms: version 3 keeps it for a second, and a 1 GiB upload's
/// buffers then pushed the peak RSS to the limit of case D.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match wharf::cli::run(wharf::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wharf: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
