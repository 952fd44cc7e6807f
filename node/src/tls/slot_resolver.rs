//! A rustls certificate resolver for one router certificate slot. Each
//! handshake reads the slot's active certificate from this node's applied
//! state; only when what it serves changed (the leaf's fingerprint or the
//! chain sent with it) is the key unsealed and a new signing key built, so activation takes effect at the next handshake
//! without touching established connections.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::domain::{ReadSlots, SlotCert, SlotId};
use crate::pki::{self, PkiError, SealKey};
use crate::raft::Replica;

/// Where the resolver reads a slot's active certificate.
pub trait SlotSource: Send + Sync {
    fn active(&self, slot: SlotId) -> Option<SlotCert>;
}

impl SlotSource for Replica {
    fn active(&self, slot: SlotId) -> Option<SlotCert> {
        match self.ask_local(ReadSlots(vec![slot])) {
            Ok(mut slots) => slots.pop().and_then(|(_, r)| r.active),
            Err(e) => {
                tracing::warn!(%slot, error = %e, "cannot read the slot for a handshake");
                None
            }
        }
    }
}

/// What a handshake presents: the leaf and the chain sent with it. An
/// operator who re-imports the same leaf with a corrected intermediate
/// changes only the chain, so both are compared.
#[derive(Clone, PartialEq, Eq)]
struct Served {
    fingerprint: String,
    chain_der: Vec<Vec<u8>>,
}

impl Served {
    fn of(cert: &SlotCert) -> Self {
        Self {
            fingerprint: cert.cert.summary.fingerprint_sha256.clone(),
            chain_der: cert.cert.chain_der.clone(),
        }
    }

    fn is(&self, cert: &SlotCert) -> bool {
        self.fingerprint == cert.cert.summary.fingerprint_sha256
            && self.chain_der == cert.cert.chain_der
    }
}

struct Loaded {
    served: Served,
    key: Arc<CertifiedKey>,
}

/// Serves the active certificate of `slot`.
pub struct SlotResolver {
    source: Arc<dyn SlotSource>,
    seal: Arc<SealKey>,
    slot: SlotId,
    loaded: Mutex<Option<Loaded>>,
    /// What last failed to load: not retried (or logged) at every
    /// handshake.
    failed: Mutex<Option<Served>>,
}

impl fmt::Debug for SlotResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotResolver")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl SlotResolver {
    pub fn new(source: Arc<dyn SlotSource>, seal: Arc<SealKey>, slot: SlotId) -> Self {
        Self {
            source,
            seal,
            slot,
            loaded: Mutex::new(None),
            failed: Mutex::new(None),
        }
    }

    /// The certificate and key to present now, if the slot has an active one.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        let active = self.source.active(self.slot)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = loaded.as_ref() {
            if l.served.is(&active) {
                return Some(l.key.clone());
            }
        }
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.as_ref().is_some_and(|f| f.is(&active)) {
            return loaded.as_ref().map(|l| l.key.clone());
        }
        match certified_key(&self.seal, &active) {
            Ok(key) => {
                tracing::info!(
                    slot = %self.slot,
                    serial = %active.cert.summary.serial,
                    chain = active.cert.chain_der.len(),
                    "serving a new certificate"
                );
                *loaded = Some(Loaded {
                    served: Served::of(&active),
                    key: key.clone(),
                });
                Some(key)
            }
            Err(e) => {
                tracing::error!(slot = %self.slot, error = %e, "cannot load the active certificate; serving the last good one");
                *failed = Some(Served::of(&active));
                loaded.as_ref().map(|l| l.key.clone())
            }
        }
    }
}

impl ResolvesServerCert for SlotResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// Leaf, chain and signing key of a slot certificate, ready for rustls.
fn certified_key(seal: &SealKey, cert: &SlotCert) -> Result<Arc<CertifiedKey>, PkiError> {
    let key = pki::open_private_key(seal, &cert.cert.sealed_key, &cert.cert.summary.spki_sha256)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der).map_err(|e| {
        PkiError::InvalidKey {
            what: "the slot's private key".into(),
            reason: e.to_string(),
        }
    })?;
    let chain = cert
        .cert
        .chain_with_leaf()
        .map(|der| CertificateDer::from(der.to_vec()))
        .collect();
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

#[cfg(test)]
mod tests;
