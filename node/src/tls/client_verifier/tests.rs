//! Mutual-TLS handshakes in memory against [`ClientVerifier`]: a stub
//! [`ClientSource`] holds the CA and the client records as a node's applied
//! state would, client certificates and records are made the way
//! provisioning makes them ([`pki::sign_client_cert`], [`pki::inspect`]), and
//! every refusal is asserted as the error the server side of the handshake
//! reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig};

use super::*;
use crate::clock::now_s;
use crate::domain::{KeyOrigin, KeySpec, Revocation, San, Subject};
use crate::pki::PrivateKey;
use crate::tls::test_handshake::{self, Refused};

const DAY: i64 = 86_400;
/// The name the listener's certificate is for.
const LISTENER: &str = "router.example.com";

/// The CA and the clients, as this node's applied state holds them.
#[derive(Default)]
struct Stub {
    ca: Mutex<Option<(u64, Vec<u8>)>>,
    clients: Mutex<HashMap<String, ClientRecord>>,
}

impl ClientSource for Stub {
    fn ca(&self) -> Option<(u64, Vec<u8>)> {
        self.ca.lock().unwrap().clone()
    }

    fn client(&self, id: &str) -> Option<ClientRecord> {
        self.clients.lock().unwrap().get(id).cloned()
    }
}

impl Stub {
    fn install_ca(&self, epoch: u64, ca: &Ca) {
        *self.ca.lock().unwrap() = Some((epoch, ca.cert.clone()));
    }

    fn store(&self, record: &ClientRecord) {
        self.clients
            .lock()
            .unwrap()
            .insert(record.id.clone(), record.clone());
    }
}

fn subject(cn: &str) -> Subject {
    Subject {
        country: "US".into(),
        common_name: cn.into(),
        ..Default::default()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn key_der(key: &PrivateKey) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()).into()
}

fn device_key() -> PrivateKey {
    PrivateKey::generate(KeySpec::EcdsaP256).unwrap()
}

/// The validity provisioning gives a client: from now, for 30 days.
fn window() -> (i64, i64) {
    let now = now_s();
    (now - 60, now + 30 * DAY)
}

/// A certificate authority: its certificate and key.
struct Ca {
    cert: Vec<u8>,
    key: PrivateKey,
}

impl Ca {
    fn new(cn: &str) -> Ca {
        Ca::with_key(cn, PrivateKey::generate(KeySpec::EcdsaP256).unwrap())
    }

    /// A CA certificate for `key`, valid from a day ago for ten years.
    fn with_key(cn: &str, key: PrivateKey) -> Ca {
        let now = now_s();
        let cert = pki::self_signed_ca(
            &subject(cn),
            &key,
            now - DAY,
            now + 3650 * DAY,
            &pki::random_serial(),
        )
        .unwrap();
        Ca { cert, key }
    }

    /// The DER distinguished name a certificate request names this CA by.
    fn name(&self) -> Vec<u8> {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.cert).unwrap();
        cert.subject().as_raw().to_vec()
    }

    /// A client provisioned under `epoch` for the device's key, with a new
    /// serial and the usual validity.
    fn provision(&self, epoch: u64, id: &str, device: &PrivateKey) -> ClientRecord {
        self.issue(epoch, id, device, &pki::random_serial(), window())
    }

    /// The record provisioning stores: the certificate signed for the
    /// device's public key and the record built around it, as
    /// `CertStore::sign_client` does.
    fn issue(
        &self,
        epoch: u64,
        id: &str,
        device: &PrivateKey,
        serial: &[u8],
        (not_before, not_after): (i64, i64),
    ) -> ClientRecord {
        let cert_der = pki::sign_client_cert(
            &self.cert,
            &self.key,
            id,
            "alice",
            &device.spki_der(),
            not_before,
            not_after,
            serial,
        )
        .unwrap();
        ClientRecord {
            id: id.into(),
            user: "alice".into(),
            device: None,
            serial: pki::inspect(&cert_der).unwrap().serial,
            cert_der,
            spki_der: device.spki_der(),
            key_type: device.key_type(),
            key_origin: KeyOrigin::Csr,
            ca_epoch: epoch,
            not_before,
            not_after,
            provisioned_at_ms: 0,
            revoked: None,
        }
    }
}

