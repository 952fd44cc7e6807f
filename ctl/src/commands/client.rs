//! `mrctl client …`: provisioned mobile clients. A key the cluster makes is
//! delivered once, so it only ever goes to files (mode 0600) that are checked
//! before the request is sent, never to the terminal. Re-provisioning every
//! client a CA replacement invalidated is resumable and counts its failures.

use std::collections::HashSet;
use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mrouter_proto::v1::clients_client::ClientsClient;
use mrouter_proto::v1::{
    ClientCountsRequest, ClientInfo, ClientReply, CrlRequest, ListClientsReply, ListClientsRequest,
    ProvisionReply, ProvisionRequest, ReprovisionRequest, RevokeRequest, RouterEndpoints,
    ShowClientRequest,
};
use mrouter_proto::v1::{ClientState, KeyOrigin};
use serde::Serialize;
use tonic::transport::Channel;

use super::cert::out_file;
use crate::cli::{ClientCmd, Format};
use crate::confirm::confirm;
use crate::endpoints::Endpoints;
use crate::files::{self, OutFile};
use crate::output::{emit, enum_name, pairs, spinner, table, utc, utc_date, utc_ms, warn};

/// Clients listed per round of `reprovision --all-invalidated`.
const SWEEP_PAGE: u32 = 500;
const DEFAULT_CONCURRENCY: u16 = 16;
/// Failures quoted in a summary; the rest are only counted.
const QUOTED_ERRORS: usize = 5;

