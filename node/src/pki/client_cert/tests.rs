use std::process::Command;

use super::*;
use crate::domain::KeySpec;
use crate::pki::{inspect_csr, make_csr, random_serial, self_signed_ca, to_pem};

fn ca() -> (Vec<u8>, PrivateKey) {
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let subject = Subject {
        country: "US".into(),
        common_name: "Client CA".into(),
        ..Default::default()
    };
    let cert = self_signed_ca(&subject, &key, 0, 4_000_000_000, &random_serial()).unwrap();
    (cert, key)
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_client_certificate_from_a_csr_verifies_for_client_auth_with_openssl() {
    let (ca_cert, ca_key) = ca();
    let device_key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let csr = make_csr(
        &Subject {
            country: "US".into(),
            common_name: "phone".into(),
            ..Default::default()
        },
        &[crate::domain::San::Dns("phone.example.com".into())],
        &device_key,
    )
    .unwrap();
    let summary = inspect_csr(&csr).unwrap();
    check_client_key(&summary.key_type).unwrap();
    let now = 1_700_000_000;
    let der = sign_client_cert(
        &ca_cert,
        &ca_key,
        "alice-phone",
        "alice",
        &summary.spki_der,
        now,
        now + 365 * 86_400,
        &random_serial(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&ca_file, to_pem("CERTIFICATE", &ca_cert)).unwrap();
    std::fs::write(&leaf, to_pem("CERTIFICATE", &der)).unwrap();
    let (ok, out) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-attime",
        &(now + 60).to_string(),
        "-CAfile",
        ca_file.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (_, text) = openssl(&["x509", "-noout", "-text", "-in", leaf.to_str().unwrap()]);
    assert!(
        text.contains("URI:urn:mrouter:client:alice-phone"),
        "{text}"
    );
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CN = alice-phone"), "{text}");
}

#[test]
fn weak_or_unknown_client_keys_are_refused() {
    assert!(matches!(
        check_client_key("rsa1024"),
        Err(PkiError::WeakKey { bits: 1024 })
    ));
    assert!(check_client_key("rsa2048").is_ok());
    assert!(check_client_key("ecdsa-p384").is_ok());
    assert!(matches!(
        check_client_key("ed25519"),
        Err(PkiError::UnsupportedKey { .. })
    ));
}

#[test]
fn the_crl_lists_revoked_serials_and_verifies_with_openssl() {
    let (ca_cert, ca_key) = ca();
    let revoked = [
        RevokedSerial {
            serial_hex: "0A1B2C3D4E5F".into(),
            revoked_at: 1_700_000_000,
        },
        RevokedSerial {
            serial_hex: "7F00FF".into(),
            revoked_at: 1_700_000_100,
        },
    ];
    let signer = CaSigner::new(&ca_cert, &ca_key).unwrap();
    let crl = sign_crl(&signer, &revoked, 42, 1_700_000_100, 1_700_604_900).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let crl_file = dir.path().join("crl.pem");
    std::fs::write(&ca_file, to_pem("CERTIFICATE", &ca_cert)).unwrap();
    std::fs::write(&crl_file, to_pem("X509 CRL", &crl)).unwrap();
    let (ok, out) = openssl(&[
        "crl",
        "-noout",
        "-text",
        "-in",
        crl_file.to_str().unwrap(),
        "-CAfile",
        ca_file.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    assert!(
        out.contains("0A1B2C3D4E5F") && out.contains("7F00FF"),
        "{out}"
    );
    assert!(out.contains("42"), "{out}");
}
