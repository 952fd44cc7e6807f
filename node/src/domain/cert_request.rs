//! The rules that prepare a router certificate or CSR before any key is made:
//! the names a slot's certificate gets by default, a person's additions and
//! removals, the common name among the SANs, and the source document's
//! warnings, also for an imported certificate. Pure: the caller passes the
//! settings and the address of the slot's node.

use std::net::{IpAddr, SocketAddr};

use super::certificate::{CertSummary, San, Subject};
use super::error::DomainError;
use super::installs::virtual_names;
use super::settings::Settings;
use super::slot::{SlotId, SlotKind};

/// Which subject alternative names a person wants besides or instead of the
/// slot's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SanChoice {
    /// Extra names (`dns:…`, `ip:…` or bare).
    pub add: Vec<String>,
    /// Default names to leave out.
    pub drop: Vec<String>,
    /// Leave out every default name.
    pub no_defaults: bool,
}

/// A router certificate or CSR as a person asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertRequest {
    pub subject: Subject,
    pub sans: SanChoice,
}

/// A checked subject and the final SAN list, ready to sign or put in a CSR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedCert {
    pub subject: Subject,
    /// The common name first (unless a default already named it).
    pub sans: Vec<San>,
    pub warnings: Vec<String>,
}

impl CertRequest {
    /// Checks the subject (the country defaults to US) and works out the SANs
    /// for `slot` from its `defaults` (see [`default_sans`]) and the choice.
    pub fn prepare(
        self,
        slot: SlotId,
        settings: &Settings,
        defaults: &[San],
    ) -> Result<PreparedCert, DomainError> {
        let CertRequest { subject, sans } = self;
        let (subject, mut warnings) = subject.for_router()?;
        let mut drops = Vec::new();
        for d in &sans.drop {
            let san = San::parse(d)?;
            if !defaults.contains(&san) {
                return Err(DomainError::InvalidSan {
                    value: d.clone(),
                    reason: format!(
                        "it is not one of the default names ({}), so there is nothing to drop",
                        list(defaults)
                    ),
                });
            }
            drops.push(san);
        }
        let mut names: Vec<San> = if sans.no_defaults {
            Vec::new()
        } else {
            defaults
                .iter()
                .filter(|s| !drops.contains(s))
                .cloned()
                .collect()
        };
        for a in &sans.add {
            let san = San::parse(a)?;
            if !names.contains(&san) {
                names.push(san);
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
        if !names.contains(&cn) {
            names.insert(0, cn);
        }
        warnings.extend(cn_warning(slot, Some(&subject.common_name), settings));
        Ok(PreparedCert {
            subject,
            sans: names,
            warnings,
        })
    }
}

/// The names a certificate for `slot` gets unless told otherwise:
/// - local: its node's host;
/// - remote: the remote access FQDN, then its node's host;
/// - the virtual ones: the virtual address and the cluster domain, and for
///   remote-virtual the remote access FQDN too.
///
/// `node_addr` is the `host:port` of the slot's node when it is a member.
pub fn default_sans(slot: SlotId, settings: &Settings, node_addr: Option<&str>) -> Vec<San> {
    let node_host = node_addr.and_then(host_san);
    let fqdn = settings
        .remote_access_fqdn
        .as_deref()
        .and_then(|f| San::dns(f).ok());
    let mut out = Vec::new();
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

/// A SAN for the host part of `host:port` (or of a bare host).
pub fn host_san(addr: &str) -> Option<San> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Some(San::Ip(sa.ip()));
    }
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Some(San::Ip(ip));
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(San::Ip(ip)),
        Err(_) => San::dns(host).ok(),
    }
}

/// The source document's warning when a remote certificate's CN is not the
/// remote access FQDN (compared without regard to case).
pub fn cn_warning(slot: SlotId, cn: Option<&str>, settings: &Settings) -> Option<String> {
    let fqdn = settings.remote_access_fqdn.as_deref()?;
    if !slot.kind.is_remote() {
        return None;
    }
    let cn = cn.unwrap_or("");
    (!cn.eq_ignore_ascii_case(fqdn)).then(|| {
        format!("certificate subject CN {cn} does not match remote access configuration {fqdn}")
    })
}

/// What to tell a person about a certificate imported into `slot`: the
/// default names it does not cover, and the CN warning.
pub fn import_warnings(
    slot: SlotId,
    summary: &CertSummary,
    defaults: &[San],
    settings: &Settings,
) -> Vec<String> {
    let wanted: Vec<String> = defaults.iter().map(San::bare).collect();
    let missing = summary.missing_names(&wanted);
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        warnings.push(format!(
            "the certificate does not name {} which the {slot} slot serves: clients reaching it by those names will refuse it",
            missing.join(", ")
        ));
    }
    warnings.extend(cn_warning(slot, summary.common_name.as_deref(), settings));
    warnings
}

/// The note after a certificate landed as pending.
pub fn pending_note(slot: SlotId) -> String {
    let node = slot
        .node
        .map(|n| format!(" --node {n}"))
        .unwrap_or_default();
    format!(
        "the new certificate is pending: activate it with mrctl cert activate --slot {}{node}",
        slot.kind
    )
}

fn list(sans: &[San]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter().map(San::bare).collect::<Vec<_>>().join(", ")
}