pub async fn run(endpoints: &Endpoints, format: Format, cmd: ClientCmd) -> Result<()> {
    match cmd {
        ClientCmd::Provision {
            id,
            user,
            device,
            days,
            replace,
            csr,
            key_type,
            p12,
            password_file,
            key_out,
            bundle,
        } => {
            check_key_delivery(
                csr.is_some(),
                p12.is_some(),
                key_out.is_some(),
                bundle.is_some(),
            )?;
            let csr = csr
                .as_deref()
                .map(|p| files::read_at_most(p, files::MAX_CSR, "a CSR"))
                .transpose()?;
            let delivery = Delivery::prepare(p12, password_file, key_out, bundle.as_deref())?;
            let req = ProvisionRequest {
                request_id: super::request_id(),
                id,
                user,
                device: device.unwrap_or_default(),
                csr: csr.unwrap_or_default(),
                key_type: key_type.unwrap_or(0),
                validity_days: days.unwrap_or(0),
                replace,
                p12_password: delivery.p12_password().to_string(),
            };
            let bar = spinner("signing the client certificate on the cluster…");
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).provision(req).await }
                })
                .await;
            bar.inspect(|b| b.finish_and_clear());
            let reply = match reply {
                Ok(r) => r.into_inner(),
                Err(e) => {
                    delivery.abandon();
                    return Err(e);
                }
            };
            warn(&reply.warnings);
            let written = delivery.deliver(&reply, &req.id)?;
            let output = ProvisionOutput::new(&reply, written);
            emit(format, &output, |o| {
                show_provisioned(o, delivery.bundle.is_none())
            })
        }
        ClientCmd::List {
            state,
            user,
            limit,
            all,
            page_token,
            stale,
        } => {
            let req = ListClientsRequest {
                state: state.unwrap_or(0),
                user: user.unwrap_or_default(),
                limit: limit.unwrap_or(0),
                page_token: page_token.unwrap_or_default(),
                stale,
            };
            if all {
                let reply = list_all(endpoints, req).await?;
                return emit(format, &reply, show_list);
            }
            let reply = list(endpoints, req).await?;
            emit(format, &reply, show_list)?;
            if !reply.next_page_token.is_empty() {
                eprintln!("next page: --page-token {}", reply.next_page_token);
            }
            Ok(())
        }
        ClientCmd::Show { id, stale, cert } => {
            let req = ShowClientRequest { id, stale };
            let info = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).show(req).await }
                })
                .await?
                .into_inner();
            if cert {
                print!("{}", info.cert_pem);
                return Ok(());
            }
            emit(format, &info, |c| pairs(&client_rows(c)))
        }
        ClientCmd::Revoke { id, reason, yes } => {
            confirm(
                &format!(
                    "Revoke client {id}? Its certificate goes on the CRL and stops working; only provisioning it again with --replace brings it back."
                ),
                yes,
            )?;
            let req = RevokeRequest {
                request_id: super::request_id(),
                id,
                reason: reason.unwrap_or_default(),
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { client(ch).revoke(req).await }
                })
                .await?
                .into_inner();
            warn(&reply.warnings);
            emit(format, &reply, |r| {
                println!("revoked client {} (log index {})", req.id, r.log_index);
                if let Some(c) = &r.client {
                    pairs(&client_rows(c));
                }
            })
        }
        ClientCmd::Reprovision {
            id,
            all_invalidated,
            concurrency,
            days,
            out,
        } => {
            let days = days.unwrap_or(0);
            // clap lets a conflicting ID stand in for the flag `requires` names.
            if concurrency.is_some() && !all_invalidated {
                bail!("--concurrency applies to --all-invalidated");
            }
            if all_invalidated {
                let concurrency = concurrency.unwrap_or(DEFAULT_CONCURRENCY);
                return reprovision_all(endpoints, format, days, usize::from(concurrency)).await;
            }
            let Some(id) = id else {
                bail!("give the client ID, or --all-invalidated");
            };
            let out = out_file(out, false);
            if let Some(o) = &out {
                o.check()?;
            }
            let reply = reprovision(endpoints, &id, days).await?;
            warn(&reply.warnings);
            if let Some(o) = &out {
                o.write(reply.cert_pem.as_bytes())?;
            }
            emit(format, &reply, |r| {
                let epoch = r.client.as_ref().map_or(0, |c| c.ca_epoch);
                println!(
                    "re-provisioned client {id} under CA epoch {epoch} (log index {})",
                    r.log_index
                );
                if let Some(c) = &r.client {
                    pairs(&client_rows(c));
                }
                match &out {
                    Some(o) => println!("wrote the certificate to {}", o.path.display()),
                    None => print!("{}", r.cert_pem),
                }
            })
        }
        ClientCmd::Crl { der, out } => {
            let out = out_file(out, false);
            if let Some(o) = &out {
                o.check()?;
            }
            let reply = endpoints
                .call(|ch| async move { client(ch).crl(CrlRequest {}).await })
                .await?
                .into_inner();
            // The DER is the PEM's content: scripts get the PEM, not a byte array.
            let shown = CrlOutput {
                revoked: reply.revoked,
                pem: &reply.pem,
            };
            match &out {
                Some(o) => {
                    let (bytes, encoding) = if der {
                        (reply.der.as_slice(), "DER")
                    } else {
                        (reply.pem.as_bytes(), "PEM")
                    };
                    o.write(bytes)?;
                    emit(format, &shown, |r| {
                        println!(
                            "wrote the CRL ({} revoked) as {encoding} to {}",
                            r.revoked,
                            o.path.display()
                        )
                    })
                }
                None => emit(format, &shown, |r| print!("{}", r.pem)),
            }
        }
    }
}

/// What `crl` prints for scripts.
#[derive(Serialize)]
struct CrlOutput<'a> {
    revoked: u64,
    pem: &'a str,
}

fn client(ch: Channel) -> ClientsClient<Channel> {
    ClientsClient::new(ch)
}

/// A key made by the cluster is delivered once: without a CSR it must have a
/// file to go to, or it would be lost (or end up in a terminal's scrollback).
fn check_key_delivery(csr: bool, p12: bool, key_out: bool, bundle: bool) -> Result<()> {
    if !(csr || p12 || key_out || bundle) {
        bail!(
            "without --csr the cluster makes the private key and hands it out once: \
             give --key-out FILE, --p12 FILE --password-file F, or --bundle DIR to write it to"
        );
    }
    Ok(())
}

/// Where the results of a provisioning go; every file and the bundle
/// directory are checked before the request is sent.
struct Delivery {
    key_out: Option<OutFile>,
    p12: Option<(OutFile, String)>,
    bundle: Option<Bundle>,
}

