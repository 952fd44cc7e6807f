//! The four router certificate slots: generate (signed by the cluster CA),
//! CSR, import, activate, show, list and export.

use std::net::{IpAddr, SocketAddr};

use zeroize::Zeroizing;

use super::{blocking, key_spec, validity, CertStore, CertStoreError};
use crate::clock::{now_ms, now_s};
use crate::domain::{
    virtual_names, CertState, Command, DomainError, Origin, Reply, RequestKey, San, Settings,
    SlotCert, SlotCsr, SlotId, SlotKind, SlotRecord, Subject,
};
use crate::pki::{self, Bundle, PrivateKey};
use crate::raft::Consistency;

/// The choices for a generated certificate or CSR.
#[derive(Clone, Debug, Default)]
pub struct CertOptions {
    pub subject: Subject,
    pub key_type: String,
    /// Extra names (`dns:…`, `ip:…` or bare).
    pub san_add: Vec<String>,
    /// Default names to leave out.
    pub san_drop: Vec<String>,
    pub no_default_sans: bool,
    pub validity_days: u32,
    pub activate: bool,
}

/// A slot as reads return it.
#[derive(Clone, Debug)]
pub struct SlotView {
    pub slot: SlotId,
    pub record: SlotRecord,
    pub default_sans: Vec<San>,
}

#[derive(Debug)]
pub struct SlotOutcome {
    pub view: SlotView,
    pub warnings: Vec<String>,
    /// Information about an imported chain (the root clients must trust).
    pub notes: Vec<String>,
    pub log_index: u64,
}

#[derive(Debug)]
pub struct CsrOutcome {
    pub csr_pem: String,
    pub view: SlotView,
    pub warnings: Vec<String>,
    pub log_index: u64,
}

const CERT_DEFAULT_DAYS: u32 = 825;
const CERT_MAX_DAYS: u32 = 3650;

impl CertStore {
    /// The slot `kind` names; for per-node kinds `node` 0 means this node, and
    /// the node must be a member.
    pub fn resolve_slot(&self, kind: &str, node: u64) -> Result<SlotId, CertStoreError> {
        let kind: SlotKind = kind.parse()?;
        let node = if node == 0 { self.node_id() } else { node };
        let slot = SlotId::new(kind, node);
        if let Some(node) = slot.node {
            if !self.replica.membership().iter().any(|m| m.id == node) {
                return Err(CertStoreError::NotMember { node });
            }
        }
        Ok(slot)
    }

    /// Generates a key and a certificate signed by the cluster CA.
    pub async fn generate_cert(
        &self,
        slot: SlotId,
        opts: CertOptions,
        request_id: Option<RequestKey>,
    ) -> Result<SlotOutcome, CertStoreError> {
        if let Some(done) = self.retried(slot, request_id).await? {
            return Ok(done);
        }
        let settings = self.settings(Consistency::Linearizable).await?;
        let (subject, sans, mut warnings) = self.prepare(slot, &opts, &settings)?;
        let spec = key_spec(&opts.key_type)?;
        let (not_before, not_after) =
            validity(opts.validity_days, CERT_DEFAULT_DAYS, CERT_MAX_DAYS)?;
        let ca = self
            .ca_view(Consistency::Linearizable)
            .await?
            .ca
            .ok_or(DomainError::NoCa)?;
        let not_after = super::within_ca(&ca, not_after, &mut warnings)?;
        let ca_key = self.open_key(&ca.sealed_key, &ca.summary.spki_sha256)?;
        let ca_cert = ca.cert_der.clone();
        let (cert, key) = blocking(move || {
            let key = PrivateKey::generate(spec)?;
            let cert = pki::sign_server_cert(
                &ca_cert,
                &ca_key,
                &subject,
                &sans,
                &key,
                not_before,
                not_after,
                &pki::random_serial(),
            )?;
            Ok((cert, key))
        })
        .await?;
        let summary = pki::inspect(&cert)?;
        let mut chain = vec![ca.cert_der.clone()];
        chain.extend(ca.chain_der.iter().cloned());
        let slot_cert = SlotCert {
            sealed_key: self.seal_key(&key)?,
            cert_der: cert,
            chain_der: chain,
            summary,
            origin: Origin::Generated,
            ca_epoch: Some(ca.epoch),
            installed_at_ms: now_ms(),
        };
        let command = Command::PutSlotCert {
            slot,
            cert: Box::new(slot_cert),
            activate: opts.activate,
            generated: true,
            from_csr: None,
        };
        let (reply, log_index) = self.write(command, request_id).await?;
        if !opts.activate {
            warnings.push(pending_note(slot));
        }
        let view = self.view_after(slot, reply, &settings).await?;
        Ok(SlotOutcome {
            view,
            warnings,
            notes: Vec::new(),
            log_index,
        })
    }

