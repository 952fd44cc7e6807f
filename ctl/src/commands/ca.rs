//! `mrctl ca …`: the cluster's certificate authority. Replacing it
//! invalidates every provisioned client, so a replacement is previewed with a
//! dry run and confirmed before it is sent.

use std::future::Future;
use std::path::Path;

use anyhow::{bail, Result};
use mrouter_proto::v1::certificate_authority_client::CertificateAuthorityClient;
use mrouter_proto::v1::{
    CaReply, ExportCaRequest, GenerateCaRequest, ImportCaRequest, ShowCaRequest,
};
use tonic::transport::Channel;

use super::cert::{certificate_rows, deliver_pem, export_file};
use crate::cli::{CaCmd, Format};
use crate::confirm::confirm;
use crate::endpoints::Endpoints;
use crate::files;
use crate::output::{emit, note, pairs, spinner, utc_date, warn};

/// Asked before generating a CA over an existing one; the wording is the
/// product's, kept verbatim.
const GENERATE_WARNING: &str = "GENERATING CLIENT CERTIFICATE AUTHORITY CERTIFICATE INVALIDATES PROVISIONING STATUS OF EXISTING CLIENT APPLICATIONS. ALL PROVISIONED CLIENTS WILL STOP WORKING UNTIL THEY ARE RE-PROVISIONED. GENERATE THE CERTIFICATE?";

/// Shown before importing a CA over an existing one, verbatim as well.
const IMPORT_WARNING: &str = "Warning: Importing Certificate Authority certificate invalidates provisioning status of existing client applications. All provisioned clients will stop working until they are re-provisioned.";

const IMPORT_QUESTION: &str = "Import the certificate?";

/// One request of an install: a preview changes nothing; an install replaces
/// exactly the CA the caller saw (`expected_epoch`, 0 for none) — if another
/// operator replaced it meanwhile, the cluster refuses.
#[derive(Copy, Clone, Debug)]
enum Step {
    Preview,
    Install { expected_epoch: u64 },
}

impl Step {
    fn dry_run(self) -> bool {
        matches!(self, Step::Preview)
    }

    fn confirm_invalidate_clients(self) -> bool {
        matches!(self, Step::Install { expected_epoch } if expected_epoch > 0)
    }

    fn expected_epoch(self) -> Option<u64> {
        match self {
            Step::Preview => None,
            Step::Install { expected_epoch } => Some(expected_epoch),
        }
    }
}

pub async fn run(endpoints: &Endpoints, format: Format, cmd: CaCmd) -> Result<()> {
    match cmd {
        CaCmd::Generate {
            subject,
            key,
            days,
            dry_run,
            yes,
        } => {
            let template = GenerateCaRequest {
                request_id: Vec::new(),
                subject: Some(subject.into()),
                key_type: key.key_type.unwrap_or(0),
                validity_days: days.unwrap_or(0),
                dry_run: false,
                confirm_invalidate_clients: false,
                expected_epoch: None,
            };
            let send = |step: Step| {
                // Each step is its own write: a preview must not share its id
                // with the install, or the install could be answered from it.
                let req = GenerateCaRequest {
                    request_id: super::request_id(),
                    dry_run: step.dry_run(),
                    confirm_invalidate_clients: step.confirm_invalidate_clients(),
                    expected_epoch: step.expected_epoch(),
                    ..template.clone()
                };
                async move {
                    endpoints
                        .call(|ch| {
                            let req = req.clone();
                            async move { client(ch).generate(req).await }
                        })
                        .await
                        .map(|r| r.into_inner())
                }
            };
            let ask = || confirm(GENERATE_WARNING, yes);
            install(endpoints, format, dry_run, ask, send).await
        }
        CaCmd::Import {
            file,
            cert,
            key,
            password_file,
            dry_run,
            yes,
        } => {
            let bundle = read_bundle(file.as_deref(), cert.as_deref(), key.as_deref())?;
            let password = password_file
                .as_deref()
                .map(files::read_password)
                .transpose()?
                .unwrap_or_default();
            let send = |step: Step| {
                let req = ImportCaRequest {
                    request_id: super::request_id(),
                    bundle: bundle.clone(),
                    password: password.clone(),
                    dry_run: step.dry_run(),
                    confirm_invalidate_clients: step.confirm_invalidate_clients(),
                    expected_epoch: step.expected_epoch(),
                };
                async move {
                    endpoints
                        .call(|ch| {
                            let req = req.clone();
                            async move { client(ch).import(req).await }
                        })
                        .await
                        .map(|r| r.into_inner())
                }
            };
            let ask = || {
                eprintln!("{IMPORT_WARNING}");
                confirm(IMPORT_QUESTION, yes)
            };
            install(endpoints, format, dry_run, ask, send).await
        }
        CaCmd::Show { stale } => {
            let reply = show(endpoints, stale).await?;
            emit(format, &reply, show_ca)
        }
        CaCmd::Export { include_key, out } => {
            let out = export_file(out, include_key)?;
            let reply = endpoints
                .call(|ch| async move { client(ch).export(ExportCaRequest { include_key }).await })
                .await?
                .into_inner();
            deliver_pem(format, &reply, out)
        }
    }
}