/// A node's listener over the stub state. Its own certificate comes from a
/// CA of its own, so that replacing the client CA leaves the server side
/// alone.
struct Fixture {
    stub: Arc<Stub>,
    /// The client CA, installed at epoch 1.
    ca: Ca,
    verifier: Arc<ClientVerifier>,
    listener_ca: Vec<u8>,
    listener_cert: Vec<u8>,
    listener_key: PrivateKey,
}

impl Fixture {
    fn new() -> Fixture {
        let stub = Arc::new(Stub::default());
        let ca = Ca::new("Client CA");
        stub.install_ca(1, &ca);
        let listener_ca = Ca::new("Listener CA");
        let listener_key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let now = now_s();
        let listener_cert = pki::sign_server_cert(
            &listener_ca.cert,
            &listener_ca.key,
            &subject(LISTENER),
            &[San::Dns(LISTENER.into())],
            &listener_key,
            now - DAY,
            now + 365 * DAY,
            &pki::random_serial(),
        )
        .unwrap();
        Fixture {
            verifier: Arc::new(ClientVerifier::new(stub.clone(), provider())),
            stub,
            ca,
            listener_ca: listener_ca.cert,
            listener_cert,
            listener_key,
        }
    }

    /// The configuration for a connection accepted now, made as
    /// `ListenerTls::config` makes it.
    fn server(&self) -> Arc<ServerConfig> {
        let (_, verifier) = self.verifier.naming_current_ca();
        Arc::new(
            ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(
                    vec![CertificateDer::from(self.listener_cert.clone())],
                    key_der(&self.listener_key),
                )
                .unwrap(),
        )
    }

    /// A client that trusts the listener, before it picks its certificate.
    fn client_builder(
        &self,
    ) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.listener_ca.clone()))
            .unwrap();
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
    }

    /// A handshake presenting `cert_der` with the device's key.
    fn connect(&self, cert_der: &[u8], device: &PrivateKey) -> Result<Vec<u8>, Error> {
        let client = self
            .client_builder()
            .with_client_auth_cert(
                vec![CertificateDer::from(cert_der.to_vec())],
                key_der(device),
            )
            .unwrap();
        handshake(Arc::new(client), self.server())
    }
}

/// Runs a handshake in memory. Returns the certificate the server accepted
/// from the client, or the error the server refused it with.
fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Result<Vec<u8>, Error> {
    match test_handshake::run(client, server, LISTENER) {
        Ok((_, s)) => {
            let presented = s.peer_certificates().expect("a client certificate");
            Ok(presented[0].to_vec())
        }
        Err(Refused::ByServer(e)) => Err(e),
        Err(Refused::ByClient(e)) => panic!("the client refused the listener: {e}"),
    }
}

fn refused(kind: CertificateError) -> Error {
    Error::InvalidCertificate(kind)
}

/// Presents one certificate and records the CA names the server's
/// certificate request sent.
#[derive(Debug)]
struct RecordingHints {
    key: Arc<CertifiedKey>,
    hints: Mutex<Vec<Vec<u8>>>,
}

