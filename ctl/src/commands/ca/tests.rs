use std::path::PathBuf;

use super::*;

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn cert_and_key_become_one_bundle_cert_first() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(&dir, "ca.crt", CERT.as_bytes());
    let key = write(&dir, "ca.key", KEY.as_bytes());
    let bundle = read_bundle(None, Some(&cert), Some(&key)).unwrap();
    // The certificate lacks a final newline; the key must still start a line.
    assert_eq!(bundle, format!("{CERT}\n{KEY}").into_bytes());
}

#[test]
fn single_file_is_sent_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let p12 = [0x30, 0x82, 0x0a, 0x00, 0xff];
    let file = write(&dir, "ca.p12", &p12);
    assert_eq!(read_bundle(Some(&file), None, None).unwrap(), p12);
}

#[test]
fn binary_file_given_as_cert_or_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(&dir, "ca.crt", CERT.as_bytes());
    let der = write(&dir, "ca.der", &[0x30, 0x82, 0x01, 0x00]);
    let err = read_bundle(None, Some(&cert), Some(&der)).unwrap_err();
    assert!(err.to_string().contains("is not PEM: --key"), "{err}");
    let err = read_bundle(None, Some(&der), Some(&cert)).unwrap_err();
    assert!(err.to_string().contains("is not PEM: --cert"), "{err}");
}

#[test]
fn missing_key_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(&dir, "ca.crt", CERT.as_bytes());
    let missing = dir.path().join("nope.key");
    let err = read_bundle(None, Some(&cert), Some(&missing)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}", missing.display())),
        "{err}"
    );
}

#[test]
fn cert_without_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(&dir, "ca.crt", CERT.as_bytes());
    assert!(read_bundle(None, Some(&cert), None).is_err());
}

#[test]
fn only_an_install_after_a_preview_may_replace() {
    assert!(Step::Preview.dry_run());
    assert!(!Step::Preview.confirm_invalidate_clients());
    assert!(!Step::Install { expected_epoch: 0 }.confirm_invalidate_clients());
    assert!(Step::Install { expected_epoch: 3 }.confirm_invalidate_clients());
    assert!(!Step::Install { expected_epoch: 3 }.dry_run());
    assert_eq!(
        Step::Install { expected_epoch: 3 }.expected_epoch(),
        Some(3)
    );
    assert_eq!(Step::Preview.expected_epoch(), None);
}

#[test]
fn impact_lists_what_breaks() {
    use mrouter_proto::v1::{CaImpact, CertificateInfo};
    let reply = CaReply {
        ca: Some(CertificateInfo {
            subject: "CN=corp.example".into(),
            not_after: 1_748_779_200,
            ..Default::default()
        }),
        impact: Some(CaImpact {
            current_epoch: 2,
            clients_invalidated: 7,
            router_certificates_signed: vec!["local of node 1 (active)".into()],
        }),
        ..Default::default()
    };
    let text = impact_lines(&reply).join("\n");
    assert!(text.contains("CN=corp.example (epoch 2, expires 2025-06-01)"));
    assert!(text.contains("7 client(s)"));
    assert!(text.contains("    local of node 1 (active)"));
    let none = impact_lines(&CaReply::default()).join("\n");
    assert!(none.contains("invalidates nothing"));
}
