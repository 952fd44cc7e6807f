use std::net::{IpAddr, Ipv4Addr};

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;

use super::*;
use crate::domain::KeySpec;
use crate::pki::fixtures::{dns, now, subject, Openssl, TestCa, DAY};
use crate::pki::{inspect, inspect_csr, read_bundle, verify_signed_by};

fn sans() -> Vec<San> {
    vec![
        dns("www.example.test"),
        dns("*.apps.example.test"),
        San::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    ]
}

#[test]
fn random_serials_are_positive_16_bytes_and_distinct() {
    let a = random_serial();
    let b = random_serial();
    assert_eq!(a.len(), 16);
    assert_eq!(a[0] & 0x80, 0);
    assert!(a.iter().any(|x| *x != 0));
    assert_ne!(a, b);
}

#[test]
fn ca_and_server_certificates_round_trip_for_each_key_type() {
    let t = now();
    for (ca_spec, leaf_spec) in [
        (KeySpec::Rsa2048, KeySpec::Rsa2048),
        (KeySpec::EcdsaP256, KeySpec::EcdsaP256),
        (KeySpec::EcdsaP384, KeySpec::Rsa3072),
        (KeySpec::Rsa3072, KeySpec::EcdsaP384),
    ] {
        let ca_key = PrivateKey::generate(ca_spec).unwrap();
        let ca_subject = subject("Round Trip CA");
        let ca_serial = random_serial();
        let ca = self_signed_ca(&ca_subject, &ca_key, t - DAY, t + 10 * DAY, &ca_serial).unwrap();
        let ca_summary = inspect(&ca).unwrap();
        assert!(ca_summary.is_ca);
        assert_eq!(ca_summary.subject, "CN=Round Trip CA, O=Test, C=US");
        assert_eq!(ca_summary.subject, ca_subject.one_line());
        assert_eq!(ca_summary.issuer, ca_summary.subject);
        assert_eq!(ca_summary.key_type, ca_spec.as_str());
        assert_eq!(ca_summary.spki_sha256, ca_key.spki_sha256());
        assert_eq!(
            ca_summary.serial,
            hex::encode_upper(&ca_serial[ca_serial.iter().position(|b| *b != 0).unwrap()..])
        );

        let leaf_key = PrivateKey::generate(leaf_spec).unwrap();
        let serial = random_serial();
        let leaf = sign_server_cert(
            &ca,
            &ca_key,
            &subject("www.example.test"),
            &sans(),
            &leaf_key,
            t - 60,
            t + 5 * DAY,
            &serial,
        )
        .unwrap();
        let summary = inspect(&leaf).unwrap();
        assert!(!summary.is_ca);
        assert_eq!(summary.subject, "CN=www.example.test, O=Test, C=US");
        assert_eq!(summary.common_name.as_deref(), Some("www.example.test"));
        assert_eq!(summary.issuer, ca_summary.subject);
        assert_eq!(
            (summary.not_before, summary.not_after),
            (t - 60, t + 5 * DAY)
        );
        assert_eq!(summary.sans, sans());
        assert_eq!(summary.key_type, leaf_spec.as_str());
        assert_eq!(summary.spki_sha256, leaf_key.spki_sha256());
        assert_eq!(summary.fingerprint_sha256.len(), 32 * 3 - 1);
        assert!(summary
            .fingerprint_sha256
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));

        verify_signed_by(&leaf, &ca).unwrap();
        verify_signed_by(&ca, &ca).unwrap();
        let other = TestCa::new("Round Trip CA", KeySpec::EcdsaP256);
        let err = verify_signed_by(&leaf, &other.cert).unwrap_err();
        assert!(matches!(err, PkiError::ChainSignature { .. }), "{err:?}");
    }
}

#[test]
fn rsa_4096_ca_signs_and_inspects() {
    let key = PrivateKey::generate(KeySpec::Rsa4096).unwrap();
    let t = now();
    let ca = self_signed_ca(&subject("Big CA"), &key, t, t + DAY, &random_serial()).unwrap();
    assert_eq!(inspect(&ca).unwrap().key_type, "rsa4096");
    verify_signed_by(&ca, &ca).unwrap();
}