impl Delivery {
    fn prepare(
        p12: Option<PathBuf>,
        password_file: Option<PathBuf>,
        key_out: Option<PathBuf>,
        bundle: Option<&Path>,
    ) -> Result<Self> {
        let secret = |path| OutFile {
            path,
            force: false,
            secret: true,
        };
        let p12 = match (p12, password_file) {
            (Some(path), Some(password_file)) => {
                let password = files::read_password(&password_file)?;
                if password.is_empty() {
                    bail!(
                        "the password in {} is empty: a PKCS#12 file needs one",
                        password_file.display()
                    );
                }
                Some((secret(path), password))
            }
            (Some(_), None) => bail!("--p12 needs --password-file"),
            (None, Some(_)) => bail!("--password-file applies to --p12 FILE"),
            (None, None) => None,
        };
        let key_out = key_out.map(secret);
        for file in key_out.iter().chain(p12.iter().map(|(f, _)| f)) {
            file.check()?;
        }
        let bundle = bundle.map(Bundle::prepare).transpose()?;
        Ok(Self {
            key_out,
            p12,
            bundle,
        })
    }

    fn p12_password(&self) -> &str {
        self.p12.as_ref().map_or("", |(_, p)| p.as_str())
    }

    /// The request failed: nothing to deliver, so no empty bundle is left behind.
    fn abandon(&self) {
        if let Some(b) = &self.bundle {
            b.abandon();
        }
    }

