use super::*;
use crate::pki::fixtures::{Openssl, OpensslKey};

fn pem_der(text: &[u8]) -> Vec<u8> {
    pem::parse(text).unwrap().into_contents()
}

#[test]
fn generated_keys_round_trip_through_pkcs8_and_pem() {
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::EcdsaP256,
        KeySpec::EcdsaP384,
    ] {
        let key = PrivateKey::generate(spec).unwrap();
        assert_eq!(key.key_type(), spec.as_str());
        assert_eq!(key.is_rsa(), spec.as_str().starts_with("rsa"));

        let again = PrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
        assert_eq!(again.spki_der(), key.spki_der());
        assert_eq!(again.key_type(), spec.as_str());

        let pem_text = key.to_pem();
        assert!(
            pem_text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{spec}"
        );
        let parsed = pem::parse(pem_text.as_bytes()).unwrap();
        assert_eq!(parsed.contents(), key.pkcs8_der());
        assert_eq!(key.spki_sha256().len(), 64);
        assert!(key.key_pair().is_ok());
    }
}

#[test]
fn generated_rsa_4096_key_has_4096_bits() {
    let key = PrivateKey::generate(KeySpec::Rsa4096).unwrap();
    assert_eq!(key.key_type(), "rsa4096");
}

#[test]
fn two_generated_keys_differ() {
    let a = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let b = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    assert_ne!(a.spki_sha256(), b.spki_sha256());
}

#[test]
fn rsa_1024_key_is_refused_as_weak() {
    let o = Openssl::new();
    o.genkey("weak.key", OpensslKey::Rsa1024);
    let err = PrivateKey::from_pkcs8_der(&pem_der(&o.read("weak.key"))).unwrap_err();
    assert!(matches!(err, PkiError::WeakKey { bits: 1024 }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("1024") && text.contains("at least 2048"),
        "{text}"
    );
    assert!(err.is_invalid_input());

    o.run(&[
        "pkey",
        "-in",
        "weak.key",
        "-traditional",
        "-out",
        "weak-pkcs1.key",
    ]);
    let err = PrivateKey::from_pkcs1_der(&pem_der(&o.read("weak-pkcs1.key"))).unwrap_err();
    assert!(matches!(err, PkiError::WeakKey { bits: 1024 }), "{err:?}");
}

#[test]
fn pkcs1_and_sec1_keys_convert_to_pkcs8() {
    let o = Openssl::new();
    o.genkey("rsa.key", OpensslKey::Rsa2048);
    o.genkey("ec.key", OpensslKey::EcP256);
    o.run(&["pkey", "-in", "rsa.key", "-traditional", "-out", "rsa1.key"]);
    o.run(&["ec", "-in", "ec.key", "-out", "sec1.key"]);
    assert!(String::from_utf8_lossy(&o.read("rsa1.key")).contains("BEGIN RSA PRIVATE KEY"));
    assert!(String::from_utf8_lossy(&o.read("sec1.key")).contains("BEGIN EC PRIVATE KEY"));

    let rsa8 = PrivateKey::from_pkcs8_der(&pem_der(&o.read("rsa.key"))).unwrap();
    let rsa1 = PrivateKey::from_pkcs1_der(&pem_der(&o.read("rsa1.key"))).unwrap();
    assert_eq!(rsa1.spki_der(), rsa8.spki_der());
    assert_eq!(rsa1.key_type(), "rsa2048");
    PrivateKeyInfoRef::try_from(rsa1.pkcs8_der()).unwrap();

    let ec8 = PrivateKey::from_pkcs8_der(&pem_der(&o.read("ec.key"))).unwrap();
    let sec1 = PrivateKey::from_sec1_der(&pem_der(&o.read("sec1.key"))).unwrap();
    assert_eq!(sec1.spki_der(), ec8.spki_der());
    assert_eq!(sec1.key_type(), "ecdsa-p256");
    PrivateKeyInfoRef::try_from(sec1.pkcs8_der()).unwrap();
}

#[test]
fn ed25519_and_p521_keys_are_unsupported() {
    let o = Openssl::new();
    o.run(&["genpkey", "-algorithm", "ED25519", "-out", "ed.key"]);
    o.run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-out",
        "p521.key",
    ]);
    let err = PrivateKey::from_pkcs8_der(&pem_der(&o.read("ed.key"))).unwrap_err();
    assert!(
        matches!(&err, PkiError::UnsupportedKey { algorithm } if algorithm == "Ed25519"),
        "{err:?}"
    );
    let err = PrivateKey::from_pkcs8_der(&pem_der(&o.read("p521.key"))).unwrap_err();
    assert!(matches!(err, PkiError::UnsupportedKey { .. }), "{err:?}");
    assert!(err.to_string().contains("P-521"), "{err}");
}

#[test]
fn garbage_is_an_invalid_key_without_echoing_it() {
    let err = PrivateKey::from_pkcs8_der(b"\x30\x03secret").unwrap_err();
    assert!(matches!(err, PkiError::InvalidKey { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret"));
    assert!(PrivateKey::from_sec1_der(b"nope").is_err());
    assert!(PrivateKey::from_pkcs1_der(b"nope").is_err());
}

#[test]
fn debug_shows_type_and_fingerprint_only() {
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let shown = format!("{key:?}");
    assert!(
        shown.contains("ecdsa-p256") && shown.contains(&key.spki_sha256()),
        "{shown}"
    );
    assert!(!shown.contains("PRIVATE KEY"));
    assert!(!shown.contains(&format!("{:?}", &key.pkcs8_der()[..8])));
}
