//! Generating, importing, showing and exporting the certificate authority.

use zeroize::Zeroizing;

use super::{blocking, CertStore, CertStoreError};
use crate::clock::now_s;
use crate::domain::{
    CaRecord, CaView, CertState, Command, DomainError, KeySpec, Origin, Reply, RequestKey,
    SealedCert, SlotId, SlotKind, Subject, Validity, CA_VALIDITY,
};
use crate::pki::{self, Bundle, PrivateKey};
use crate::raft::Consistency;

/// A new CA's parameters as a person gave them (validated here).
#[derive(Clone, Debug)]
pub struct GenerateCa {
    pub subject: Subject,
    pub key_type: String,
    pub validity_days: u32,
}

/// Where a new CA comes from.
pub enum CaSource {
    Generate(GenerateCa),
    Import {
        bundle: Vec<u8>,
        password: Option<Zeroizing<String>>,
    },
}

/// How to install a CA, whichever its source.
#[derive(Clone, Copy, Debug)]
pub struct InstallCa {
    /// Check the input and report the impact; change nothing.
    pub dry_run: bool,
    /// Required to replace an existing CA.
    pub confirm_invalidate_clients: bool,
    /// The epoch of the CA the caller agreed to replace (refused if it moved).
    pub expected_epoch: Option<u64>,
    pub request_id: Option<RequestKey>,
}

/// What replacing the current CA would invalidate.
#[derive(Clone, Debug, Default)]
pub struct ImpactReport {
    pub current_epoch: u64,
    pub clients_invalidated: u64,
    pub router_certificates_signed: Vec<String>,
}

/// The result of a CA operation.
#[derive(Debug)]
pub struct CaOutcome {
    pub ca: Option<CaRecord>,
    pub warnings: Vec<String>,
    /// Information about an imported chain (the root clients must trust).
    pub notes: Vec<String>,
    pub log_index: u64,
    pub impact: ImpactReport,
    pub dry_run: bool,
}