#[test]
fn signature_algorithm_follows_the_signing_key() {
    for (spec, oid) in [
        (KeySpec::Rsa2048, OID_PKCS1_SHA256WITHRSA),
        (KeySpec::EcdsaP256, OID_SIG_ECDSA_WITH_SHA256),
        (KeySpec::EcdsaP384, OID_SIG_ECDSA_WITH_SHA384),
    ] {
        let ca = TestCa::new("Alg CA", spec);
        let parsed = parse_certificate(&ca.cert, "ca").unwrap();
        assert_eq!(parsed.signature_algorithm.algorithm, oid, "{spec}");
        let csr = make_csr(
            &subject("x.example.test"),
            &[dns("x.example.test")],
            &ca.key,
        )
        .unwrap();
        let (_, req) = X509CertificationRequest::from_der(&csr).unwrap();
        assert_eq!(req.signature_algorithm.algorithm, oid, "{spec}");
    }
}

#[test]
fn server_certificate_has_the_required_extensions() {
    let ca = TestCa::new("Ext CA", KeySpec::EcdsaP256);
    let (_, rsa_leaf) = ca.issue("rsa.example.test", KeySpec::Rsa2048);
    let (_, ec_leaf) = ca.issue("ec.example.test", KeySpec::EcdsaP256);
    let ca_parsed = parse_certificate(&ca.cert, "ca").unwrap();
    let ca_ski = ca_parsed
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("the CA must have a subject key identifier");
    let ca_bc = ca_parsed.basic_constraints().unwrap().unwrap();
    assert!(ca_bc.critical && ca_bc.value.ca);
    let ca_ku = ca_parsed.key_usage().unwrap().unwrap();
    assert!(ca_ku.critical && ca_ku.value.key_cert_sign() && ca_ku.value.crl_sign());

    for (der, rsa) in [(&rsa_leaf, true), (&ec_leaf, false)] {
        let cert = parse_certificate(der, "leaf").unwrap();
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(!bc.value.ca);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature());
        assert_eq!(ku.key_encipherment(), rsa);
        assert!(!ku.key_cert_sign());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert!(cert.subject_alternative_name().unwrap().is_some());
        let mut aki = None;
        let mut ski = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
                _ => {}
            }
        }
        assert_eq!(aki.as_deref(), Some(ca_ski.as_slice()));
        assert!(ski.is_some());
    }
}

#[test]
fn bad_issuing_inputs_are_refused() {
    let ca = TestCa::new("Input CA", KeySpec::EcdsaP256);
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let t = now();
    let sign = |sans: &[San], nb: i64, na: i64, serial: &[u8], ca_key: &PrivateKey| {
        sign_server_cert(
            &ca.cert,
            ca_key,
            &subject("a.test"),
            sans,
            &key,
            nb,
            na,
            serial,
        )
    };
    let one = [dns("a.test")];
    let serial = random_serial();
    assert!(matches!(
        sign(&[], t, t + DAY, &serial, &ca.key),
        Err(PkiError::NoSans)
    ));
    assert!(matches!(
        make_csr(&subject("a.test"), &[], &key),
        Err(PkiError::NoSans)
    ));
    assert!(matches!(
        sign(&one, t, t, &serial, &ca.key),
        Err(PkiError::InvalidValidity { .. })
    ));
    for bad in [vec![], vec![0u8; 3], vec![0x80, 1], vec![1u8; 21]] {
        assert!(
            matches!(
                sign(&one, t, t + DAY, &bad, &ca.key),
                Err(PkiError::InvalidSerial { .. })
            ),
            "{bad:?}"
        );
    }
    let err = sign(&one, t, t + DAY, &serial, &key).unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMismatch { .. }), "{err:?}");
    assert!(!err.is_invalid_input());
}

