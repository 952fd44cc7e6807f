//! `mrctl`: operate an mrouter cluster over gRPC.

mod cli;
mod commands;
mod confirm;
mod endpoints;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime must start");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mrctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
