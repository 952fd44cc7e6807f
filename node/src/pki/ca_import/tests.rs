use super::*;
use crate::domain::KeySpec;
use crate::pki::fixtures::{now, subject, Openssl, OpensslKey, TestCa, DAY};
use crate::pki::{check_server_import, random_serial, read_bundle, self_signed_ca};

fn bundle(certs: Vec<Vec<u8>>, keys: Vec<PrivateKey>) -> Bundle {
    Bundle { certs, keys }
}

#[test]
fn our_own_ca_imports() {
    let ca = TestCa::new("Own CA", KeySpec::EcdsaP384);
    let import =
        check_ca_import(bundle(vec![ca.cert.clone()], vec![ca.key.clone()]), now()).unwrap();
    assert_eq!(import.cert, ca.cert);
    assert!(import.summary.is_ca);
    assert!(import.chain.is_empty());
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
}

#[test]
fn an_openssl_intermediate_ca_imports_with_its_root() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
    let mut text = o.read("root.pem");
    text.extend(o.read("inter.pem"));
    text.extend(o.read("inter.key"));
    let import = check_ca_import(read_bundle(&text, None).unwrap(), now()).unwrap();
    assert_eq!(import.cert, o.der("inter.pem"));
    assert_eq!(import.chain, vec![o.der("root.pem")]);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);

    let mut text = o.read("inter.pem");
    text.extend(o.read("inter.key"));
    let import = check_ca_import(read_bundle(&text, None).unwrap(), now()).unwrap();
    assert_eq!(import.warnings.len(), 1);
    assert!(
        import.warnings[0].starts_with("incomplete chain"),
        "{:?}",
        import.warnings
    );
}

#[test]
fn a_non_ca_certificate_is_refused() {
    let ca = TestCa::new("Some CA", KeySpec::EcdsaP256);
    let (key, leaf) = ca.issue("server.example.test", KeySpec::EcdsaP256);
    let err = check_ca_import(bundle(vec![leaf], vec![key]), now()).unwrap_err();
    assert!(matches!(err, PkiError::NotCa { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "certificate CN=server.example.test, O=Test, C=US is not a CA (basicConstraints CA:TRUE missing): a CA import needs a CA certificate"
    );
}

#[test]
fn a_ca_without_its_key_is_refused() {
    let ca = TestCa::new("Keyless CA", KeySpec::EcdsaP256);
    let err = check_ca_import(bundle(vec![ca.cert.clone()], vec![]), now()).unwrap_err();
    assert!(matches!(err, PkiError::NoKey), "{err:?}");
    let other = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let err = check_ca_import(
        bundle(vec![ca.cert.clone()], vec![ca.key.clone(), other]),
        now(),
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::TooManyKeys { count: 2 }), "{err:?}");
}

#[test]
fn a_ca_without_key_cert_sign_is_refused() {
    let o = Openssl::new();
    o.genkey("ca.key", OpensslKey::EcP256);
    o.run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/C=US/CN=No Sign CA",
        "-days",
        "3",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-out",
        "ca.pem",
    ]);
    let mut text = o.read("ca.pem");
    text.extend(o.read("ca.key"));
    let err = check_ca_import(read_bundle(&text, None).unwrap(), now()).unwrap_err();
    assert!(matches!(err, PkiError::NoKeyCertSign { .. }), "{err:?}");
    assert!(err.to_string().contains("keyCertSign"), "{err}");
}

#[test]
fn an_expired_or_future_ca_is_refused() {
    let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
    let t = now();
    for (nb, na) in [(t - 10 * DAY, t - DAY), (t + DAY, t + 10 * DAY)] {
        let cert = self_signed_ca(&subject("Timed CA"), &key, nb, na, &random_serial()).unwrap();
        let err = check_ca_import(bundle(vec![cert], vec![key.clone()]), t).unwrap_err();
        assert!(
            matches!(err, PkiError::Expired { .. } | PkiError::NotYetValid { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let ca = TestCa::new("Debug CA", KeySpec::Rsa2048);
    let (key, leaf) = ca.issue("debug.example.test", KeySpec::Rsa2048);
    let server_bundle = bundle(vec![leaf.clone(), ca.cert.clone()], vec![key.clone()]);
    let server = check_server_import(server_bundle.clone(), None, None, now()).unwrap();
    let ca_import =
        check_ca_import(bundle(vec![ca.cert.clone()], vec![ca.key.clone()]), now()).unwrap();

    let shown = [
        format!("{key:?}"),
        format!("{server_bundle:?}"),
        format!("{server:?}"),
        format!("{ca_import:?}"),
        format!("{server:#?}"),
    ];
    for (secret, der) in [(&key, key.pkcs8_der()), (&ca.key, ca.key.pkcs8_der())] {
        let pem_text = secret.to_pem();
        let base64_lines: Vec<&str> = pem_text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        for text in &shown {
            assert!(!text.contains("PRIVATE KEY"), "{text}");
            for line in &base64_lines {
                assert!(!text.contains(&line[..16]), "{text}");
            }
            assert!(
                !text.contains(&format!("{:?}", &der[..12])[1..30]),
                "{text}"
            );
            assert!(!text.contains(&hex::encode(&der[..12])), "{text}");
            assert!(
                !text.contains(&hex::encode(&der[der.len() - 12..])),
                "{text}"
            );
        }
    }
    assert!(shown[2].contains("CN=debug.example.test"), "{}", shown[2]);
}