    /// Generates a key and a CSR; the slot keeps both (sealed), replacing any
    /// earlier CSR.
    pub async fn create_csr(
        &self,
        slot: SlotId,
        opts: CertOptions,
        request_id: Option<RequestKey>,
    ) -> Result<CsrOutcome, CertStoreError> {
        if let Some(done) = self.retried(slot, request_id).await? {
            let csr_pem = done
                .view
                .record
                .csr
                .as_ref()
                .map(|c| pki::to_pem("CERTIFICATE REQUEST", &c.csr_der))
                .unwrap_or_default();
            return Ok(CsrOutcome {
                csr_pem,
                view: done.view,
                warnings: done.warnings,
                log_index: done.log_index,
            });
        }
        let settings = self.settings(Consistency::Linearizable).await?;
        let (subject, sans, warnings) = self.prepare(slot, &opts, &settings)?;
        let spec = key_spec(&opts.key_type)?;
        let subject_line = subject.one_line();
        let csr_sans = sans.clone();
        let (csr_der, key) = blocking(move || {
            let key = PrivateKey::generate(spec)?;
            let csr = pki::make_csr(&subject, &csr_sans, &key)?;
            Ok((csr, key))
        })
        .await?;
        let csr = SlotCsr {
            sealed_key: self.seal_key(&key)?,
            csr_der: csr_der.clone(),
            subject: subject_line,
            sans,
            key_type: key.key_type(),
            spki_sha256: key.spki_sha256(),
            created_at_ms: now_ms(),
        };
        let (reply, log_index) = self
            .write(
                Command::PutSlotCsr {
                    slot,
                    csr: Box::new(csr),
                },
                request_id,
            )
            .await?;
        let view = self.view_after(slot, reply, &settings).await?;
        // On a retried request the stored CSR is the one to report.
        let csr_pem = view
            .record
            .csr
            .as_ref()
            .map(|c| pki::to_pem("CERTIFICATE REQUEST", &c.csr_der))
            .unwrap_or_else(|| pki::to_pem("CERTIFICATE REQUEST", &csr_der));
        Ok(CsrOutcome {
            csr_pem,
            view,
            warnings,
            log_index,
        })
    }

    /// Imports a certificate from one or more files (PEM, DER, PKCS#12).
    pub async fn import_cert(
        &self,
        slot: SlotId,
        files: Vec<Vec<u8>>,
        password: Option<Zeroizing<String>>,
        activate: bool,
        request_id: Option<RequestKey>,
    ) -> Result<SlotOutcome, CertStoreError> {
        if let Some(done) = self.retried(slot, request_id).await? {
            return Ok(done);
        }
        let settings = self.settings(Consistency::Linearizable).await?;
        let record = self.slot(slot, Consistency::Linearizable).await?;
        let ca = self.ca_view(Consistency::Linearizable).await?.ca;
        let csr_key = match &record.csr {
            Some(csr) => Some(self.open_key(&csr.sealed_key, &csr.spki_sha256)?),
            None => None,
        };
        let ca_cert = ca.as_ref().map(|c| c.cert_der.clone());
        let import = blocking(move || {
            let mut bundle = Bundle::default();
            for file in &files {
                let part = pki::read_bundle(file, password.as_deref().map(|p| p.as_str()))?;
                bundle.certs.extend(part.certs);
                bundle.keys.extend(part.keys);
            }
            Ok(pki::check_server_import(
                bundle,
                csr_key.as_ref(),
                ca_cert.as_deref(),
                now_s(),
            )?)
        })
        .await?;
        let mut warnings = import.warnings.clone();
        let notes = import.notes.clone();
        let defaults = self.default_sans(slot, &settings);
        let wanted: Vec<String> = defaults.iter().map(san_text).collect();
        let missing = import.summary.missing_names(&wanted);
        if !missing.is_empty() {
            warnings.push(format!(
                "the certificate does not name {} which the {slot} slot serves: clients reaching it by those names will refuse it",
                missing.join(", ")
            ));
        }
        if let Some(w) = cn_warning(slot, import.summary.common_name.as_deref(), &settings) {
            warnings.push(w);
        }
        let spki = import.key.spki_sha256();
        let from_csr = record
            .csr
            .as_ref()
            .filter(|c| c.spki_sha256 == spki)
            .map(|c| c.spki_sha256.clone());
        let slot_cert = SlotCert {
            sealed_key: self.seal_key(&import.key)?,
            cert_der: import.leaf,
            chain_der: import.chain,
            summary: import.summary,
            origin: Origin::Imported,
            ca_epoch: ca
                .as_ref()
                .filter(|_| import.signed_by_cluster_ca)
                .map(|c| c.epoch),
            installed_at_ms: now_ms(),
        };
        let command = Command::PutSlotCert {
            slot,
            cert: Box::new(slot_cert),
            activate,
            generated: false,
            from_csr,
        };
        let (reply, log_index) = self.write(command, request_id).await?;
        if !activate {
            warnings.push(pending_note(slot));
        }
        let view = self.view_after(slot, reply, &settings).await?;
        Ok(SlotOutcome {
            view,
            warnings,
            notes,
            log_index,
        })
    }

