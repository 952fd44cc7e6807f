//! Conversions between the certificate store's types and `mrouter.v1`
//! messages. Private keys never appear in a view.

use mrouter_proto::v1 as pb;

use super::names::value_of;
use crate::certstore::{ImpactReport, SlotView};
use crate::domain::{CaRecord, CertState, CertSummary, Origin, SlotCert, Subject};
use crate::pki;

/// Subject fields from a request; defaults and validation happen later.
pub fn subject(fields: Option<pb::SubjectFields>) -> Subject {
    let pb::SubjectFields {
        country,
        state,
        locality,
        organization,
        organizational_unit,
        common_name,
    } = fields.unwrap_or_default();
    let opt = |s: String| (!s.trim().is_empty()).then_some(s);
    Subject {
        country,
        state: opt(state),
        locality: opt(locality),
        organization: opt(organization),
        organizational_unit: opt(organizational_unit),
        common_name,
    }
}

fn info(
    summary: &CertSummary,
    origin: Origin,
    state: &str,
    ca_epoch: Option<u64>,
    installed_at_ms: u64,
    chain: &[Vec<u8>],
) -> pb::CertificateInfo {
    let now = crate::clock::now_s();
    pb::CertificateInfo {
        subject: summary.subject.clone(),
        common_name: summary.common_name.clone().unwrap_or_default(),
        issuer: summary.issuer.clone(),
        serial: summary.serial.clone(),
        not_before: summary.not_before,
        not_after: summary.not_after,
        days_left: (summary.not_after - now).div_euclid(86_400),
        sans: summary.sans.iter().map(|s| s.to_string()).collect(),
        key_type: summary.key_type.clone(),
        fingerprint_sha256: summary.fingerprint_sha256.clone(),
        origin: value_of::<pb::CertOrigin>(&origin.to_string()),
        state: value_of::<pb::CertState>(state),
        is_ca: summary.is_ca,
        ca_epoch: ca_epoch.unwrap_or(0),
        installed_at_ms,
        chain: chain
            .iter()
            .map(|der| {
                pki::inspect(der)
                    .map(|s| s.subject)
                    .unwrap_or_else(|_| "(unparsable certificate)".into())
            })
            .collect(),
    }
}

pub fn ca_info(ca: &CaRecord) -> pb::CertificateInfo {
    info(
        &ca.cert.summary,
        ca.cert.origin,
        "ca",
        Some(ca.epoch),
        ca.installed_at_ms,
        &ca.cert.chain_der,
    )
}

fn slot_cert_info(cert: &SlotCert, state: CertState) -> pb::CertificateInfo {
    info(
        &cert.cert.summary,
        cert.cert.origin,
        &state.to_string(),
        cert.ca_epoch,
        cert.installed_at_ms,
        &cert.cert.chain_der,
    )
}

pub fn impact(report: &ImpactReport) -> pb::CaImpact {
    pb::CaImpact {
        current_epoch: report.current_epoch,
        clients_invalidated: report.clients_invalidated,
        router_certificates_signed: report.router_certificates_signed.clone(),
    }
}

pub fn slot_view(view: &SlotView) -> pb::SlotView {
    let r = &view.record;
    pb::SlotView {
        slot: view.slot.kind.to_string(),
        node_id: view.slot.node.unwrap_or(0),
        active: r
            .active
            .as_ref()
            .map(|c| slot_cert_info(c, CertState::Active)),
        pending: r
            .pending
            .as_ref()
            .map(|c| slot_cert_info(c, CertState::Pending)),
        csr: r.csr.as_ref().map(|c| pb::CsrInfo {
            subject: c.subject.clone(),
            sans: c.sans.iter().map(|s| s.to_string()).collect(),
            key_type: c.key_type.clone(),
            created_at_ms: c.created_at_ms,
            pem: pki::to_pem("CERTIFICATE REQUEST", &c.csr_der),
        }),
        last_generated_ms: r.last_generated_ms.unwrap_or(0),
        default_sans: view.default_sans.iter().map(|s| s.to_string()).collect(),
    }
}
