//! `mrctl`: operate an mrouter cluster over gRPC.

mod cli;
mod commands;
mod confirm;
mod endpoints;
mod files;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = cli::Cli::parse();
    let format = cli.output;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime must start");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(format, &e);
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so `mrctl … | head` would panic on a closed pipe;
/// take the default action instead and end quietly, as other Unix tools do.
fn restore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any other thread exists;
    // SIG_DFL installs no Rust handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