#[test]
fn openssl_verifies_our_ca_and_server_certificate() {
    let ca = TestCa::new("Verify CA", KeySpec::Rsa2048);
    let (_, leaf) = ca.issue("verify.example.test", KeySpec::EcdsaP256);
    let o = Openssl::new();
    o.write("ca.pem", to_pem("CERTIFICATE", &ca.cert).as_bytes());
    o.write("leaf.pem", to_pem("CERTIFICATE", &leaf).as_bytes());
    let out = o.run(&[
        "verify",
        "-CAfile",
        "ca.pem",
        "-untrusted",
        "ca.pem",
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "verify.example.test",
        "leaf.pem",
    ]);
    assert!(out.contains("leaf.pem: OK"), "{out}");
}

#[test]
fn openssl_verifies_a_chain_through_an_openssl_intermediate_we_sign_with() {
    let o = Openssl::chain(crate::pki::fixtures::OpensslKey::Rsa2048);
    let mut text = o.read("inter.pem");
    text.extend(o.read("inter.key"));
    let bundle = read_bundle(&text, None).unwrap();
    let key = PrivateKey::generate(KeySpec::EcdsaP384).unwrap();
    let t = now();
    let leaf = sign_server_cert(
        &bundle.certs[0],
        &bundle.keys[0],
        &subject("ours.interop.test"),
        &[dns("ours.interop.test")],
        &key,
        t - 60,
        t + DAY,
        &random_serial(),
    )
    .unwrap();
    o.write("ours.pem", to_pem("CERTIFICATE", &leaf).as_bytes());
    let out = o.run(&[
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "-purpose",
        "sslserver",
        "ours.pem",
    ]);
    assert!(out.contains("ours.pem: OK"), "{out}");
}

#[test]
fn openssl_accepts_our_csrs_and_shows_their_sans() {
    for spec in [KeySpec::Rsa2048, KeySpec::EcdsaP256, KeySpec::EcdsaP384] {
        let key = PrivateKey::generate(spec).unwrap();
        let csr = make_csr(&subject("www.example.test"), &sans(), &key).unwrap();
        let o = Openssl::new();
        o.write("csr.pem", to_pem("CERTIFICATE REQUEST", &csr).as_bytes());
        let out = o.try_run(&["req", "-verify", "-noout", "-in", "csr.pem"]);
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("verify OK"), "{spec}: {said}");
        let text = o.run(&["req", "-text", "-noout", "-in", "csr.pem"]);
        assert!(text.contains("DNS:www.example.test"), "{text}");
        assert!(text.contains("DNS:*.apps.example.test"), "{text}");
        assert!(text.contains("IP Address:192.0.2.1"), "{text}");
        assert!(text.contains("CN = www.example.test"), "{text}");

        let summary = inspect_csr(&csr).unwrap();
        assert_eq!(summary.subject, "CN=www.example.test, O=Test, C=US");
        assert_eq!(summary.sans, sans());
        assert_eq!(summary.key_type, spec.as_str());
        assert_eq!(summary.spki_sha256, key.spki_sha256());
    }
}

#[test]
fn a_tampered_csr_fails_its_signature_check() {
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let mut csr = make_csr(&subject("t.example.test"), &[dns("t.example.test")], &key).unwrap();
    let at = csr
        .windows(b"t.example.test".len())
        .position(|w| w == b"t.example.test")
        .unwrap();
    csr[at] = b'u';
    let err = inspect_csr(&csr).unwrap_err();
    assert!(matches!(err, PkiError::CsrSignature), "{err:?}");
    assert!(matches!(
        inspect_csr(b"not a csr"),
        Err(PkiError::InvalidCsr { .. })
    ));
}

#[test]
fn to_pem_uses_the_label_and_round_trips() {
    let text = to_pem("CERTIFICATE", &[1, 2, 3]);
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(text.trim_end().ends_with("-----END CERTIFICATE-----"));
    assert_eq!(pem::parse(&text).unwrap().contents(), &[1, 2, 3]);
}