impl ResolvesClientCert for RecordingHints {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        *self.hints.lock().unwrap() = root_hint_subjects.iter().map(|s| s.to_vec()).collect();
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[test]
fn a_provisioned_client_with_its_current_certificate_gets_in() {
    let f = Fixture::new();
    for (id, spec) in [
        ("phone-p256", KeySpec::EcdsaP256),
        ("phone-p384", KeySpec::EcdsaP384),
        ("phone-rsa", KeySpec::Rsa2048),
    ] {
        let device = PrivateKey::generate(spec).unwrap();
        let record = f.ca.provision(1, id, &device);
        f.stub.store(&record);
        assert_eq!(
            f.connect(&record.cert_der, &device).unwrap(),
            record.cert_der,
            "{id}"
        );
    }
}

#[test]
fn a_revoked_client_is_refused_at_the_next_handshake() {
    let f = Fixture::new();
    let device = device_key();
    let mut record = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&record);
    assert!(f.connect(&record.cert_der, &device).is_ok());

    record.revoked = Some(Revocation {
        at_ms: 1,
        reason: "lost".into(),
        log_index: 7,
    });
    f.stub.store(&record);
    assert_eq!(
        f.connect(&record.cert_der, &device).unwrap_err(),
        refused(CertificateError::Revoked)
    );
}

#[test]
fn a_ca_replacement_refuses_the_certificates_of_the_old_ca() {
    let f = Fixture::new();
    let device = device_key();
    let old = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&old);
    assert!(f.connect(&old.cert_der, &device).is_ok());

    let replacement = Ca::new("Replacement CA");
    f.stub.install_ca(2, &replacement);
    assert_eq!(
        f.connect(&old.cert_der, &device).unwrap_err(),
        refused(CertificateError::UnknownIssuer),
        "the record still names epoch 1 and the certificate chains to the old CA"
    );

    let reprovisioned = replacement.provision(2, "phone-1", &device);
    f.stub.store(&reprovisioned);
    assert_eq!(
        f.connect(&reprovisioned.cert_der, &device).unwrap(),
        reprovisioned.cert_der,
        "re-provisioned under the new CA"
    );
    assert_eq!(
        f.connect(&old.cert_der, &device).unwrap_err(),
        refused(CertificateError::UnknownIssuer)
    );
}

#[test]
fn a_client_of_an_older_epoch_is_refused_even_if_the_new_ca_keeps_the_old_name_and_key() {
    // A renewed CA imported again is a new epoch whose certificate the old
    // client certificates still chain to: only the epoch refuses them.
    let f = Fixture::new();
    let device = device_key();
    let old = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&old);
    assert!(f.connect(&old.cert_der, &device).is_ok());

    let renewed = Ca::with_key("Client CA", f.ca.key.clone());
    assert_ne!(renewed.cert, f.ca.cert);
    f.stub.install_ca(2, &renewed);
    assert_eq!(
        f.connect(&old.cert_der, &device).unwrap_err(),
        refused(CertificateError::ApplicationVerificationFailure)
    );

    let reprovisioned = renewed.provision(2, "phone-1", &device);
    f.stub.store(&reprovisioned);
    assert!(f.connect(&reprovisioned.cert_der, &device).is_ok());
}

#[test]
fn a_superseded_certificate_is_refused_after_reprovisioning() {
    let f = Fixture::new();
    let device = device_key();
    let first = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&first);
    assert!(f.connect(&first.cert_der, &device).is_ok());

    // Re-provisioning signs the same public key again under the same CA.
    let second = f.ca.provision(1, "phone-1", &device);
    assert_ne!(second.serial, first.serial);
    f.stub.store(&second);
    assert_eq!(
        f.connect(&first.cert_der, &device).unwrap_err(),
        refused(CertificateError::ApplicationVerificationFailure)
    );
    assert_eq!(
        f.connect(&second.cert_der, &device).unwrap(),
        second.cert_der
    );
}