    /// Writes every file. The key files come first; a failure does not stop
    /// the other files, since the key cannot be fetched again.
    fn deliver(&self, reply: &ProvisionReply, id: &str) -> Result<Vec<Written>> {
        const P12: &str = "PKCS#12 file (key and certificates)";
        const KEY: &str = "private key";
        let mut failures = Vec::new();
        let mut jobs: Vec<(OutFile, &[u8], &'static str)> = Vec::new();
        if let Some((file, _)) = &self.p12 {
            if reply.p12.is_empty() {
                failures.push(format!(
                    "the cluster sent no PKCS#12 file for {}",
                    file.path.display()
                ));
            } else {
                jobs.push((file.clone(), &reply.p12, P12));
            }
        }
        if let Some(file) = &self.key_out {
            if reply.key_pem.is_empty() {
                failures.push(format!(
                    "the cluster sent no private key for {}",
                    file.path.display()
                ));
            } else {
                jobs.push((file.clone(), reply.key_pem.as_bytes(), KEY));
            }
        }
        let endpoints = endpoints_json(id, reply.endpoints.as_ref())?;
        if let Some(bundle) = &self.bundle {
            if !reply.p12.is_empty() {
                jobs.push((bundle.file("client.p12", true), &reply.p12, P12));
            } else if !reply.key_pem.is_empty() {
                jobs.push((
                    bundle.file("client.key", true),
                    reply.key_pem.as_bytes(),
                    KEY,
                ));
            }
            jobs.extend([
                (
                    bundle.file("client.pem", false),
                    reply.cert_pem.as_bytes(),
                    "certificate",
                ),
                (
                    bundle.file("ca.pem", false),
                    reply.ca_pem.as_bytes(),
                    "CA certificate",
                ),
                (
                    bundle.file("endpoints.json", false),
                    endpoints.as_bytes(),
                    "router endpoints",
                ),
            ]);
        }
        let mut written = Vec::new();
        for (file, content, what) in jobs {
            match file.write(content) {
                Ok(()) => written.push(Written {
                    what,
                    path: file.path.display().to_string(),
                }),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        if failures.is_empty() {
            return Ok(written);
        }
        for w in &written {
            eprintln!("wrote the {} to {}", w.what, w.path);
        }
        let mut message = format!(
            "client {id} was provisioned, but writing its files failed: {}",
            failures.join("; ")
        );
        if !reply.key_pem.is_empty()
            || !reply.p12.is_empty()
            || self.p12.is_some()
            || self.key_out.is_some()
        {
            message.push_str(
                "; a key made by the cluster is delivered only once: provision the client again with --replace for a new one",
            );
        }
        Err(anyhow!(message))
    }
}

/// A directory holding everything a client needs. It is created (owner only)
/// before the request, so a refusal comes before anything changes.
struct Bundle {
    dir: PathBuf,
    created: bool,
}

impl Bundle {
    fn prepare(dir: &Path) -> Result<Self> {
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "{} is not empty: --bundle needs a new or empty directory",
                        dir.display()
                    );
                }
                Ok(Self {
                    dir: dir.to_path_buf(),
                    created: false,
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                DirBuilder::new()
                    .mode(0o700)
                    .create(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Self {
                    dir: dir.to_path_buf(),
                    created: true,
                })
            }
            Err(e) => bail!("cannot use {} for the bundle: {e}", dir.display()),
        }
    }

    fn file(&self, name: &str, secret: bool) -> OutFile {
        OutFile {
            path: self.dir.join(name),
            force: false,
            secret,
        }
    }

    /// Removes the directory if this run made it and it is still empty.
    fn abandon(&self) {
        if self.created {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// `endpoints.json` of a bundle: where the client connects, and as whom.
fn endpoints_json(id: &str, endpoints: Option<&RouterEndpoints>) -> Result<String> {
    #[derive(Serialize)]
    struct ClientEndpoints<'a> {
        client_id: &'a str,
        #[serde(flatten)]
        endpoints: RouterEndpoints,
    }
    let value = ClientEndpoints {
        client_id: id,
        endpoints: endpoints.cloned().unwrap_or_default(),
    };
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// A file a command wrote.
#[derive(Debug, Serialize)]
struct Written {
    what: &'static str,
    path: String,
}

/// What `provision` prints: the reply without the private key, and the files.
#[derive(Serialize)]
struct ProvisionOutput<'a> {
    client: Option<&'a ClientInfo>,
    cert_pem: &'a str,
    ca_pem: &'a str,
    endpoints: Option<&'a RouterEndpoints>,
    log_index: u64,
    warnings: &'a [String],
    files: Vec<Written>,
}

impl<'a> ProvisionOutput<'a> {
    fn new(reply: &'a ProvisionReply, files: Vec<Written>) -> Self {
        Self {
            client: reply.client.as_ref(),
            cert_pem: &reply.cert_pem,
            ca_pem: &reply.ca_pem,
            endpoints: reply.endpoints.as_ref(),
            log_index: reply.log_index,
            warnings: &reply.warnings,
            files,
        }
    }
}

/// The certificate is printed unless a bundle holds it.
fn show_provisioned(o: &ProvisionOutput, print_cert: bool) {
    let id = o.client.map_or("", |c| c.id.as_str());
    println!("provisioned client {id} (log index {})", o.log_index);
    if let Some(c) = o.client {
        pairs(&client_rows(c));
    }
    for w in &o.files {
        println!("wrote the {} to {}", w.what, w.path);
    }
    if print_cert {
        print!("{}", o.cert_pem);
    }
}

async fn list(endpoints: &Endpoints, req: ListClientsRequest) -> Result<ListClientsReply> {
    Ok(endpoints
        .call(|ch| {
            let req = req.clone();
            async move { client(ch).list(req).await }
        })
        .await?
        .into_inner())
}

/// Every page from `req`'s token on, as one reply without a next token.
async fn list_all(endpoints: &Endpoints, mut req: ListClientsRequest) -> Result<ListClientsReply> {
    let mut all = ListClientsReply::default();
    loop {
        let page = list(endpoints, req.clone()).await?;
        all.clients.extend(page.clients);
        all.current_epoch = page.current_epoch;
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        if page.next_page_token == req.page_token {
            bail!("the cluster returned the same page twice; stopping rather than looping");
        }
        req.page_token = page.next_page_token;
    }
}

fn show_list(reply: &ListClientsReply) {
    let mut t = table(&["ID", "USER", "DEVICE", "STATE", "EXPIRES", "KEY", "EPOCH"]);
    for c in &reply.clients {
        t.add_row(vec![
            c.id.clone(),
            c.user.clone(),
            or_dash(&c.device),
            enum_name::<ClientState>(c.state),
            format!("{} ({})", utc_date(c.not_after), days_left(c.days_left)),
            c.key_type.clone(),
            c.ca_epoch.to_string(),
        ]);
    }
    println!("{t}");
}

/// One client as label/value rows.
fn client_rows(c: &ClientInfo) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("id", c.id.clone()),
        ("user", c.user.clone()),
        ("device", or_dash(&c.device)),
        ("state", enum_name::<ClientState>(c.state)),
        ("serial", c.serial.clone()),
        ("not before", utc(c.not_before)),
        ("not after", utc(c.not_after)),
        ("days left", days_left(c.days_left)),
        ("key type", c.key_type.clone()),
        ("key origin", key_origin(c.key_origin)),
        ("CA epoch", c.ca_epoch.to_string()),
        ("SHA-256 fingerprint", c.fingerprint_sha256.clone()),
    ];
    if c.provisioned_at_ms != 0 {
        rows.push(("provisioned", utc_ms(c.provisioned_at_ms)));
    }
    if c.revoked_at_ms != 0 {
        rows.push((
            "revoked",
            format!("{} ({})", utc_ms(c.revoked_at_ms), c.revoked_reason),
        ));
    }
    rows
}

fn key_origin(origin: i32) -> String {
    match KeyOrigin::try_from(origin) {
        Ok(KeyOrigin::Csr) => "CSR (the key stays on the device)".to_string(),
        Ok(KeyOrigin::Server) => "made by the cluster, delivered once".to_string(),
        _ => enum_name::<KeyOrigin>(origin),
    }
}

fn days_left(days: i64) -> String {
    match days {
        d if d < 0 => "expired".to_string(),
        1 => "1 day left".to_string(),
        d => format!("{d} days left"),
    }
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        text.to_string()
    }
}

