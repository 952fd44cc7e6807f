use super::*;
use crate::pki::fixtures::{now, Openssl, OpensslKey, LEAF_CN};
use crate::pki::{check_server_import, random_array};

fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(&random_array::<4096>());
    }
    out.truncate(len);
    out
}

fn concat(o: &Openssl, names: &[&str]) -> Vec<u8> {
    names.iter().flat_map(|n| o.read(n)).collect()
}

/// Imports `bundle` as a server certificate and checks that openssl's leaf
/// and chain (intermediate, then root) came out.
fn must_import_openssl_chain(o: &Openssl, bundle: Bundle) {
    let import = check_server_import(bundle, None, None, now()).unwrap();
    assert_eq!(import.leaf, o.der("leaf.pem"));
    assert_eq!(import.chain, vec![o.der("inter.pem"), o.der("root.pem")]);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    assert_eq!(import.summary.common_name.as_deref(), Some(LEAF_CN));
    assert_eq!(import.key.spki_sha256(), import.summary.spki_sha256);
    assert!(!import.signed_by_cluster_ca);
}

#[test]
fn an_empty_file_is_refused() {
    for input in [&b""[..], b"\n  \r\n"] {
        let err = read_bundle(input, None).unwrap_err();
        assert!(matches!(err, PkiError::Empty), "{err:?}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}

#[test]
fn five_megabytes_of_random_bytes_are_too_large() {
    let err = read_bundle(&random_bytes(5 * 1024 * 1024), None).unwrap_err();
    assert!(
        matches!(err, PkiError::TooLarge { size, limit } if size == 5 * 1024 * 1024 && limit == MAX_BUNDLE_BYTES),
        "{err:?}"
    );
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn random_bytes_are_unrecognized_and_the_message_lists_the_formats() {
    let mut bytes = random_bytes(4096);
    for first in [0x30, 0x04] {
        bytes[0] = first;
        let err = read_bundle(&bytes, None).unwrap_err();
        assert!(matches!(err, PkiError::Unrecognized), "{err:?}");
        let text = err.to_string();
        for format in ["PEM", "DER certificate", "PKCS#8", "PKCS#12"] {
            assert!(text.contains(format), "{text}");
        }
    }
}

#[test]
fn a_truncated_pem_names_the_broken_block() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let mut text = o.read("root.pem");
    let leaf = o.read("leaf.pem");
    text.extend_from_slice(&leaf[..leaf.len() / 2]);
    let err = read_bundle(&text, None).unwrap_err();
    assert!(
        matches!(&err, PkiError::PemTruncated { block: 2, label } if label == "CERTIFICATE"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("PEM block #2 (CERTIFICATE) is truncated"),
        "{err}"
    );
}

#[test]
fn a_damaged_certificate_block_names_its_position() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let der = o.der("leaf.pem");
    let mut text = o.read("root.pem");
    text.extend(crate::pki::to_pem("CERTIFICATE", &der[..der.len() - 40]).into_bytes());
    let err = read_bundle(&text, None).unwrap_err();
    assert!(
        matches!(err, PkiError::InvalidCertificate { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("PEM block #2 (CERTIFICATE)"),
        "{err}"
    );
}

#[test]
fn an_unknown_pem_label_is_named() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let text = concat(&o, &["leaf.pem", "leaf.csr"]);
    let err = read_bundle(&text, None).unwrap_err();
    assert!(
        matches!(&err, PkiError::UnsupportedPemLabel { block: 2, label } if label == "CERTIFICATE REQUEST"),
        "{err:?}"
    );
}

#[test]
fn a_legacy_encrypted_key_says_how_to_convert_it() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
    o.run(&[
        "pkey",
        "-in",
        "leaf.key",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        "legacy.key",
    ]);
    let err = read_bundle(&o.read("legacy.key"), Some("secret")).unwrap_err();
    assert!(
        matches!(err, PkiError::LegacyEncryptedKey { block: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn an_encrypted_key_needs_the_right_password() {
    let o = Openssl::chain(OpensslKey::EcP256);
    o.run(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        "leaf.key",
        "-passout",
        "pass:s3cret-pw",
        "-out",
        "enc.key",
    ]);
    let text = o.read("enc.key");
    assert!(String::from_utf8_lossy(&text).contains("BEGIN ENCRYPTED PRIVATE KEY"));

    let err = read_bundle(&text, None).unwrap_err();
    assert!(matches!(err, PkiError::PasswordRequired { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the private key is encrypted: give its password (the password field)"
    );

    let err = read_bundle(&text, Some("hunter2-guess")).unwrap_err();
    assert!(matches!(err, PkiError::WrongPassword { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("hunter2"),
        "the message must not echo the password"
    );

    let bundle = read_bundle(&text, Some("s3cret-pw")).unwrap();
    let plain = read_bundle(&o.read("leaf.key"), None).unwrap();
    assert_eq!(bundle.keys[0].spki_der(), plain.keys[0].spki_der());
}

#[test]
fn a_key_asking_for_billions_of_kdf_iterations_is_refused_before_decrypting() {
    use pkcs8::der::Encode;
    let o = Openssl::chain(OpensslKey::EcP256);
    o.run(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        "leaf.key",
        "-passout",
        "pass:pw",
        "-outform",
        "DER",
        "-out",
        "enc.der",
    ]);
    let der = o.read("enc.der");
    let mut info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).unwrap();
    let pkcs5::EncryptionScheme::Pbes2(params) = &mut info.encryption_algorithm else {
        panic!("openssl writes PBES2")
    };
    let pkcs5::pbes2::Kdf::Pbkdf2(kdf) = &mut params.kdf else {
        panic!("openssl uses PBKDF2 here")
    };
    kdf.iteration_count = 4_000_000_000;
    let hostile = info.to_der().unwrap();
    let started = std::time::Instant::now();
    let err = read_bundle(&hostile, Some("pw")).unwrap_err();
    assert!(
        matches!(err, PkiError::UnsupportedEncryption { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("4000000000 PBKDF2 iterations"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn an_encrypted_der_key_decrypts_with_the_password() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
    o.run(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        "leaf.key",
        "-passout",
        "pass:pw",
        "-outform",
        "DER",
        "-out",
        "enc.der",
    ]);
    let bundle = read_bundle(&o.read("enc.der"), Some("pw")).unwrap();
    assert_eq!(bundle.keys.len(), 1);
    assert_eq!(bundle.keys[0].key_type(), "rsa2048");
}

#[test]
fn an_rsa_1024_key_in_a_bundle_is_refused_as_weak() {
    let o = Openssl::new();
    o.genkey("weak.key", OpensslKey::Rsa1024);
    let err = read_bundle(&o.read("weak.key"), None).unwrap_err();
    assert!(matches!(err, PkiError::WeakKey { bits: 1024 }), "{err:?}");
}

#[test]
fn openssl_pem_bundles_import_in_any_order() {
    for kind in [OpensslKey::Rsa2048, OpensslKey::EcP256] {
        let o = Openssl::chain(kind);
        let text = concat(&o, &["inter.pem", "leaf.key", "root.pem", "leaf.pem"]);
        let bundle = read_bundle(&text, None).unwrap();
        assert_eq!(bundle.certs.len(), 3);
        assert_eq!(bundle.certs[0], o.der("inter.pem"), "input order is kept");
        must_import_openssl_chain(&o, bundle);
    }
}

#[test]
fn traditional_pem_keys_and_ec_parameters_are_read() {
    let o = Openssl::chain(OpensslKey::EcP256);
    o.run(&["ec", "-in", "leaf.key", "-param_out", "-out", "params.pem"]);
    o.run(&["ec", "-in", "leaf.key", "-out", "sec1.key"]);
    let sec1 = String::from_utf8_lossy(&concat(&o, &["params.pem", "sec1.key"])).into_owned();
    assert!(
        sec1.contains("BEGIN EC PARAMETERS") && sec1.contains("BEGIN EC PRIVATE KEY"),
        "{sec1}"
    );
    let text = concat(
        &o,
        &[
            "leaf.pem",
            "params.pem",
            "sec1.key",
            "inter.pem",
            "root.pem",
        ],
    );
    must_import_openssl_chain(&o, read_bundle(&text, None).unwrap());

    let o = Openssl::chain(OpensslKey::Rsa2048);
    o.run(&[
        "pkey",
        "-in",
        "leaf.key",
        "-traditional",
        "-out",
        "rsa1.key",
    ]);
    let text = concat(&o, &["rsa1.key", "leaf.pem", "inter.pem", "root.pem"]);
    must_import_openssl_chain(&o, read_bundle(&text, None).unwrap());
}

#[test]
fn a_der_leaf_and_a_separate_der_key_import_together() {
    for kind in [OpensslKey::Rsa2048, OpensslKey::EcP256] {
        let o = Openssl::chain(kind);
        o.run(&[
            "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der",
        ]);
        // OpenSSL 3.0 writes DER keys as PKCS#1/SEC1 unless asked for PKCS#8.
        o.run(&[
            "pkey",
            "-in",
            "leaf.key",
            "-outform",
            "DER",
            "-out",
            "traditional.der",
        ]);
        o.run(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "leaf.key",
            "-outform",
            "DER",
            "-out",
            "pkcs8.der",
        ]);
        for key_file in ["traditional.der", "pkcs8.der"] {
            let certs = read_bundle(&o.read("leaf.der"), None).unwrap();
            let keys = read_bundle(&o.read(key_file), None).unwrap();
            assert_eq!((certs.certs.len(), certs.keys.len()), (1, 0));
            assert_eq!((keys.certs.len(), keys.keys.len()), (0, 1), "{key_file}");
            let mut bundle = certs;
            bundle.keys = keys.keys;
            bundle.certs.push(o.der("inter.pem"));
            bundle.certs.push(o.der("root.pem"));
            must_import_openssl_chain(&o, bundle);
        }
    }
}

#[test]
fn openssl_pkcs12_files_import() {
    for kind in [OpensslKey::Rsa2048, OpensslKey::EcP256] {
        let o = Openssl::chain(kind);
        o.write("chain.pem", &concat(&o, &["inter.pem", "root.pem"]));
        o.run(&[
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-certfile",
            "chain.pem",
            "-passout",
            "pass:p12-pw",
            "-out",
            "b.p12",
        ]);
        let bytes = o.read("b.p12");
        must_import_openssl_chain(&o, read_bundle(&bytes, Some("p12-pw")).unwrap());

        let err = read_bundle(&bytes, Some("nope")).unwrap_err();
        assert!(matches!(err, PkiError::WrongPassword { .. }), "{err:?}");
        assert!(err.to_string().contains("PKCS#12"), "{err}");
        let err = read_bundle(&bytes, None).unwrap_err();
        assert!(matches!(err, PkiError::PasswordRequired { .. }), "{err:?}");
    }
}

#[test]
fn a_pkcs12_with_an_empty_password_opens_without_one() {
    let o = Openssl::chain(OpensslKey::EcP256);
    o.run(&[
        "pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:", "-out",
        "open.p12",
    ]);
    let bundle = read_bundle(&o.read("open.p12"), None).unwrap();
    assert_eq!((bundle.certs.len(), bundle.keys.len()), (1, 1));
    assert_eq!(bundle.certs[0], o.der("leaf.pem"));
}

#[test]
fn openssl_legacy_pkcs12_files_import_when_openssl_can_make_them() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
    o.write("chain.pem", &concat(&o, &["inter.pem", "root.pem"]));
    let out = o.try_run(&[
        "pkcs12",
        "-export",
        "-legacy",
        "-inkey",
        "leaf.key",
        "-in",
        "leaf.pem",
        "-certfile",
        "chain.pem",
        "-passout",
        "pass:old-pw",
        "-out",
        "legacy.p12",
    ]);
    if !out.status.success() {
        eprintln!(
            "skipped: openssl cannot write legacy PKCS#12: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    must_import_openssl_chain(
        &o,
        read_bundle(&o.read("legacy.p12"), Some("old-pw")).unwrap(),
    );
    let err = read_bundle(&o.read("legacy.p12"), Some("bad")).unwrap_err();
    assert!(matches!(err, PkiError::WrongPassword { .. }), "{err:?}");
}
