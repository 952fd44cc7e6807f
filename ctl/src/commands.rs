//! One function per `mrctl` command family.

mod ca;
mod cert;
mod client;
mod cluster;
mod settings;
mod snapshot;

use std::time::Duration;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::endpoints::{Endpoints, Transport};

pub async fn run(cli: Cli) -> Result<()> {
    let transport = Transport::from_flags(cli.cacert.as_deref(), cli.plaintext)?;
    let endpoints = Endpoints::new(cli.endpoints, Duration::from_secs(cli.timeout), transport)?;
    match cli.command {
        Command::Cluster(cmd) => cluster::run(&endpoints, cli.output, cmd).await,
        Command::Snapshot(cmd) => snapshot::run(&endpoints, cli.output, cmd).await,
        Command::Settings(cmd) => settings::run(&endpoints, cli.output, cmd).await,
        Command::Ca(cmd) => ca::run(&endpoints, cli.output, cmd).await,
        Command::Cert(cmd) => cert::run(&endpoints, cli.output, cmd).await,
        Command::Client(cmd) => client::run(&endpoints, cli.output, cmd).await,
    }
}

/// A fresh idempotency key for a write.
pub fn request_id() -> Vec<u8> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut id = [0u8; 16];
    SystemRandom::new()
        .fill(&mut id)
        .expect("the system random generator must work");
    id.to_vec()
}
