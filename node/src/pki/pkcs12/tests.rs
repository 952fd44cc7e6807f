use super::*;
use crate::domain::KeySpec;
use crate::pki::fixtures::{now, Openssl, TestCa};
use crate::pki::{check_server_import, read_bundle, to_pem};

#[test]
fn openssl_reads_the_pkcs12_we_write() {
    let ca = TestCa::new("P12 CA", KeySpec::EcdsaP256);
    let (key, leaf) = ca.issue("p12.example.test", KeySpec::Rsa2048);
    let p12 = pkcs12(&key, &leaf, std::slice::from_ref(&ca.cert), "export-pw").unwrap();
    let o = Openssl::new();
    o.write("our.p12", &p12);

    let certs = o.run(&[
        "pkcs12",
        "-in",
        "our.p12",
        "-passin",
        "pass:export-pw",
        "-nokeys",
    ]);
    assert_eq!(certs.matches("BEGIN CERTIFICATE").count(), 2, "{certs}");
    assert!(certs.contains(&to_pem("CERTIFICATE", &leaf)), "{certs}");
    assert!(certs.contains(&to_pem("CERTIFICATE", &ca.cert)), "{certs}");

    let keys = o.run(&[
        "pkcs12",
        "-in",
        "our.p12",
        "-passin",
        "pass:export-pw",
        "-nocerts",
        "-nodes",
    ]);
    let bundle = read_bundle(keys.as_bytes(), None).unwrap();
    assert_eq!(bundle.keys[0].spki_der(), key.spki_der());

    let info = o.try_run(&[
        "pkcs12",
        "-in",
        "our.p12",
        "-passin",
        "pass:export-pw",
        "-info",
        "-noout",
    ]);
    let said = String::from_utf8_lossy(&info.stderr);
    assert!(
        said.contains("AES-256-CBC") && said.contains("sha256"),
        "{said}"
    );
}

#[test]
fn our_pkcs12_round_trips_and_checks_its_password() {
    let ca = TestCa::new("P12 CA", KeySpec::EcdsaP384);
    let (key, leaf) = ca.issue("rt.example.test", KeySpec::EcdsaP256);
    let p12 = pkcs12(&key, &leaf, std::slice::from_ref(&ca.cert), "pw").unwrap();
    let import =
        check_server_import(read_bundle(&p12, Some("pw")).unwrap(), None, None, now()).unwrap();
    assert_eq!(import.leaf, leaf);
    assert_eq!(import.chain, vec![ca.cert.clone()]);

    let err = read_bundle(&p12, Some("not-pw")).unwrap_err();
    assert!(matches!(err, PkiError::WrongPassword { .. }), "{err:?}");
    assert!(!err.to_string().contains("not-pw"), "{err}");
    let err = read_bundle(&p12, None).unwrap_err();
    assert!(matches!(err, PkiError::PasswordRequired { .. }), "{err:?}");
}

#[test]
fn a_key_for_another_certificate_is_refused() {
    let ca = TestCa::new("P12 CA", KeySpec::EcdsaP256);
    let (_, leaf) = ca.issue("rt.example.test", KeySpec::EcdsaP256);
    let err = pkcs12(&ca.key, &leaf, &[], "pw").unwrap_err();
    assert!(
        matches!(err, PkiError::KeyMatchesNoCertificate { .. }),
        "{err:?}"
    );
}
