use super::*;
use crate::domain::KeySpec;
use crate::pki::fixtures::{
    Openssl, OpensslKey, TestCa, INTERMEDIATE_SUBJECT, LEAF_CN, ROOT_SUBJECT,
};

#[test]
fn verify_signed_by_follows_an_openssl_chain() {
    for kind in [OpensslKey::Rsa2048, OpensslKey::EcP256] {
        let o = Openssl::chain(kind);
        let (root, inter, leaf) = (o.der("root.pem"), o.der("inter.pem"), o.der("leaf.pem"));
        verify_signed_by(&leaf, &inter).unwrap();
        verify_signed_by(&inter, &root).unwrap();
        verify_signed_by(&root, &root).unwrap();
        let err = verify_signed_by(&leaf, &root).unwrap_err();
        match err {
            PkiError::ChainSignature { child, issuer } => {
                assert!(child.starts_with(&format!("CN={LEAF_CN}")), "{child}");
                assert_eq!(issuer, ROOT_SUBJECT);
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn verify_signed_by_accepts_rsa_pss() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
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
        "0x3003",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
        "-out",
        "pss.pem",
    ]);
    let text = o.run(&["x509", "-in", "pss.pem", "-noout", "-text"]);
    assert!(text.contains("rsassaPss"), "{text}");
    verify_signed_by(&o.der("pss.pem"), &o.der("inter.pem")).unwrap();
    assert!(verify_signed_by(&o.der("pss.pem"), &o.der("root.pem")).is_err());
}

#[test]
fn sha1_signatures_are_refused_as_unsupported() {
    let o = Openssl::chain(OpensslKey::Rsa2048);
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
        "0x4004",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-sha1",
        "-out",
        "sha1.pem",
    ]);
    let err = verify_signed_by(&o.der("sha1.pem"), &o.der("inter.pem")).unwrap_err();
    assert!(
        matches!(&err, PkiError::UnsupportedSignatureAlgorithm { algorithm, .. } if algorithm.contains("SHA-1")),
        "{err:?}"
    );
}

#[test]
fn build_orders_the_chain_and_stops_at_the_root() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let what = "test";
    let leaf = CertFacts::parse(&o.der("leaf.pem"), what).unwrap();
    let pool = vec![
        CertFacts::parse(&o.der("root.pem"), what).unwrap(),
        CertFacts::parse(&o.der("inter.pem"), what).unwrap(),
    ];
    let chain = build(&leaf, &pool, None, super::super::fixtures::now()).unwrap();
    assert_eq!(chain.links, vec![1, 0]);
    assert!(chain.warnings.is_empty(), "{:?}", chain.warnings);
    assert!(!chain.reaches_cluster_ca);

    let anchored = build(
        &leaf,
        &pool[1..],
        Some(&pool[0]),
        super::super::fixtures::now(),
    )
    .unwrap();
    assert_eq!(anchored.links, vec![0]);
    assert!(anchored.reaches_cluster_ca);
    assert!(anchored.warnings.is_empty(), "{:?}", anchored.warnings);
    assert_eq!(pool[1].subject, INTERMEDIATE_SUBJECT);
}

#[test]
fn build_warns_about_a_missing_issuer() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let leaf = CertFacts::parse(&o.der("leaf.pem"), "leaf").unwrap();
    let chain = build(&leaf, &[], None, super::super::fixtures::now()).unwrap();
    assert!(chain.links.is_empty());
    assert!(chain.notes.is_empty(), "{:?}", chain.notes);
    assert_eq!(chain.warnings.len(), 1, "{:?}", chain.warnings);
    assert!(chain.warnings[0].starts_with(&format!(
        "incomplete chain: the issuer {INTERMEDIATE_SUBJECT} of CN={LEAF_CN}"
    )));
}

#[test]
fn a_chain_up_to_an_intermediate_names_the_root_clients_need() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let leaf = CertFacts::parse(&o.der("leaf.pem"), "leaf").unwrap();
    let inter = CertFacts::parse(&o.der("inter.pem"), "inter").unwrap();
    let root = CertFacts::parse(&o.der("root.pem"), "root").unwrap();
    let chain = build(&leaf, &[inter], None, super::super::fixtures::now()).unwrap();
    assert_eq!(chain.links, vec![0]);
    assert!(chain.warnings.is_empty(), "{:?}", chain.warnings);
    assert_eq!(
        chain.notes,
        vec![format!(
            "clients must trust {}: it issued {INTERMEDIATE_SUBJECT}, the last certificate of the chain (roots are not sent to clients)",
            root.subject
        )]
    );
}

#[test]
fn a_stranger_in_the_bundle_is_refused_by_name() {
    let o = Openssl::chain(OpensslKey::EcP256);
    let stranger = TestCa::new("Stranger CA", KeySpec::EcdsaP256);
    let leaf = CertFacts::parse(&o.der("leaf.pem"), "leaf").unwrap();
    let pool = vec![
        CertFacts::parse(&o.der("inter.pem"), "inter").unwrap(),
        CertFacts::parse(&stranger.cert, "stranger").unwrap(),
    ];
    let err = match build(&leaf, &pool, None, super::super::fixtures::now()) {
        Err(e) => e,
        Ok(_) => panic!("a bundle with a stranger must be refused"),
    };
    assert!(matches!(err, PkiError::StrayCertificate { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "CN=Stranger CA, O=Test, C=US is not the issuer of CN={LEAF_CN}"
        )) && err.to_string().contains("is this the right intermediate?"),
        "{err}"
    );
}
