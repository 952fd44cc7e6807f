//! The `mrd` command line: `run` a node, `dev` a local cluster, make a seal
//! key, make the cluster CA and node certificates (`tls`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::RunArgs;
use crate::dev::DevArgs;

#[derive(Parser, Debug)]
#[command(
    name = "mrd",
    version,
    about = "mrouter node: a Raft-replicated mobility router certificate service"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one node.
    Run(Box<RunArgs>),
    /// Run a local cluster of real nodes on loopback, initialized, ready for mrctl.
    Dev(DevArgs),
    /// Write a new random cluster seal key to FILE (mode 0600). Every node of a
    /// cluster must load the same key.
    SealKey { file: PathBuf },
    /// The cluster CA and node certificates for TLS between nodes and to mrctl.
    #[command(subcommand)]
    Tls(crate::tls_tool::TlsCmd),
}

/// Parses the command line, runs it, prints any error once.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Everything mrd creates (data dir, RocksDB files, snapshots, `mrd dev`'s
    // logs and its nodes' files) is readable by its owner alone.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,openraft=warn,h2=warn,tower=warn,hyper=warn".into());
    // Logs go to stderr (stdout carries the "listening on" lines tools read),
    // coloured only on a terminal: a log file gets no escape codes.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mrd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = runtime.block_on(async {
        match cli.command {
            Cmd::Run(args) => {
                let cfg = args
                    .resolve(|k| std::env::var(k).ok())
                    .map_err(|e| e.to_string())?;
                crate::server::run(
                    cfg,
                    |addr| println!("mrd listening on {addr}"),
                    crate::server::shutdown_signal(),
                )
                .await
                .map_err(|e| e.to_string())
            }
            Cmd::Dev(args) => crate::dev::run(args).await.map_err(|e| e.to_string()),
            Cmd::SealKey { file } => seal_key(&file),
            Cmd::Tls(cmd) => crate::tls_tool::run(cmd).map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mrd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn seal_key(file: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = crate::pki::SealKey::generate_hex().map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    f.write_all(key.as_bytes())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    println!(
        "wrote a new seal key to {} (key id {})",
        file.display(),
        crate::pki::SealKey::from_hex(&key)
            .map_err(|e| e.to_string())?
            .id()
    );
    Ok(())
}
