//! `mrctl cert …`: the router certificate slots (local and remote of each
//! node, local-virtual and remote-virtual of the cluster), and how a
//! certificate looks in a table, which `mrctl ca` shares.

use anyhow::{bail, Result};
use mrouter_proto::v1::router_certificates_client::RouterCertificatesClient;
use mrouter_proto::v1::{
    ActivateRequest, CertReply, CertificateInfo, CreateCsrRequest, CsrInfo, ExportCertRequest,
    ExportReply, GenerateCertRequest, ImportCertRequest, ListCertsReply, ListCertsRequest,
    SanChoice, ShowCertRequest, SlotRef, SlotView, SubjectFields,
};
use mrouter_proto::v1::{CertOrigin, CertState};
use tonic::transport::Channel;

use crate::cli::{CertCmd, Format, OutArgs, SanArgs, SlotArgs, SubjectArgs};
use crate::endpoints::Endpoints;
use crate::files::{self, OutFile};
use crate::output::{emit, enum_name, note, pairs, spinner, table, utc, utc_date, utc_ms, warn};

pub async fn run(endpoints: &Endpoints, format: Format, cmd: CertCmd) -> Result<()> {
    match cmd {
        CertCmd::Generate {
            slot,
            subject,
            key,
            sans,
            days,
            activate,
        } => {
            let req = GenerateCertRequest {
                request_id: super::request_id(),
                slot: Some(slot_ref(&slot)?),
                subject: Some(subject.into()),
                key_type: key.key_type.unwrap_or(0),
                sans: Some(sans.into()),
                validity_days: days.unwrap_or(0),
                activate,
            };
            let bar = spinner("generating the key and certificate on the cluster…");
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).generate(req).await }
                })
                .await;
            bar.inspect(|b| b.finish_and_clear());
            let reply = reply?.into_inner();
            warn(&reply.warnings);
            emit(format, &reply, |r| show_change("generated", activate, r))
        }
        CertCmd::Csr {
            slot,
            subject,
            key,
            sans,
            out,
        } => {
            let out = out_file(out, false);
            if let Some(o) = &out {
                o.check()?;
            }
            let req = CreateCsrRequest {
                request_id: super::request_id(),
                slot: Some(slot_ref(&slot)?),
                subject: Some(subject.into()),
                key_type: key.key_type.unwrap_or(0),
                sans: Some(sans.into()),
            };
            let bar = spinner("generating the key and CSR on the cluster…");
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).create_csr(req).await }
                })
                .await;
            bar.inspect(|b| b.finish_and_clear());
            let reply = reply?.into_inner();
            warn(&reply.warnings);
            if let Some(o) = &out {
                o.write(reply.csr_pem.as_bytes())?;
            }
            let label = reply
                .slot
                .as_ref()
                .map_or_else(|| slot.slot.as_str().to_string(), slot_label);
            eprintln!(
                "note: slot {label} keeps the new private key; import the signed certificate with `mrctl cert import {} FILE`",
                slot_flags(&slot)
            );
            emit(format, &reply, |r| match &out {
                Some(o) => println!("wrote the CSR to {}", o.path.display()),
                None => print!("{}", r.csr_pem),
            })
        }
        CertCmd::Import {
            slot,
            files: paths,
            password_file,
            activate,
        } => {
            let slot_ref = slot_ref(&slot)?;
            if paths.is_empty() {
                bail!("no files to import: give the certificate (and key, chain) files");
            }
            let files = paths
                .iter()
                .map(|p| files::read(p))
                .collect::<Result<Vec<_>>>()?;
            let password = password_file
                .as_deref()
                .map(files::read_password)
                .transpose()?
                .unwrap_or_default();
            let req = ImportCertRequest {
                request_id: super::request_id(),
                slot: Some(slot_ref),
                files,
                password,
                activate,
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).import(req).await }
                })
                .await?
                .into_inner();
            warn(&reply.warnings);
            note(&reply.notes);
            emit(format, &reply, |r| show_change("imported", activate, r))
        }
        CertCmd::Activate { slot } => {
            let req = ActivateRequest {
                request_id: super::request_id(),
                slot: Some(slot_ref(&slot)?),
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).activate(req).await }
                })
                .await?
                .into_inner();
            warn(&reply.warnings);
            emit(format, &reply, |r| {
                let view = r.slot.clone().unwrap_or_default();
                println!(
                    "activated the pending certificate of {} (log index {})",
                    slot_label(&view),
                    r.log_index
                );
                show_slot(&view);
            })
        }
        CertCmd::Show { slot, stale } => {
            let req = ShowCertRequest {
                slot: Some(slot_ref(&slot)?),
                stale,
            };
            let view = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).show(req).await }
                })
                .await?
                .into_inner();
            emit(format, &view, show_slot)
        }
        CertCmd::List { stale } => {
            let reply = endpoints
                .call(|ch| async move { client(ch).list(ListCertsRequest { stale }).await })
                .await?
                .into_inner();
            emit(format, &reply, show_list)
        }
        CertCmd::Export {
            slot,
            pending,
            include_key,
            out,
        } => {
            let out = export_file(out, include_key)?;
            let req = ExportCertRequest {
                slot: Some(slot_ref(&slot)?),
                pending,
                include_key,
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).export(req).await }
                })
                .await?
                .into_inner();
            deliver_pem(format, &reply, out)
        }
    }
}

