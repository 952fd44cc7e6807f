use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::pki::fixtures::{Openssl, OpensslKey, INTERMEDIATE_SUBJECT, LEAF_CN};

#[test]
fn inspect_agrees_with_openssl() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let summary = inspect(&o.der("leaf.pem")).unwrap();
    assert_eq!(summary.subject, format!("CN={LEAF_CN}, O=Interop, C=US"));
    assert_eq!(summary.common_name.as_deref(), Some(LEAF_CN));
    assert_eq!(summary.issuer, INTERMEDIATE_SUBJECT);
    assert_eq!(
        summary.sans,
        vec![
            San::Dns(LEAF_CN.into()),
            San::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        ]
    );
    assert_eq!(summary.key_type, "ecdsa-p256");
    assert!(!summary.is_ca);

    let serial = o.run(&["x509", "-in", "leaf.pem", "-noout", "-serial"]);
    assert_eq!(format!("serial={}", summary.serial), serial.trim());
    let fingerprint = o.run(&[
        "x509",
        "-in",
        "leaf.pem",
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert_eq!(
        fingerprint.trim(),
        format!("sha256 Fingerprint={}", summary.fingerprint_sha256)
    );
    let dates = o.run(&["x509", "-in", "leaf.pem", "-noout", "-enddate"]);
    assert!(dates.starts_with("notAfter="), "{dates}");
    o.run(&[
        "x509", "-in", "leaf.pem", "-noout", "-pubkey", "-out", "pub.pem",
    ]);
    let spki = pem::parse(o.read("pub.pem")).unwrap().into_contents();
    assert_eq!(summary.spki_sha256, sha256_hex(&spki));

    let root = inspect(&o.der("root.pem")).unwrap();
    assert!(root.is_ca);
    assert_eq!(root.subject, root.issuer);
}

#[test]
fn inspect_names_rsa_key_sizes() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
    assert_eq!(inspect(&o.der("leaf.pem")).unwrap().key_type, "rsa2048");
}

#[test]
fn inspect_refuses_what_is_not_a_certificate() {
    let err = inspect(b"\x30\x05hello").unwrap_err();
    assert!(
        matches!(err, PkiError::InvalidCertificate { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not a valid X.509 certificate"),
        "{err}"
    );
}

#[test]
fn serial_hex_drops_the_sign_byte_like_openssl() {
    assert_eq!(serial_hex(&[0x00, 0x9a, 0x01]), "9A01");
    assert_eq!(serial_hex(&[0x10, 0x01]), "1001");
    assert_eq!(serial_hex(&[0x00]), "00");
}
