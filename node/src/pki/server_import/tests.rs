use super::*;
use crate::domain::KeySpec;
use crate::pki::fixtures::{now, Openssl, OpensslKey, TestCa, DAY};
use crate::pki::read_bundle;

fn bundle(certs: &[&Vec<u8>], keys: &[&PrivateKey]) -> Bundle {
    Bundle {
        certs: certs.iter().map(|c| (*c).clone()).collect(),
        keys: keys.iter().map(|k| (*k).clone()).collect(),
    }
}

#[test]
fn a_certificate_with_its_key_and_ca_imports() {
    let ca = TestCa::new("Import CA", KeySpec::EcdsaP256);
    let (key, leaf) = ca.issue("a.example.test", KeySpec::Rsa2048);
    let import =
        check_server_import(bundle(&[&ca.cert, &leaf], &[&key]), None, None, now()).unwrap();
    assert_eq!(import.leaf, leaf);
    assert_eq!(import.chain, vec![ca.cert.clone()]);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    assert_eq!(import.key.spki_der(), key.spki_der());
    assert_eq!(
        import.summary.common_name.as_deref(),
        Some("a.example.test")
    );
    assert!(!import.signed_by_cluster_ca);

    let import =
        check_server_import(bundle(&[&leaf], &[&key]), None, Some(&ca.cert), now()).unwrap();
    assert!(import.signed_by_cluster_ca);
    assert!(import.chain.is_empty());
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
}