/// One re-provisioning, with its own request id so a retry on another node
/// is applied at most once.
async fn reprovision(endpoints: &Endpoints, id: &str, days: u32) -> Result<ClientReply> {
    let req = ReprovisionRequest {
        request_id: super::request_id(),
        id: id.to_string(),
        validity_days: days,
    };
    Ok(endpoints
        .call(|ch| {
            let req = req.clone();
            async move { client(ch).reprovision(req).await }
        })
        .await?
        .into_inner())
}

/// Re-provisions every invalidated client, `concurrency` at a time. Each
/// round lists from the start, since every client done leaves the set; the
/// summary is printed even when the run stops early.
async fn reprovision_all(
    endpoints: &Endpoints,
    format: Format,
    days: u32,
    concurrency: usize,
) -> Result<()> {
    let counts = endpoints
        .call(|ch| async move {
            client(ch)
                .counts(ClientCountsRequest { stale: false })
                .await
        })
        .await?
        .into_inner();
    let bar = progress(counts.invalidated);
    let mut sweep = Sweep::default();
    let stopped = sweep_rounds(endpoints, &mut sweep, &bar, days, concurrency)
        .await
        .err();
    bar.finish_and_clear();
    let summary = sweep.summary(stopped.as_ref());
    emit(format, &summary, show_summary)?;
    if let Some(e) = stopped {
        return Err(e);
    }
    if summary.failed > 0 {
        bail!(
            "{} client(s) could not be re-provisioned; run the command again to retry them",
            summary.failed
        );
    }
    Ok(())
}

async fn sweep_rounds(
    endpoints: &Endpoints,
    sweep: &mut Sweep,
    bar: &ProgressBar,
    days: u32,
    concurrency: usize,
) -> Result<()> {
    let mut cursor = String::new();
    loop {
        let page = list(
            endpoints,
            ListClientsRequest {
                state: mrouter_proto::v1::ClientState::Invalidated.into(),
                limit: SWEEP_PAGE,
                page_token: std::mem::take(&mut cursor),
                ..Default::default()
            },
        )
        .await?;
        let ids = match sweep.next(&page)? {
            Next::Finished => return Ok(()),
            Next::Continue(token) => {
                cursor = token;
                continue;
            }
            Next::Reprovision(ids) => ids,
        };
        // More may have been invalidated than counted (or the count was stale).
        let needed = bar.position() + ids.len() as u64;
        if bar.length().is_some_and(|len| len < needed) {
            bar.set_length(needed);
        }
        let batch = ids.len();
        let mut results = stream::iter(ids)
            .map(|id| async move {
                let result = reprovision(endpoints, &id, days).await;
                (id, result)
            })
            .buffer_unordered(concurrency);
        let mut succeeded = 0;
        let mut first_error = None;
        while let Some((id, result)) = results.next().await {
            bar.inc(1);
            match result {
                Ok(reply) => {
                    bar.suspend(|| warn(&reply.warnings));
                    sweep.record(id, Ok(()));
                    succeeded += 1;
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("{id}: {e:#}"));
                    sweep.record(id, Err(e));
                }
            }
        }
        check_batch(succeeded, batch, first_error.as_deref())?;
    }
}

