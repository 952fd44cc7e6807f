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
    quiet_on_closed_stdout();
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

/// Rust ignores SIGPIPE, and so does mrctl: a write to a node that hung up
/// (a TLS node closing on a plaintext client) must be an error to report,
/// not a silent death by signal. A closed standard output (`mrctl … | head`)
/// makes `println!` panic instead; that panic ends mrctl as SIGPIPE would,
/// quietly, as other Unix tools end.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            use nix::sys::signal::{raise, signal, SigHandler, Signal};
            // SAFETY: SIG_DFL installs no Rust handler; the process ends
            // here, by the signal (or the exit below if it is blocked).
            let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
            let _ = raise(Signal::SIGPIPE);
            std::process::exit(141);
        }
        default(info)
    }));
}
