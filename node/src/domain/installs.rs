//! Apply rules for the certificate store: installing a CA, putting a
//! certificate or CSR in a slot, activating a pending certificate. Everything
//! cryptographic (keys, signatures, parsing) was done by the proposer; these
//! rules only check the request against the state and write records.

use super::authority::{CaRecord, CaView};
use super::command::Reply;
use super::error::DomainError;
use super::key::Key;
use super::sealed_cert::SealedCert;
use super::settings::Settings;
use super::slot::{SlotCert, SlotCsr, SlotId, SlotKind, SlotRecord};
use super::state::{put, read, StateView, Step};

/// The names a virtual slot's certificate must cover: the virtual address and
/// the cluster domain (when set).
pub fn virtual_names(settings: &Settings) -> Vec<String> {
    settings
        .virtual_address
        .iter()
        .map(|ip| ip.to_string())
        .chain(settings.cluster_domain.iter().cloned())
        .collect()
}

pub(super) fn ca_view<V: StateView>(view: &V) -> Result<CaView, V::Error> {
    let ca: Option<CaRecord> = read(view, Key::Ca)?;
    let clients_current = match &ca {
        Some(ca) => read::<u64, _>(view, Key::ClientCount(ca.epoch))?.unwrap_or(0),
        None => 0,
    };
    Ok(CaView {
        ca,
        clients_current,
    })
}

pub(super) fn install_ca<V: StateView>(
    view: &V,
    ca: &SealedCert,
    replaces_epoch: u64,
    confirmed: bool,
    at_ms: u64,
) -> Result<Step, V::Error> {
    let current = ca_view(view)?;
    let current_epoch = current.ca.as_ref().map_or(0, |c| c.epoch);
    if current_epoch != replaces_epoch {
        return Ok(Err(DomainError::CaChanged {
            expected: replaces_epoch,
            current: current_epoch,
        }));
    }
    if current_epoch > 0 && !confirmed {
        return Ok(Err(DomainError::ConfirmationRequired {
            clients: current.clients_current,
        }));
    }
    let epoch = current_epoch + 1;
    let record = CaRecord {
        epoch,
        cert: ca.clone(),
        installed_at_ms: at_ms,
    };
    Ok(Ok((
        Reply::CaInstalled { epoch },
        vec![put(Key::Ca, &record)],
    )))
}

pub(super) fn put_slot_cert<V: StateView>(
    view: &V,
    slot: SlotId,
    cert: &SlotCert,
    activate: bool,
    generated: bool,
    from_csr: Option<&str>,
    at_ms: u64,
) -> Result<Step, V::Error> {
    if let Some(epoch) = cert.ca_epoch {
        let current = read::<CaRecord, _>(view, Key::Ca)?.map_or(0, |c| c.epoch);
        if current != epoch {
            return Ok(Err(DomainError::CaChanged {
                expected: epoch,
                current,
            }));
        }
    }
    let mut record: SlotRecord = read(view, Key::Slot(slot))?.unwrap_or_default();
    if let Some(spki) = from_csr {
        if record.csr.as_ref().map(|c| c.spki_sha256.as_str()) != Some(spki) {
            return Ok(Err(DomainError::CsrChanged {
                slot: slot.to_string(),
            }));
        }
    }
    if activate {
        if let Err(e) = check_virtual_names(view, slot, cert)? {
            return Ok(Err(e));
        }
        record.active = Some(cert.clone());
        // An older pending certificate would otherwise undo this at the
        // next `cert activate`.
        record.pending = None;
    } else {
        record.pending = Some(cert.clone());
    }
    if generated {
        record.last_generated_ms = Some(at_ms);
    }
    Ok(Ok(slot_changed(slot, record)))
}

pub(super) fn put_slot_csr<V: StateView>(
    view: &V,
    slot: SlotId,
    csr: &SlotCsr,
) -> Result<Step, V::Error> {
    let mut record: SlotRecord = read(view, Key::Slot(slot))?.unwrap_or_default();
    record.csr = Some(csr.clone());
    Ok(Ok(slot_changed(slot, record)))
}

pub(super) fn activate_slot<V: StateView>(view: &V, slot: SlotId) -> Result<Step, V::Error> {
    let mut record: SlotRecord = read(view, Key::Slot(slot))?.unwrap_or_default();
    let Some(pending) = record.pending.take() else {
        return Ok(Err(DomainError::NoPendingCertificate {
            slot: slot.to_string(),
        }));
    };
    if let Err(e) = check_virtual_names(view, slot, &pending)? {
        return Ok(Err(e));
    }
    record.active = Some(pending);
    Ok(Ok(slot_changed(slot, record)))
}

fn slot_changed(slot: SlotId, record: SlotRecord) -> (Reply, Vec<super::state::Change>) {
    let change = put(Key::Slot(slot), &record);
    (Reply::Slot(Box::new(record)), vec![change])
}

/// Warnings for settings that change the virtual names: an active virtual
/// certificate that does not name them all will fail clients that connect by
/// the new names until a new one is installed.
pub(super) fn virtual_cert_warnings<V: StateView>(
    view: &V,
    before: &Settings,
    after: &Settings,
) -> Result<Vec<String>, V::Error> {
    let names = virtual_names(after);
    if names == virtual_names(before) {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    for kind in [SlotKind::LocalVirtual, SlotKind::RemoteVirtual] {
        let slot = SlotId::new(kind, 0);
        let record: Option<SlotRecord> = read(view, Key::Slot(slot))?;
        let Some(active) = record.and_then(|r| r.active) else {
            continue;
        };
        let missing = active.cert.summary.missing_names(&names);
        if !missing.is_empty() {
            warnings.push(format!(
                "the active {kind} certificate does not name {}: clients that connect by that name \
                 will refuse it; generate or import a {kind} certificate that does",
                missing.join(", ")
            ));
        }
    }
    Ok(warnings)
}

/// A virtual slot's certificate must name the virtual address and the cluster
/// domain before it may serve them.
fn check_virtual_names<V: StateView>(
    view: &V,
    slot: SlotId,
    cert: &SlotCert,
) -> Result<Result<(), DomainError>, V::Error> {
    if !slot.kind.is_virtual() {
        return Ok(Ok(()));
    }
    let settings: Settings = read(view, Key::Settings)?.unwrap_or_default();
    if settings.virtual_address.is_none() {
        return Ok(Err(DomainError::NoVirtualAddress {
            slot: slot.to_string(),
        }));
    }
    let missing = cert.cert.summary.missing_names(&virtual_names(&settings));
    if missing.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(DomainError::VirtualNamesMissing {
            slot: slot.to_string(),
            missing,
        }))
    }
}