/// A progress bar on standard error; indicatif draws nothing when it is not
/// a terminal.
fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{bar:40} {pos}/{len} clients re-provisioned ({per_sec}, about {eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// `reprovision --all-invalidated` without I/O: given the pages of
/// invalidated clients the cluster lists, it says what to do next and keeps
/// the tally. A client that failed is not retried in the same run, so every
/// round makes progress and the run ends.
#[derive(Debug, Default)]
struct Sweep {
    done: HashSet<String>,
    failed: HashSet<String>,
    /// The first failures, quoted in the summary.
    errors: Vec<FailedClient>,
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Re-provision these, then list from the start again.
    Reprovision(Vec<String>),
    /// Everything on the page failed earlier in this run: look past it.
    Continue(String),
    /// No invalidated client is left that this run has not tried.
    Finished,
}

impl Sweep {
    fn next(&self, page: &ListClientsReply) -> Result<Next> {
        let mut todo = Vec::new();
        for c in &page.clients {
            if self.done.contains(&c.id) {
                // Re-provisioned clients are current unless the CA changed since.
                bail!(
                    "client {} is invalidated again after this run re-provisioned it: the certificate authority was replaced meanwhile; run the command again",
                    c.id
                );
            }
            if !self.failed.contains(&c.id) {
                todo.push(c.id.clone());
            }
        }
        Ok(if !todo.is_empty() {
            Next::Reprovision(todo)
        } else if page.next_page_token.is_empty() {
            Next::Finished
        } else {
            Next::Continue(page.next_page_token.clone())
        })
    }

    fn record(&mut self, id: String, result: Result<()>) {
        match result {
            Ok(()) => {
                self.done.insert(id);
            }
            Err(e) => {
                if self.errors.len() < QUOTED_ERRORS {
                    self.errors.push(FailedClient {
                        id: id.clone(),
                        error: format!("{e:#}"),
                    });
                }
                self.failed.insert(id);
            }
        }
    }

    fn summary(&self, stopped: Option<&anyhow::Error>) -> SweepSummary {
        SweepSummary {
            reprovisioned: self.done.len() as u64,
            failed: self.failed.len() as u64,
            errors: self.errors.clone(),
            stopped: stopped.map(|e| format!("{e:#}")),
        }
    }
}

/// A batch in which every client failed stops the run: the cause (no CA,
/// lost quorum, …) most likely holds for the rest as well.
fn check_batch(succeeded: usize, batch: usize, first_error: Option<&str>) -> Result<()> {
    if batch > 0 && succeeded == 0 {
        let example = first_error.map_or_else(String::new, |e| format!(" (first: {e})"));
        bail!("all {batch} re-provisionings of a page failed; stopping{example}");
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct FailedClient {
    id: String,
    error: String,
}

/// What `reprovision --all-invalidated` prints at the end.
#[derive(Debug, Serialize)]
struct SweepSummary {
    reprovisioned: u64,
    failed: u64,
    /// The first failures.
    errors: Vec<FailedClient>,
    /// Why the run ended before every client was tried.
    stopped: Option<String>,
}

fn show_summary(s: &SweepSummary) {
    if s.reprovisioned == 0 && s.failed == 0 && s.stopped.is_none() {
        println!("no invalidated clients: nothing to re-provision");
        return;
    }
    println!(
        "re-provisioned {} client(s); {} failed",
        s.reprovisioned, s.failed
    );
    for f in &s.errors {
        println!("  {}: {}", f.id, f.error);
    }
    let unquoted = s.failed.saturating_sub(s.errors.len() as u64);
    if unquoted > 0 {
        println!("  … and {unquoted} more");
    }
}

#[cfg(test)]
mod tests;