    /// Makes the pending certificate active on every node.
    pub async fn activate(
        &self,
        slot: SlotId,
        request_id: Option<RequestKey>,
    ) -> Result<SlotOutcome, CertStoreError> {
        let settings = self.settings(Consistency::Linearizable).await?;
        let (reply, log_index) = self
            .write(Command::ActivateSlot { slot }, request_id)
            .await?;
        let view = self.view_after(slot, reply, &settings).await?;
        Ok(SlotOutcome {
            view,
            warnings: Vec::new(),
            notes: Vec::new(),
            log_index,
        })
    }

    pub async fn show_slot(
        &self,
        slot: SlotId,
        consistency: Consistency,
    ) -> Result<SlotView, CertStoreError> {
        let settings = self.settings(consistency).await?;
        let record = self.slot(slot, consistency).await?;
        Ok(SlotView {
            slot,
            default_sans: self.default_sans(slot, &settings),
            record,
        })
    }

    /// Every slot of every member, then the virtual ones.
    pub async fn list_slots(
        &self,
        consistency: Consistency,
    ) -> Result<Vec<SlotView>, CertStoreError> {
        let settings = self.settings(consistency).await?;
        let slots = self.slots(self.all_slots(), consistency).await?;
        Ok(slots
            .into_iter()
            .map(|(slot, record)| SlotView {
                slot,
                default_sans: self.default_sans(slot, &settings),
                record,
            })
            .collect())
    }

    /// The slot's certificate and chain as PEM; the key only when asked.
    pub async fn export_cert(
        &self,
        slot: SlotId,
        state: CertState,
        include_key: bool,
    ) -> Result<Zeroizing<String>, CertStoreError> {
        let record = self.slot(slot, Consistency::Linearizable).await?;
        let cert = record
            .cert(state)
            .ok_or_else(|| CertStoreError::NoCertificate {
                slot: slot.to_string(),
                state: state.to_string(),
            })?;
        let mut pem = Zeroizing::new(pki::to_pem("CERTIFICATE", &cert.cert_der));
        for c in &cert.chain_der {
            pem.push_str(&pki::to_pem("CERTIFICATE", c));
        }
        if include_key {
            let key = self.open_key(&cert.sealed_key, &cert.summary.spki_sha256)?;
            pem.push_str(&key.to_pem());
        }
        Ok(pem)
    }

    /// For a retried request that was applied before: the slot as it is now.
    async fn retried(
        &self,
        slot: SlotId,
        request_id: Option<RequestKey>,
    ) -> Result<Option<SlotOutcome>, CertStoreError> {
        let Some(log_index) = self.applied_before(request_id).await? else {
            return Ok(None);
        };
        let view = self.show_slot(slot, Consistency::Linearizable).await?;
        Ok(Some(SlotOutcome {
            view,
            warnings: vec![format!(
                "this request was applied before (log index {log_index}); showing the slot as it is now"
            )],
            notes: Vec::new(),
            log_index,
        }))
    }

    async fn slot(
        &self,
        slot: SlotId,
        consistency: Consistency,
    ) -> Result<SlotRecord, CertStoreError> {
        Ok(self
            .slots(vec![slot], consistency)
            .await?
            .pop()
            .map(|(_, r)| r)
            .unwrap_or_default())
    }

    /// The slot after a write; a retried request re-reads it.
    async fn view_after(
        &self,
        slot: SlotId,
        reply: Reply,
        settings: &Settings,
    ) -> Result<SlotView, CertStoreError> {
        let record = match reply {
            Reply::Slot(record) => *record,
            _ => self.slot(slot, Consistency::Linearizable).await?,
        };
        Ok(SlotView {
            slot,
            default_sans: self.default_sans(slot, settings),
            record,
        })
    }