/// A CA ready to propose: certificate, chain, key and what to tell the caller.
struct PreparedCa {
    cert: Vec<u8>,
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    origin: Origin,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl CertStore {
    /// Generates or imports a CA. A dry run checks the input and reports the
    /// impact without changing anything; replacing needs `confirm`.
    pub async fn install_ca(
        &self,
        source: CaSource,
        how: InstallCa,
    ) -> Result<CaOutcome, CertStoreError> {
        let InstallCa {
            dry_run,
            confirm_invalidate_clients: confirm,
            expected_epoch,
            request_id,
        } = how;
        if !dry_run {
            if let Some(log_index) = self.applied_before(request_id).await? {
                // A retry of an install that went through: report it as done.
                let mut done = self.show_ca(Consistency::Linearizable).await?;
                done.log_index = log_index;
                return Ok(done);
            }
        }
        let view = self.ca_view(Consistency::Linearizable).await?;
        let impact = self.impact(&view).await?;
        let (source, mut warnings, notes) = match source {
            CaSource::Generate(g) => {
                let settings = self.settings(Consistency::Linearizable).await?;
                let (subject, warnings) = g.subject.for_ca(settings.cluster_domain.as_deref())?;
                let spec = KeySpec::parse_or(&g.key_type, KeySpec::Rsa2048)?;
                let window = CA_VALIDITY.window(g.validity_days, now_s())?;
                (
                    Source::Generate(subject, spec, window),
                    warnings,
                    Vec::new(),
                )
            }
            CaSource::Import { bundle, password } => {
                // Parsing and checking are cheap: a dry run reports a bad file too.
                let prepared = blocking(move || {
                    let bundle: Bundle =
                        pki::read_bundle(&bundle, password.as_deref().map(|p| p.as_str()))?;
                    let import = pki::check_ca_import(bundle, now_s())?;
                    Ok(PreparedCa {
                        cert: import.cert,
                        chain: import.chain,
                        key: import.key,
                        origin: Origin::Imported,
                        warnings: import.warnings,
                        notes: import.notes,
                    })
                })
                .await?;
                let (warnings, notes) = (prepared.warnings.clone(), prepared.notes.clone());
                (Source::Ready(Box::new(prepared)), warnings, notes)
            }
        };
        let current_epoch = view.ca.as_ref().map_or(0, |c| c.epoch);
        if let Some(expected) = expected_epoch {
            if expected != current_epoch {
                return Err(DomainError::CaChanged {
                    expected,
                    current: current_epoch,
                }
                .into());
            }
        }
        if dry_run {
            return Ok(CaOutcome {
                ca: view.ca,
                warnings,
                notes,
                log_index: 0,
                impact,
                dry_run: true,
            });
        }
        if current_epoch > 0 && !confirm {
            return Err(DomainError::ConfirmationRequired {
                clients: view.clients_current,
            }
            .into());
        }
        let prepared = match source {
            Source::Ready(p) => *p,
            Source::Generate(subject, spec, window) => {
                blocking(move || {
                    let key = PrivateKey::generate(spec)?;
                    let cert = pki::self_signed_ca(
                        &subject,
                        &key,
                        window.not_before,
                        window.not_after,
                        &pki::random_serial(),
                    )?;
                    Ok(PreparedCa {
                        cert,
                        chain: Vec::new(),
                        key,
                        origin: Origin::Generated,
                        warnings: Vec::new(),
                        notes: Vec::new(),
                    })
                })
                .await?
            }
        };
        let summary = pki::inspect(&prepared.cert)?;
        let new_ca = SealedCert {
            sealed_key: self.seal_key(&prepared.key)?,
            der: prepared.cert,
            chain_der: prepared.chain,
            summary,
            origin: prepared.origin,
        };
        let command = Command::InstallCa {
            ca: Box::new(new_ca),
            replaces_epoch: expected_epoch.unwrap_or(current_epoch),
            confirm_invalidate_clients: confirm,
        };
        let (reply, log_index) = self.write(command, request_id).await?;
        if let Reply::CaInstalled { epoch } = reply {
            if epoch > 1 {
                warnings.push(format!(
                    "the CA was replaced (epoch {epoch}): {} provisioned clients must be re-provisioned",
                    impact.clients_invalidated
                ));
            }
        }
        let view = self.ca_view(Consistency::Linearizable).await?;
        Ok(CaOutcome {
            ca: view.ca,
            warnings,
            notes,
            log_index,
            impact,
            dry_run: false,
        })
    }

    /// The CA and what replacing it would invalidate.
    pub async fn show_ca(&self, consistency: Consistency) -> Result<CaOutcome, CertStoreError> {
        let view = self.ca_view(consistency).await?;
        let impact = self.impact(&view).await?;
        Ok(CaOutcome {
            ca: view.ca,
            warnings: Vec::new(),
            notes: Vec::new(),
            log_index: 0,
            impact,
            dry_run: false,
        })
    }

    /// The CA certificate and chain as PEM, with the key only when asked.
    pub async fn export_ca(&self, include_key: bool) -> Result<Zeroizing<String>, CertStoreError> {
        let view = self.ca_view(Consistency::Linearizable).await?;
        let ca = view.ca.ok_or(DomainError::NoCa)?;
        self.export_pem(&ca.cert, include_key)
    }

    /// Router certificates the current CA signed, and the clients under it.
    async fn impact(&self, view: &CaView) -> Result<ImpactReport, CertStoreError> {
        let Some(ca) = &view.ca else {
            return Ok(ImpactReport::default());
        };
        let mut signed = Vec::new();
        for (slot, record) in self.slots(self.all_slots(), Consistency::Stale).await? {
            for state in [CertState::Active, CertState::Pending] {
                if record
                    .cert(state)
                    .is_some_and(|c| c.ca_epoch == Some(ca.epoch))
                {
                    signed.push(format!("{slot} ({state})"));
                }
            }
        }
        Ok(ImpactReport {
            current_epoch: ca.epoch,
            clients_invalidated: view.clients_current,
            router_certificates_signed: signed,
        })
    }

    /// Every slot of the current members, then the two virtual ones.
    pub(super) fn all_slots(&self) -> Vec<SlotId> {
        let mut slots = Vec::new();
        for m in self.replica.membership() {
            slots.push(SlotId::new(SlotKind::Local, m.id));
            slots.push(SlotId::new(SlotKind::Remote, m.id));
        }
        slots.sort();
        slots.push(SlotId::new(SlotKind::LocalVirtual, 0));
        slots.push(SlotId::new(SlotKind::RemoteVirtual, 0));
        slots
    }
}

enum Source {
    Generate(Subject, KeySpec, Validity),
    Ready(Box<PreparedCa>),
}
