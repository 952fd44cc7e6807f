//! Provisioned mobile clients: one record per client id with its certificate,
//! plus index records (by CA epoch, user, expiry, revocation) so that listing
//! any state is a range scan of a page, never a walk of every client.
//!
//! A client's state is derived, not stored: revoked if revoked, invalidated if
//! its CA epoch is older than the current one (replacing the CA writes nothing
//! per client, invariant 4), expired past its not-after, else provisioned.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;

/// How the client's key pair was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOrigin {
    /// The device sent a CSR; its private key never left it.
    Csr,
    /// The service made the key and delivered it once (PKCS#12 or PEM).
    Server,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyOrigin::Csr => "csr",
            KeyOrigin::Server => "server",
        })
    }
}

/// Why and when a client was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at_ms: u64,
    pub reason: String,
    /// Log index of the revocation: orders the CRL and numbers it.
    pub log_index: u64,
}

/// A provisioned client. Holds no private key: a server-made key is handed
/// out once and never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub id: String,
    pub user: String,
    pub device: Option<String>,
    #[serde(with = "super::base64_bytes")]
    pub cert_der: Vec<u8>,
    /// Hex, upper case, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// The client's public key (SubjectPublicKeyInfo DER): re-provisioning
    /// signs it again under the current CA, so the device keeps its key.
    #[serde(with = "super::base64_bytes")]
    pub spki_der: Vec<u8>,
    pub key_type: String,
    pub key_origin: KeyOrigin,
    pub ca_epoch: u64,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub provisioned_at_ms: u64,
    pub revoked: Option<Revocation>,
}

/// The derived state of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientState {
    Provisioned,
    Invalidated,
    Revoked,
    Expired,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Provisioned => "provisioned",
            ClientState::Invalidated => "invalidated",
            ClientState::Revoked => "revoked",
            ClientState::Expired => "expired",
        }
    }
}

impl fmt::Display for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientState {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ClientState::Provisioned,
            ClientState::Invalidated,
            ClientState::Revoked,
            ClientState::Expired,
        ]
        .into_iter()
        .find(|c| c.as_str() == s.trim().to_ascii_lowercase())
        .ok_or_else(|| DomainError::UnknownClientState { value: s.into() })
    }
}

impl ClientRecord {
    /// The state at `now` (Unix seconds) under CA epoch `current_epoch`.
    pub fn state(&self, current_epoch: u64, now: i64) -> ClientState {
        if self.revoked.is_some() {
            ClientState::Revoked
        } else if self.ca_epoch < current_epoch {
            ClientState::Invalidated
        } else if now > self.not_after {
            ClientState::Expired
        } else {
            ClientState::Provisioned
        }
    }
}

/// Which clients a listing wants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFilter {
    pub state: Option<ClientState>,
    pub user: Option<String>,
}

/// One page of a listing; `next` continues it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPage {
    pub clients: Vec<ClientRecord>,
    pub next: Option<Vec<u8>>,
    pub current_epoch: u64,
}

const MAX_ID_LEN: usize = 128;

/// Checks a client id or user name: 1-128 of letters, digits and `._@+-`.
pub fn validate_client_name(field: &str, value: &str) -> Result<(), DomainError> {
    let invalid = |reason: &str| DomainError::InvalidClientField {
        field: field.into(),
        value: value.chars().take(MAX_ID_LEN + 8).collect(),
        reason: reason.into(),
    };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid("it is longer than 128 characters"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._@+-".contains(*c)))
    {
        return Err(invalid(&format!(
            "it contains {c:?}; use letters, digits and . _ @ + -"
        )));
    }
    Ok(())
}

/// Checks a device description: printable, at most 128 characters.
pub fn validate_device(value: &str) -> Result<(), DomainError> {
    if value.chars().count() > MAX_ID_LEN || value.chars().any(super::certificate::is_unsafe_char) {
        return Err(DomainError::InvalidClientField {
            field: "device".into(),
            value: value.chars().take(MAX_ID_LEN).collect(),
            reason:
                "use at most 128 printable characters (no control or bidirectional-text characters)"
                    .into(),
        });
    }
    Ok(())
}