    /// Validates the subject and works out the SAN list for a new
    /// certificate or CSR; returns warnings to show.
    fn prepare(
        &self,
        slot: SlotId,
        opts: &CertOptions,
        settings: &Settings,
    ) -> Result<(Subject, Vec<San>, Vec<String>), CertStoreError> {
        let mut subject = opts.subject.clone();
        if subject.country.trim().is_empty() {
            subject.country = "US".into();
        }
        let (subject, mut warnings) = subject.validate()?;
        let defaults = self.default_sans(slot, settings);
        let mut drops = Vec::new();
        for d in &opts.san_drop {
            let san = San::parse(d)?;
            if !defaults.contains(&san) {
                return Err(DomainError::InvalidSan {
                    value: d.clone(),
                    reason: format!(
                        "it is not one of the default names ({}), so there is nothing to drop",
                        list(&defaults)
                    ),
                }
                .into());
            }
            drops.push(san);
        }
        let mut sans: Vec<San> = if opts.no_default_sans {
            Vec::new()
        } else {
            defaults
                .into_iter()
                .filter(|s| !drops.contains(s))
                .collect()
        };
        for a in &opts.san_add {
            let san = San::parse(a)?;
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        // The CN names the router: an FQDN, host name or IP address. Clients
        // match names against the SANs only, so it is one of them too (listed
        // even when a wildcard covers it, as people look for it).
        let cn = San::parse(&subject.common_name).map_err(|e| {
            let reason = match e {
                DomainError::InvalidSan { reason, .. } => reason,
                other => other.to_string(),
            };
            DomainError::InvalidSubjectField {
                field: "common_name".into(),
                reason: format!(
                    "{:?} is not an FQDN, host name or IP address: {reason}",
                    subject.common_name
                ),
            }
        })?;
        if !sans.contains(&cn) {
            sans.insert(0, cn);
        }
        if sans.is_empty() {
            return Err(CertStoreError::NoSans);
        }
        if let Some(w) = cn_warning(slot, Some(&subject.common_name), settings) {
            warnings.push(w);
        }
        Ok((subject, sans, warnings))
    }

    /// The names a certificate for `slot` gets unless told otherwise.
    pub fn default_sans(&self, slot: SlotId, settings: &Settings) -> Vec<San> {
        let mut out = Vec::new();
        let node_host = slot.node.and_then(|id| {
            self.replica
                .membership()
                .into_iter()
                .find(|m| m.id == id)
                .and_then(|m| host_san(&m.addr))
        });
        let fqdn = settings
            .remote_access_fqdn
            .as_deref()
            .and_then(|f| San::dns(f).ok());
        match slot.kind {
            SlotKind::Local => out.extend(node_host),
            SlotKind::Remote => {
                out.extend(fqdn);
                out.extend(node_host);
            }
            SlotKind::LocalVirtual | SlotKind::RemoteVirtual => {
                for name in virtual_names(settings) {
                    out.extend(San::parse(&name).ok());
                }
                if slot.kind == SlotKind::RemoteVirtual {
                    out.extend(fqdn);
                }
            }
        }
        let mut unique = Vec::new();
        for s in out {
            if !unique.contains(&s) {
                unique.push(s);
            }
        }
        unique
    }
}

/// The source document's warning when a remote certificate's CN is not the
/// remote access FQDN.
fn cn_warning(slot: SlotId, cn: Option<&str>, settings: &Settings) -> Option<String> {
    let fqdn = settings.remote_access_fqdn.as_deref()?;
    if !slot.kind.is_remote() {
        return None;
    }
    let cn = cn.unwrap_or("");
    (!cn.eq_ignore_ascii_case(fqdn)).then(|| {
        format!("certificate subject CN {cn} does not match remote access configuration {fqdn}")
    })
}

fn pending_note(slot: SlotId) -> String {
    let node = slot
        .node
        .map(|n| format!(" --node {n}"))
        .unwrap_or_default();
    format!(
        "the new certificate is pending: activate it with mrctl cert activate --slot {}{node}",
        slot.kind
    )
}

/// A SAN for the host part of `host:port`.
fn host_san(addr: &str) -> Option<San> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Some(San::Ip(sa.ip()));
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(San::Ip(ip)),
        Err(_) => San::dns(host).ok(),
    }
}

/// A SAN as the bare name or address it stands for.
pub fn san_text(san: &San) -> String {
    match san {
        San::Dns(d) => d.clone(),
        San::Ip(ip) => ip.to_string(),
    }
}

fn list(sans: &[San]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter().map(san_text).collect::<Vec<_>>().join(", ")
}