#[test]
fn a_key_that_matches_no_certificate_is_refused() {
    let ca = TestCa::new("Import CA", KeySpec::EcdsaP256);
    let (_, leaf) = ca.issue("a.example.test", KeySpec::EcdsaP256);
    let stranger = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let err = check_server_import(bundle(&[&leaf], &[&stranger]), None, None, now()).unwrap_err();
    assert!(
        matches!(err, PkiError::KeyMatchesNoCertificate { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("matches no certificate") && text.contains(&stranger.spki_sha256()),
        "{text}"
    );
}

#[test]
fn without_a_key_the_csr_key_must_match() {
    let ca = TestCa::new("CSR CA", KeySpec::EcdsaP256);
    let (key, leaf) = ca.issue("csr.example.test", KeySpec::EcdsaP256);
    let import = check_server_import(bundle(&[&leaf], &[]), Some(&key), None, now()).unwrap();
    assert_eq!(import.key.spki_der(), key.spki_der());

    let other = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    for csr_key in [None, Some(&other)] {
        let err = check_server_import(bundle(&[&leaf], &[]), csr_key, None, now()).unwrap_err();
        assert!(matches!(err, PkiError::NoMatchingKey), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("include the private key") && text.contains("CSR"),
            "{text}"
        );
    }
}

#[test]
fn an_expired_certificate_is_refused() {
    let ca = TestCa::new("Old CA", KeySpec::EcdsaP256);
    let t = now();
    let (key, leaf) = ca.issue_window(
        "old.example.test",
        KeySpec::EcdsaP256,
        t - 30 * DAY,
        t - DAY,
    );
    let err = check_server_import(bundle(&[&leaf], &[&key]), None, None, t).unwrap_err();
    match &err {
        PkiError::Expired { subject, not_after } => {
            assert!(subject.starts_with("CN=old.example.test"));
            assert_eq!(*not_after, crate::pki::validity::rfc3339(t - DAY));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("expired at"), "{err}");
}

#[test]
fn a_not_yet_valid_certificate_is_refused() {
    let ca = TestCa::new("Early CA", KeySpec::EcdsaP256);
    let t = now();
    let (key, leaf) = ca.issue_window(
        "early.example.test",
        KeySpec::EcdsaP256,
        t + DAY,
        t + 30 * DAY,
    );
    let err = check_server_import(bundle(&[&leaf], &[&key]), None, None, t).unwrap_err();
    assert!(matches!(err, PkiError::NotYetValid { .. }), "{err:?}");
    assert!(err.to_string().contains("not valid yet"), "{err}");
}

#[test]
fn an_intermediate_that_did_not_sign_the_leaf_is_refused() {
    let real = TestCa::new("Shared Name CA", KeySpec::EcdsaP256);
    let impostor = TestCa::new("Shared Name CA", KeySpec::EcdsaP256);
    let (key, leaf) = real.issue("chain.example.test", KeySpec::EcdsaP256);
    let err = check_server_import(bundle(&[&leaf, &impostor.cert], &[&key]), None, None, now())
        .unwrap_err();
    match &err {
        PkiError::ChainSignature { child, issuer } => {
            assert!(child.starts_with("CN=chain.example.test"), "{child}");
            assert_eq!(issuer, "CN=Shared Name CA, O=Test, C=US");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with(
            "intermediate CN=Shared Name CA, O=Test, C=US did not sign CN=chain.example.test"
        ),
        "{err}"
    );
    // With the real issuer present as well, the impostor is still refused,
    // by name: whatever is pasted must be the leaf or on its chain.
    let err = check_server_import(
        bundle(&[&leaf, &impostor.cert, &real.cert], &[&key]),
        None,
        None,
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::StrayCertificate { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "CN=Shared Name CA, O=Test, C=US is not the issuer of CN=chain.example.test"
        ),
        "{err}"
    );
    let import =
        check_server_import(bundle(&[&leaf, &real.cert], &[&key]), None, None, now()).unwrap();
    assert_eq!(import.chain, vec![real.cert.clone()]);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
}

#[test]
fn a_ca_certificate_is_refused_as_a_leaf() {
    let ca = TestCa::new("Leafy CA", KeySpec::EcdsaP256);
    let err = check_server_import(bundle(&[&ca.cert], &[&ca.key]), None, None, now()).unwrap_err();
    assert!(matches!(err, PkiError::CaAsLeaf { .. }), "{err:?}");
    assert!(err.to_string().contains("is a CA"), "{err}");
}

#[test]
fn an_incomplete_chain_is_accepted_with_a_warning() {
    let ca = TestCa::new("Absent CA", KeySpec::EcdsaP256);
    let (key, leaf) = ca.issue("lonely.example.test", KeySpec::EcdsaP256);
    let import = check_server_import(bundle(&[&leaf], &[&key]), None, None, now()).unwrap();
    assert!(import.chain.is_empty());
    assert_eq!(
        import.warnings,
        vec![
            "incomplete chain: the issuer CN=Absent CA, O=Test, C=US of CN=lonely.example.test, O=Test, C=US is not in the bundle; add the intermediate certificate(s) your CA sent, unless clients trust CN=Absent CA, O=Test, C=US itself"
                .to_string()
        ]
    );
}

#[test]
fn an_expired_chain_certificate_is_a_warning() {
    let t = now();
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let old_ca = crate::pki::self_signed_ca(
        &crate::pki::fixtures::subject("Expired Root"),
        &key,
        t - 100 * DAY,
        t - DAY,
        &crate::pki::random_serial(),
    )
    .unwrap();
    let ca = TestCa { key, cert: old_ca };
    let (leaf_key, leaf) = ca.issue("still.example.test", KeySpec::EcdsaP256);
    let import =
        check_server_import(bundle(&[&leaf, &ca.cert], &[&leaf_key]), None, None, t).unwrap();
    assert_eq!(import.warnings.len(), 1, "{:?}", import.warnings);
    assert!(
        import.warnings[0].contains("CN=Expired Root") && import.warnings[0].contains("expired")
    );
}

#[test]
fn a_client_only_certificate_is_refused() {
    let o = Openssl::chain(OpensslKey::EcP256);
    o.write(
        "client.ext",
        b"basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:client.test\n",
    );
    o.run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "inter.pem",
        "-CAkey",
        "inter.key",
        "-set_serial",
        "0x5005",
        "-days",
        "1",
        "-extfile",
        "client.ext",
        "-out",
        "client.pem",
    ]);
    let mut text = o.read("client.pem");
    text.extend(o.read("leaf.key"));
    let err =
        check_server_import(read_bundle(&text, None).unwrap(), None, None, now()).unwrap_err();
    assert!(matches!(err, PkiError::NotServerAuth { .. }), "{err:?}");
    assert!(err.to_string().contains("serverAuth"), "{err}");
}

#[test]
fn two_different_keys_are_refused() {
    let ca = TestCa::new("Two CA", KeySpec::EcdsaP256);
    let (a_key, a) = ca.issue("a.example.test", KeySpec::EcdsaP256);
    let (b_key, b) = ca.issue("b.example.test", KeySpec::EcdsaP256);
    let err =
        check_server_import(bundle(&[&a, &b], &[&a_key, &b_key]), None, None, now()).unwrap_err();
    assert!(matches!(err, PkiError::TooManyKeys { count: 2 }), "{err:?}");
    // The same key twice (PEM and PKCS#12, say) is fine.
    check_server_import(bundle(&[&a], &[&a_key, &a_key]), None, None, now()).unwrap();
}