fn client(ch: Channel) -> RouterCertificatesClient<Channel> {
    RouterCertificatesClient::new(ch)
}

/// The slot as the API names it; a node given for a cluster-wide slot is a
/// mistake worth saying rather than ignoring.
fn slot_ref(args: &SlotArgs) -> Result<SlotRef> {
    let node_id = args.node.unwrap_or(0);
    if node_id != 0 && !args.slot.per_node() {
        bail!(
            "--node applies to the local and remote slots; {} is shared by the whole cluster",
            args.slot.as_str()
        );
    }
    Ok(SlotRef {
        slot: args.slot.as_str().to_string(),
        node_id,
    })
}

/// `--slot S [--node N]` as typed, for hints that name a follow-up command.
fn slot_flags(args: &SlotArgs) -> String {
    match args.node {
        Some(n) if n != 0 => format!("--slot {} --node {n}", args.slot.as_str()),
        _ => format!("--slot {}", args.slot.as_str()),
    }
}

impl From<SubjectArgs> for SubjectFields {
    fn from(s: SubjectArgs) -> Self {
        SubjectFields {
            country: s.country,
            state: s.state.unwrap_or_default(),
            locality: s.locality.unwrap_or_default(),
            organization: s.organization.unwrap_or_default(),
            organizational_unit: s.organizational_unit.unwrap_or_default(),
            common_name: s.common_name.unwrap_or_default(),
        }
    }
}

impl From<SanArgs> for SanChoice {
    fn from(s: SanArgs) -> Self {
        SanChoice {
            add: s.add,
            drop: s.drop,
            no_defaults: s.no_default_sans,
        }
    }
}

/// `--out`, if given, as a file to create; `secret` when it will hold a key.
pub(super) fn out_file(args: OutArgs, secret: bool) -> Option<OutFile> {
    args.out.map(|path| OutFile {
        path,
        force: args.force,
        secret,
    })
}

/// Where an export goes: a private key only to `--out` (created 0600), or
/// to standard output with `--force`.
pub(super) fn export_file(args: OutArgs, include_key: bool) -> Result<Option<OutFile>> {
    if include_key && args.out.is_none() && !args.force {
        bail!(
            "--include-key writes the private key only to a file: pass --out FILE (created readable by you alone), or --force to print it"
        );
    }
    let out = out_file(args, include_key);
    if let Some(o) = &out {
        o.check()?;
    }
    Ok(out)
}

/// Exported PEM goes to the file, or to standard output as is; `-o json|yaml`
/// prints the reply instead.
pub(super) fn deliver_pem(format: Format, reply: &ExportReply, out: Option<OutFile>) -> Result<()> {
    match out {
        Some(mut file) => {
            file.secret |= reply.includes_key;
            file.write(reply.pem.as_bytes())?;
            let what = if reply.includes_key {
                "certificate and private key"
            } else {
                "certificate"
            };
            // The key went to the file only: scripts get the path, not the PEM.
            let written = serde_json::json!({
                "path": file.path.display().to_string(),
                "includes_key": reply.includes_key,
            });
            emit(format, &written, |_| {
                println!("wrote the {what} to {}", file.path.display())
            })
        }
        None => emit(format, reply, |r| print!("{}", r.pem)),
    }
}

