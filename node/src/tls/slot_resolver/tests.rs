use std::sync::{Arc, Mutex};

use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::*;
use crate::domain::{KeySpec, Origin, San, SealedCert, SlotKind, Subject};
use crate::pki::PrivateKey;
use crate::tls::test_handshake;

struct Stub(Mutex<Option<SlotCert>>);

impl SlotSource for Stub {
    fn active(&self, _slot: SlotId) -> Option<SlotCert> {
        self.0.lock().unwrap().clone()
    }
}

struct Pki {
    seal: Arc<SealKey>,
    ca_cert: Vec<u8>,
    ca_key: PrivateKey,
}

fn subject(cn: &str) -> Subject {
    Subject {
        country: "US".into(),
        common_name: cn.into(),
        ..Default::default()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Pki {
    fn new() -> Pki {
        let ca_key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let ca_cert = pki::self_signed_ca(
            &subject("Test CA"),
            &ca_key,
            0,
            4_000_000_000,
            &pki::random_serial(),
        )
        .unwrap();
        Pki {
            seal: Arc::new(SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap()),
            ca_cert,
            ca_key,
        }
    }

    fn slot_cert(&self, spec: KeySpec) -> SlotCert {
        let key = PrivateKey::generate(spec).unwrap();
        let sans = [San::Dns("n1.example.com".into())];
        let now = 1_700_000_000;
        let der = pki::sign_server_cert(
            &self.ca_cert,
            &self.ca_key,
            &subject("n1.example.com"),
            &sans,
            &key,
            now,
            now + 3650 * 86_400,
            &pki::random_serial(),
        )
        .unwrap();
        SlotCert {
            cert: SealedCert {
                summary: pki::inspect(&der).unwrap(),
                der,
                chain_der: vec![self.ca_cert.clone()],
                sealed_key: pki::seal_private_key(&self.seal, &key).unwrap(),
                origin: Origin::Generated,
            },
            ca_epoch: Some(1),
            installed_at_ms: 0,
        }
    }

    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_cert.clone()))
            .unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

fn server(resolver: Arc<SlotResolver>) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(resolver),
    )
}

/// Runs a handshake in memory; returns the leaf the server presented.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> Result<Vec<u8>, rustls::Error> {
    Ok(presented(client, server)?.swap_remove(0))
}

/// Runs a handshake in memory; returns every certificate the server
/// presented, leaf first.
fn presented(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> Result<Vec<Vec<u8>>, rustls::Error> {
    let (c, _) = test_handshake::run(client, server, "n1.example.com")
        .map_err(test_handshake::Refused::into_error)?;
    Ok(c.peer_certificates()
        .unwrap()
        .iter()
        .map(|c| c.to_vec())
        .collect())
}

#[test]
fn activation_is_served_at_the_next_handshake() {
    let pki = Pki::new();
    let first = pki.slot_cert(KeySpec::EcdsaP256);
    let second = pki.slot_cert(KeySpec::Rsa2048);
    let stub = Arc::new(Stub(Mutex::new(None)));
    let resolver = Arc::new(SlotResolver::new(
        stub.clone(),
        pki.seal.clone(),
        SlotId::new(SlotKind::Local, 1),
    ));
    let server = server(resolver);

    assert!(
        handshake(pki.client(), server.clone()).is_err(),
        "no active certificate: no handshake"
    );
    *stub.0.lock().unwrap() = Some(first.clone());
    assert_eq!(
        handshake(pki.client(), server.clone()).unwrap(),
        first.cert.der
    );
    assert_eq!(
        handshake(pki.client(), server.clone()).unwrap(),
        first.cert.der
    );
    *stub.0.lock().unwrap() = Some(second.clone());
    assert_eq!(handshake(pki.client(), server).unwrap(), second.cert.der);
}

#[test]
fn a_key_sealed_under_another_seal_key_keeps_the_last_good_certificate() {
    let pki = Pki::new();
    let good = pki.slot_cert(KeySpec::EcdsaP256);
    let foreign = Pki::new().slot_cert(KeySpec::EcdsaP256);
    let stub = Arc::new(Stub(Mutex::new(Some(good.clone()))));
    let resolver = SlotResolver::new(
        stub.clone(),
        pki.seal.clone(),
        SlotId::new(SlotKind::Local, 1),
    );
    assert!(resolver.current().is_some());
    *stub.0.lock().unwrap() = Some(foreign);
    let served = resolver.current().expect("the last good certificate");
    assert_eq!(served.cert[0].as_ref(), good.cert.der.as_slice());
}

#[test]
fn the_same_leaf_reimported_with_another_chain_serves_the_new_chain() {
    let pki = Pki::new();
    let first = pki.slot_cert(KeySpec::EcdsaP256);
    let mut fixed = first.clone();
    let other_intermediate = Pki::new().ca_cert;
    fixed.cert.chain_der = vec![other_intermediate.clone(), pki.ca_cert.clone()];
    let stub = Arc::new(Stub(Mutex::new(Some(first.clone()))));
    let resolver = Arc::new(SlotResolver::new(
        stub.clone(),
        pki.seal.clone(),
        SlotId::new(SlotKind::Local, 1),
    ));
    let server = server(resolver);
    assert_eq!(
        presented(pki.client(), server.clone()).unwrap(),
        vec![first.cert.der.clone(), pki.ca_cert.clone()]
    );
    *stub.0.lock().unwrap() = Some(fixed.clone());
    assert_eq!(
        presented(pki.client(), server).unwrap(),
        vec![first.cert.der, other_intermediate, pki.ca_cert.clone()],
        "the chain re-imported with the same leaf is served at the next handshake"
    );
}
