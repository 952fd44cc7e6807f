//! Mutual TLS for the router's listeners: a client certificate must chain to
//! the *current* CA and belong to a client that, in this node's replicated
//! state, is provisioned under the current epoch, not revoked, not expired,
//! with this very certificate (serial). Checked at every handshake, so a
//! revocation or CA replacement takes effect without a restart.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};

use crate::domain::{CaView, ClientRecord, ClientState, ReadCa, ReadClient};
use crate::pki;
use crate::raft::Replica;

/// Where the verifier reads the CA and clients (this node's applied state).
pub trait ClientSource: Send + Sync {
    fn ca(&self) -> Option<(u64, Vec<u8>)>;
    fn client(&self, id: &str) -> Option<ClientRecord>;
}

impl ClientSource for Replica {
    fn ca(&self) -> Option<(u64, Vec<u8>)> {
        let CaView { ca, .. } = self.ask_local(ReadCa).ok()?;
        ca.map(|c| (c.epoch, c.cert.der))
    }

    fn client(&self, id: &str) -> Option<ClientRecord> {
        self.ask_local(ReadClient(id.to_string())).ok()?.client
    }
}

/// The chain verifier for one CA epoch.
struct ChainVerifier {
    epoch: u64,
    verifier: Arc<dyn ClientCertVerifier>,
}

pub struct ClientVerifier {
    source: Arc<dyn ClientSource>,
    provider: Arc<CryptoProvider>,
    chain: Mutex<Option<ChainVerifier>>,
}

impl fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientVerifier").finish_non_exhaustive()
    }
}

impl ClientVerifier {
    pub fn new(source: Arc<dyn ClientSource>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            source,
            provider,
            chain: Mutex::new(None),
        }
    }

    /// The webpki verifier for the current CA (rebuilt when the epoch moves).
    fn chain_verifier(&self) -> Result<(u64, Arc<dyn ClientCertVerifier>), Error> {
        let (epoch, ca_der) = self
            .source
            .ca()
            .ok_or_else(|| Error::General("no certificate authority is installed".into()))?;
        let mut cached = self.chain.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref().filter(|c| c.epoch == epoch) {
            return Ok((epoch, c.verifier.clone()));
        }
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der))?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| Error::General(format!("client verifier: {e}")))?;
        *cached = Some(ChainVerifier {
            epoch,
            verifier: verifier.clone(),
        });
        Ok((epoch, verifier))
    }
}

impl ClientVerifier {
    /// The current CA epoch (0 without a CA), and this verifier naming that
    /// CA in its certificate request, so clients that pick a certificate by
    /// issuer (browsers, OS key stores) pick ours.
    pub fn naming_current_ca(self: &Arc<Self>) -> (u64, Arc<dyn ClientCertVerifier>) {
        let mut roots = RootCertStore::empty();
        let epoch = match self.source.ca() {
            Some((epoch, der)) => {
                if let Err(e) = roots.add(CertificateDer::from(der)) {
                    tracing::warn!(error = %e, "the CA certificate cannot be named to clients");
                }
                epoch
            }
            None => 0,
        };
        let verifier = NamingCa {
            hints: roots.subjects(),
            inner: self.clone(),
        };
        (epoch, Arc::new(verifier))
    }
}

/// A [`ClientVerifier`] with the CA names its certificate request sends.
#[derive(Debug)]
struct NamingCa {
    inner: Arc<ClientVerifier>,
    hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for NamingCa {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    /// Empty here: [`ClientVerifier::naming_current_ca`] names the CA.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let (epoch, chain) = self.chain_verifier()?;
        chain.verify_client_cert(end_entity, intermediates, now)?;
        let (id, serial) = pki::client_identity(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let record = self.source.client(&id).ok_or_else(|| {
            tracing::info!(client = %id, "handshake refused: client not provisioned");
            Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        })?;
        if record.serial != serial {
            tracing::info!(client = %id, "handshake refused: superseded certificate");
            return Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        match record.state(epoch, now.as_secs() as i64) {
            ClientState::Provisioned => Ok(ClientCertVerified::assertion()),
            ClientState::Revoked => {
                tracing::info!(client = %id, "handshake refused: revoked");
                Err(Error::InvalidCertificate(CertificateError::Revoked))
            }
            ClientState::Expired => Err(Error::InvalidCertificate(CertificateError::Expired)),
            ClientState::Invalidated => {
                tracing::info!(client = %id, "handshake refused: invalidated by a CA replacement");
                Err(Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
