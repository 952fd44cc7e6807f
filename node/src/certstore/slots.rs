//! The four router certificate slots: generate (signed by the cluster CA),
//! CSR, import, activate, show, list and export.

use zeroize::Zeroizing;

use super::{blocking, CertStore, CertStoreError};
use crate::clock::{now_ms, now_s};
use crate::domain::{
    default_sans, import_warnings, pending_note, CertRequest, CertState, Command, DomainError,
    KeySpec, Origin, PreparedCert, Reply, RequestKey, San, SealedCert, Settings, SlotCert, SlotCsr,
    SlotId, SlotKind, SlotRecord, ROUTER_VALIDITY,
};
use crate::pki::{self, Bundle, PrivateKey};
use crate::raft::Consistency;

/// The choices for a generated certificate or CSR.
#[derive(Clone, Debug, Default)]
pub struct CertOptions {
    pub request: CertRequest,
    /// Blank: rsa2048.
    pub key_type: String,
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
        let PreparedCert {
            subject,
            sans,
            mut warnings,
        } = self.prepare(slot, opts.request, &settings)?;
        let spec = KeySpec::parse_or(&opts.key_type, KeySpec::Rsa2048)?;
        let now = now_s();
        let window = ROUTER_VALIDITY.window(opts.validity_days, now)?;
        let ca = self
            .ca_view(Consistency::Linearizable)
            .await?
            .ca
            .ok_or(DomainError::NoCa)?;
        let (window, warning) = window.within_ca(ca.cert.summary.not_after, now)?;
        warnings.extend(warning);
        let ca_key = self.open_sealed(&ca.cert)?;
        let ca_cert = ca.cert.der.clone();
        let (cert, key) = blocking(move || {
            let key = PrivateKey::generate(spec)?;
            let cert = pki::sign_server_cert(
                &ca_cert,
                &ca_key,
                &subject,
                &sans,
                &key,
                window.not_before,
                window.not_after,
                &pki::random_serial(),
            )?;
            Ok((cert, key))
        })
        .await?;
        let summary = pki::inspect(&cert)?;
        let slot_cert = SlotCert {
            cert: SealedCert {
                sealed_key: self.seal_key(&key)?,
                der: cert,
                chain_der: ca.cert.chain_with_leaf().map(<[u8]>::to_vec).collect(),
                summary,
                origin: Origin::Generated,
            },
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
        let PreparedCert {
            subject,
            sans,
            warnings,
        } = self.prepare(slot, opts.request, &settings)?;
        let spec = KeySpec::parse_or(&opts.key_type, KeySpec::Rsa2048)?;
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
        let ca_cert = ca.as_ref().map(|c| c.cert.der.clone());
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
        warnings.extend(import_warnings(slot, &import.summary, &defaults, &settings));
        let spki = import.key.spki_sha256();
        let from_csr = record
            .csr
            .as_ref()
            .filter(|c| c.spki_sha256 == spki)
            .map(|c| c.spki_sha256.clone());
        let slot_cert = SlotCert {
            cert: SealedCert {
                sealed_key: self.seal_key(&import.key)?,
                der: import.leaf,
                chain_der: import.chain,
                summary: import.summary,
                origin: Origin::Imported,
            },
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
        self.export_pem(&cert.cert, include_key)
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

    /// The subject and SANs of a new certificate or CSR for `slot`.
    fn prepare(
        &self,
        slot: SlotId,
        request: CertRequest,
        settings: &Settings,
    ) -> Result<PreparedCert, CertStoreError> {
        let defaults = self.default_sans(slot, settings);
        Ok(request.prepare(slot, settings, &defaults)?)
    }

    /// The names a certificate for `slot` gets unless told otherwise, from
    /// the address its node has as a member.
    pub fn default_sans(&self, slot: SlotId, settings: &Settings) -> Vec<San> {
        let member = slot
            .node
            .and_then(|id| self.replica.membership().into_iter().find(|m| m.id == id));
        default_sans(slot, settings, member.as_ref().map(|m| m.addr.as_str()))
    }
}