/// "local of node 1", or "local-virtual" for a slot of the whole cluster.
fn slot_label(view: &SlotView) -> String {
    if view.node_id == 0 {
        view.slot.clone()
    } else {
        format!("{} of node {}", view.slot, view.node_id)
    }
}

fn show_change(verb: &str, activate: bool, reply: &CertReply) {
    let view = reply.slot.clone().unwrap_or_default();
    let label = slot_label(&view);
    // The node's warnings already say how to activate a pending certificate.
    let state = if activate { "an active" } else { "a pending" };
    println!(
        "{verb} {state} certificate for {label} (log index {})",
        reply.log_index
    );
    show_slot(&view);
}

fn show_slot(view: &SlotView) {
    pairs(&[
        ("slot", slot_label(view)),
        (
            "last generated",
            if view.last_generated_ms == 0 {
                "never".to_string()
            } else {
                utc_ms(view.last_generated_ms)
            },
        ),
        ("default SANs", list_or_none(&view.default_sans)),
    ]);
    for (title, cert) in [("active", &view.active), ("pending", &view.pending)] {
        match cert {
            Some(c) => {
                println!("{title} certificate:");
                pairs(&certificate_rows(c));
            }
            None => println!("{title} certificate: none"),
        }
    }
    if let Some(csr) = &view.csr {
        println!("certificate signing request (the slot keeps its key):");
        pairs(&csr_rows(csr));
    }
}

fn show_list(reply: &ListCertsReply) {
    let mut t = table(&[
        "SLOT",
        "NODE",
        "STATE",
        "COMMON NAME",
        "ISSUER",
        "EXPIRES",
        "KEY",
        "ORIGIN",
    ]);
    for s in &reply.slots {
        let node = if s.node_id == 0 {
            "-".to_string()
        } else {
            s.node_id.to_string()
        };
        let mut row = vec![s.slot.clone(), node, slot_state(s)];
        // The certificate in use, or the one waiting to be.
        match s.active.as_ref().or(s.pending.as_ref()) {
            Some(c) => row.extend([
                c.common_name.clone(),
                c.issuer.clone(),
                format!("{} ({})", utc_date(c.not_after), days_left(c.days_left)),
                c.key_type.clone(),
                enum_name::<CertOrigin>(c.origin),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_string(), 5)),
        }
        t.add_row(row);
    }
    println!("{t}");
}

/// What a slot holds: "active", "active, pending", "CSR", "empty", ….
fn slot_state(view: &SlotView) -> String {
    let held: Vec<&str> = [
        (view.active.is_some(), "active"),
        (view.pending.is_some(), "pending"),
        (view.csr.is_some(), "CSR"),
    ]
    .into_iter()
    .filter_map(|(present, name)| present.then_some(name))
    .collect();
    if held.is_empty() {
        "empty".to_string()
    } else {
        held.join(", ")
    }
}

/// One certificate as label/value rows.
pub(super) fn certificate_rows(c: &CertificateInfo) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("subject", c.subject.clone()),
        ("SANs", list_or_none(&c.sans)),
        ("issuer", c.issuer.clone()),
        ("serial", c.serial.clone()),
        ("not before", utc(c.not_before)),
        ("not after", utc(c.not_after)),
        ("days left", days_left(c.days_left)),
        ("key type", c.key_type.clone()),
        ("SHA-256 fingerprint", c.fingerprint_sha256.clone()),
        ("origin", enum_name::<CertOrigin>(c.origin)),
        ("state", enum_name::<CertState>(c.state)),
        (
            "CA epoch",
            if c.ca_epoch == 0 {
                "not signed by the cluster CA".to_string()
            } else {
                c.ca_epoch.to_string()
            },
        ),
    ];
    if c.installed_at_ms != 0 {
        rows.push(("installed", utc_ms(c.installed_at_ms)));
    }
    if !c.chain.is_empty() {
        rows.push(("chain", c.chain.join("; ")));
    }
    rows
}

fn csr_rows(csr: &CsrInfo) -> Vec<(&'static str, String)> {
    vec![
        ("subject", csr.subject.clone()),
        ("SANs", list_or_none(&csr.sans)),
        ("key type", csr.key_type.clone()),
        ("created", utc_ms(csr.created_at_ms)),
    ]
}

fn days_left(days: i64) -> String {
    match days {
        d if d < 0 => "expired".to_string(),
        1 => "1 day left".to_string(),
        d => format!("{d} days left"),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}
#[cfg(test)]
mod tests;