fn client(ch: Channel) -> CertificateAuthorityClient<Channel> {
    CertificateAuthorityClient::new(ch)
}

async fn show(endpoints: &Endpoints, stale: bool) -> Result<CaReply> {
    Ok(endpoints
        .call(|ch| async move { client(ch).show(ShowCaRequest { stale }).await })
        .await?
        .into_inner())
}

/// Generates or imports a CA. `--dry-run` only reports. With a CA in place,
/// a preview shows what would break and `ask` must agree before the install;
/// with none, the install goes ahead without `replace`, so a CA that another
/// operator installs meanwhile is refused by the cluster, not overwritten.
async fn install<F, Fut>(
    endpoints: &Endpoints,
    format: Format,
    dry_run: bool,
    ask: impl FnOnce() -> Result<()>,
    send: F,
) -> Result<()>
where
    F: Fn(Step) -> Fut,
    Fut: Future<Output = Result<CaReply>>,
{
    if dry_run {
        let reply = send(Step::Preview).await?;
        warn(&reply.warnings);
        note(&reply.notes);
        return emit(format, &reply, |r| {
            for line in impact_lines(r) {
                println!("{line}");
            }
            println!("dry run: the request is valid; nothing was changed");
        });
    }
    let current = show(endpoints, false).await?;
    let replace = current.ca.is_some();
    let mut expected_epoch = current.epoch;
    let mut shown = Vec::new();
    if replace {
        let preview = send(Step::Preview).await?;
        for line in impact_lines(&preview) {
            eprintln!("{line}");
        }
        warn(&preview.warnings);
        ask()?;
        // What was shown (and agreed to) is what gets replaced.
        expected_epoch = preview.epoch;
        shown = preview.warnings;
    }
    let bar = spinner("installing the certificate authority on the cluster…");
    let reply = send(Step::Install { expected_epoch }).await;
    bar.inspect(|b| b.finish_and_clear());
    let reply = reply?;
    let fresh: Vec<String> = reply
        .warnings
        .iter()
        .filter(|w| !shown.contains(w))
        .cloned()
        .collect();
    warn(&fresh);
    note(&reply.notes);
    emit(format, &reply, |r| {
        println!(
            "installed the certificate authority, epoch {} (log index {})",
            r.epoch, r.log_index
        );
        if let Some(ca) = &r.ca {
            pairs(&certificate_rows(ca));
        }
    })
}

/// What replacing the current CA would invalidate, as lines for people.
fn impact_lines(reply: &CaReply) -> Vec<String> {
    let (Some(ca), Some(impact)) = (&reply.ca, &reply.impact) else {
        return vec![
            "no certificate authority is installed: installing one invalidates nothing".into(),
        ];
    };
    let mut lines = vec![
        format!(
            "replacing the certificate authority {} (epoch {}, expires {}) would invalidate:",
            ca.subject,
            impact.current_epoch,
            utc_date(ca.not_after)
        ),
        format!(
            "  {} client(s) provisioned under this certificate authority",
            impact.clients_invalidated
        ),
    ];
    if impact.router_certificates_signed.is_empty() {
        lines.push("  router certificates signed by it: none".into());
    } else {
        lines.push("  router certificates signed by it:".into());
        lines.extend(
            impact
                .router_certificates_signed
                .iter()
                .map(|c| format!("    {c}")),
        );
    }
    lines
}

fn show_ca(reply: &CaReply) {
    let Some(ca) = &reply.ca else {
        println!("no certificate authority is installed (create one with `mrctl ca generate` or `mrctl ca import`)");
        return;
    };
    println!("certificate authority, epoch {}", reply.epoch);
    pairs(&certificate_rows(ca));
    if let Some(impact) = &reply.impact {
        let signed = if impact.router_certificates_signed.is_empty() {
            "(none)".to_string()
        } else {
            impact.router_certificates_signed.join(", ")
        };
        pairs(&[
            (
                "provisioned clients",
                impact.clients_invalidated.to_string(),
            ),
            ("router certificates signed", signed),
        ]);
    }
}

/// The bytes of `ImportCaRequest.bundle`: one file as it is (PEM or
/// PKCS#12), or a PEM certificate followed by its PEM key.
fn read_bundle(file: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Vec<u8>> {
    match (file, cert, key) {
        (Some(file), None, None) => files::read(file),
        (None, Some(cert), Some(key)) => {
            let cert_pem = read_pem(cert, "--cert")?;
            let key_pem = read_pem(key, "--key")?;
            let mut bundle = cert_pem;
            // PEM blocks must start on their own line.
            if !bundle.ends_with(b"\n") {
                bundle.push(b'\n');
            }
            bundle.extend_from_slice(&key_pem);
            Ok(bundle)
        }
        _ => bail!("give the CA as one FILE, or as --cert FILE and --key FILE"),
    }
}

/// A file given to `flag`, which takes PEM only: binary files cannot be
/// joined into one bundle.
fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>> {
    let bytes = files::read(path)?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!(
            "{} is not PEM: {flag} takes a PEM file; give a PKCS#12 file as the single FILE argument instead",
            path.display()
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