#[test]
fn a_certificate_from_another_ca_naming_a_provisioned_client_is_refused() {
    let f = Fixture::new();
    let device = device_key();
    let serial = pki::random_serial();
    let record = f.ca.issue(1, "phone-1", &device, &serial, window());
    f.stub.store(&record);

    // Same client id, key and serial: only the issuer differs. One foreign
    // CA goes by another name; the other takes the real CA's name, so the
    // chain check finds "its" issuer and fails on the signature.
    for (foreign, expected) in [
        (Ca::new("Other CA"), CertificateError::UnknownIssuer),
        (Ca::new("Client CA"), CertificateError::BadSignature),
    ] {
        let forged = foreign.issue(1, "phone-1", &device, &serial, window());
        assert_eq!(
            pki::client_identity(&forged.cert_der).unwrap(),
            ("phone-1".to_string(), record.serial.clone())
        );
        assert_eq!(
            f.connect(&forged.cert_der, &device).unwrap_err(),
            refused(expected)
        );
    }
    assert!(f.connect(&record.cert_der, &device).is_ok());
}

#[test]
fn a_certificate_of_the_current_ca_for_an_unknown_client_is_refused() {
    let f = Fixture::new();
    let device = device_key();
    let known = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&known);
    let unknown = f.ca.provision(1, "phone-2", &device);

    assert_eq!(
        f.connect(&unknown.cert_der, &device).unwrap_err(),
        refused(CertificateError::ApplicationVerificationFailure)
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let f = Fixture::new();
    let device = device_key();
    let now = now_s();
    let record = f.ca.issue(
        1,
        "phone-1",
        &device,
        &pki::random_serial(),
        (now - 2 * DAY, now - DAY),
    );
    f.stub.store(&record);

    let err = f.connect(&record.cert_der, &device).unwrap_err();
    let expired_at = UnixTime::since_unix_epoch(Duration::from_secs((now - DAY) as u64));
    assert!(
        matches!(
            err,
            Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. })
                if not_after == expired_at
        ),
        "{err:?}"
    );
}

#[test]
fn a_record_past_its_not_after_is_refused_while_its_certificate_is_still_valid() {
    // Provisioning stores the certificate's own not-after, so the chain check
    // refuses first in practice; this is the verifier's own check behind it.
    let f = Fixture::new();
    let device = device_key();
    let mut record = f.ca.provision(1, "phone-1", &device);
    record.not_after = now_s() - DAY;
    f.stub.store(&record);

    assert_eq!(
        f.connect(&record.cert_der, &device).unwrap_err(),
        refused(CertificateError::Expired)
    );
}

#[test]
fn without_a_ca_every_client_is_refused() {
    let f = Fixture::new();
    let device = device_key();
    let record = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&record);
    *f.stub.ca.lock().unwrap() = None;

    assert_eq!(
        f.connect(&record.cert_der, &device).unwrap_err(),
        Error::General("no certificate authority is installed".into())
    );
}

#[test]
fn the_certificate_request_names_the_ca_of_the_current_epoch() {
    let f = Fixture::new();
    let device = device_key();
    let connect = |record: &ClientRecord| {
        let key = CertifiedKey::from_der(
            vec![CertificateDer::from(record.cert_der.clone())],
            key_der(&device),
            &provider(),
        )
        .unwrap();
        let resolver = Arc::new(RecordingHints {
            key: Arc::new(key),
            hints: Mutex::new(Vec::new()),
        });
        let client = f
            .client_builder()
            .with_client_cert_resolver(resolver.clone());
        let accepted = handshake(Arc::new(client), f.server());
        let hints = resolver.hints.lock().unwrap().clone();
        (accepted, hints)
    };

    let first = f.ca.provision(1, "phone-1", &device);
    f.stub.store(&first);
    let (accepted, hints) = connect(&first);
    assert_eq!(accepted.unwrap(), first.cert_der);
    assert_eq!(hints, vec![f.ca.name()]);

    let replacement = Ca::new("Replacement CA");
    f.stub.install_ca(2, &replacement);
    let second = replacement.provision(2, "phone-1", &device);
    f.stub.store(&second);
    let (accepted, hints) = connect(&second);
    assert_eq!(accepted.unwrap(), second.cert_der);
    assert_eq!(hints, vec![replacement.name()]);
}
