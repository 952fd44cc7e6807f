//! The cluster's "express setup": cluster domain, remote access FQDN, virtual
//! address and mode. Certificates and listeners derive their names from here.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::names::{validate_dns_name, validate_ip};

/// Whether the router runs as one node or as a cluster with a virtual address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    #[default]
    Standalone,
    Clustered,
}

impl FromStr for Mode {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standalone" => Ok(Mode::Standalone),
            "clustered" => Ok(Mode::Clustered),
            other => Err(DomainError::InvalidMode {
                value: other.to_string(),
            }),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Standalone => "standalone",
            Mode::Clustered => "clustered",
        })
    }
}

/// The stored settings record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub cluster_domain: Option<String>,
    pub remote_access_fqdn: Option<String>,
    pub virtual_address: Option<IpAddr>,
    pub mode: Mode,
    /// Incremented by every applied change.
    pub revision: u64,
    pub updated_at_ms: u64,
}

/// A change to some settings: `None` leaves a field alone, `Some("")` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsPatch {
    pub cluster_domain: Option<String>,
    pub remote_access_fqdn: Option<String>,
    pub virtual_address: Option<String>,
    pub mode: Option<String>,
}

impl SettingsPatch {
    /// Validates the patch against the current settings and returns the new
    /// settings and any warnings. Nothing is changed on error.
    pub fn apply_to(
        &self,
        current: &Settings,
        at_ms: u64,
    ) -> Result<(Settings, Vec<String>), DomainError> {
        let mut next = current.clone();
        if let Some(v) = &self.cluster_domain {
            next.cluster_domain = dns_field("cluster_domain", v)?;
        }
        if let Some(v) = &self.remote_access_fqdn {
            next.remote_access_fqdn = dns_field("remote_access_fqdn", v)?;
        }
        if let Some(v) = &self.virtual_address {
            next.virtual_address = if v.is_empty() {
                None
            } else {
                Some(validate_ip(v).map_err(|reason| DomainError::InvalidIp {
                    field: "virtual_address".into(),
                    value: v.clone(),
                    reason,
                })?)
            };
        }
        if let Some(v) = &self.mode {
            next.mode = v.parse()?;
        }
        if next.mode == Mode::Clustered && next.virtual_address.is_none() {
            return Err(DomainError::ClusteredWithoutVirtualAddress);
        }
        let mut warnings = Vec::new();
        if let (Some(fqdn), Some(domain)) = (&next.remote_access_fqdn, &next.cluster_domain) {
            let fqdn = fqdn.to_ascii_lowercase();
            let domain = domain.to_ascii_lowercase();
            if fqdn != domain && !fqdn.ends_with(&format!(".{domain}")) {
                warnings.push(format!(
                    "remote access FQDN {fqdn} is not inside the cluster domain {domain}"
                ));
            }
        }
        next.revision = current.revision + 1;
        next.updated_at_ms = at_ms;
        Ok((next, warnings))
    }
}

fn dns_field(field: &str, value: &str) -> Result<Option<String>, DomainError> {
    if value.is_empty() {
        return Ok(None);
    }
    validate_dns_name(value).map_err(|reason| DomainError::InvalidDnsName {
        field: field.into(),
        value: value.into(),
        reason,
    })?;
    Ok(Some(value.trim_end_matches('.').to_ascii_lowercase()))
}
