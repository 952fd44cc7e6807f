//! Signature verification over X.509 structures with aws-lc-rs: the
//! signatureAlgorithm OID (and the signer's curve for ECDSA) picks the
//! verification algorithm. SHA-1 and unknown algorithms are refused.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::oid_registry::{
    Oid, OID_EC_P256, OID_NIST_EC_P384, OID_NIST_HASH_SHA256, OID_NIST_HASH_SHA384,
    OID_NIST_HASH_SHA512, OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA,
    OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA, OID_SHA1_WITH_RSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED25519,
};
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// Why a signature was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    /// The algorithm (named) is not one we verify.
    Unsupported(String),
    /// The signature does not verify with the signer's key.
    Invalid,
}

/// Verifies `signature` over `signed` with `signer`'s public key.
pub(crate) fn verify(
    signer: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
    signature: &[u8],
    signed: &[u8],
) -> Result<(), SignatureFailure> {
    let alg = verification_algorithm(signer, algorithm)?;
    UnparsedPublicKey::new(alg, &signer.subject_public_key.data)
        .verify(signed, signature)
        .map_err(|_| SignatureFailure::Invalid)
}

fn verification_algorithm(
    signer: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<&'static dyn VerificationAlgorithm, SignatureFailure> {
    let oid = &algorithm.algorithm;
    if *oid == OID_PKCS1_SHA256WITHRSA {
        Ok(&signature::RSA_PKCS1_2048_8192_SHA256)
    } else if *oid == OID_PKCS1_SHA384WITHRSA {
        Ok(&signature::RSA_PKCS1_2048_8192_SHA384)
    } else if *oid == OID_PKCS1_SHA512WITHRSA {
        Ok(&signature::RSA_PKCS1_2048_8192_SHA512)
    } else if *oid == OID_PKCS1_RSASSAPSS {
        rsa_pss(algorithm)
    } else if *oid == OID_SIG_ECDSA_WITH_SHA256 {
        ecdsa(signer, 256)
    } else if *oid == OID_SIG_ECDSA_WITH_SHA384 {
        ecdsa(signer, 384)
    } else if *oid == OID_SIG_ECDSA_WITH_SHA512 {
        ecdsa(signer, 512)
    } else if *oid == OID_SIG_ED25519 {
        Ok(&signature::ED25519)
    } else if *oid == OID_PKCS1_SHA1WITHRSA || *oid == OID_SHA1_WITH_RSA {
        Err(SignatureFailure::Unsupported(
            "sha1WithRSAEncryption (SHA-1 is broken)".into(),
        ))
    } else {
        Err(SignatureFailure::Unsupported(name(oid)))
    }
}

fn ecdsa(
    signer: &SubjectPublicKeyInfo<'_>,
    hash_bits: u16,
) -> Result<&'static dyn VerificationAlgorithm, SignatureFailure> {
    let curve = signer
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    let unsupported = || {
        SignatureFailure::Unsupported(format!(
            "ecdsa-with-SHA{hash_bits} on a key that is not P-256 or P-384"
        ))
    };
    let curve = curve.ok_or_else(unsupported)?;
    match (curve == OID_EC_P256, curve == OID_NIST_EC_P384, hash_bits) {
        (true, _, 256) => Ok(&signature::ECDSA_P256_SHA256_ASN1),
        (true, _, 384) => Ok(&signature::ECDSA_P256_SHA384_ASN1),
        (true, _, 512) => Ok(&signature::ECDSA_P256_SHA512_ASN1),
        (_, true, 256) => Ok(&signature::ECDSA_P384_SHA256_ASN1),
        (_, true, 384) => Ok(&signature::ECDSA_P384_SHA384_ASN1),
        (_, true, 512) => Ok(&signature::ECDSA_P384_SHA512_ASN1),
        _ => Err(unsupported()),
    }
}

fn rsa_pss(
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<&'static dyn VerificationAlgorithm, SignatureFailure> {
    let unsupported = |why: &str| SignatureFailure::Unsupported(format!("RSASSA-PSS {why}"));
    let params = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("without parameters"))?;
    let params =
        RsaSsaPssParams::try_from(params).map_err(|_| unsupported("with unreadable parameters"))?;
    let hash = params.hash_algorithm_oid();
    if *hash == OID_NIST_HASH_SHA256 {
        Ok(&signature::RSA_PSS_2048_8192_SHA256)
    } else if *hash == OID_NIST_HASH_SHA384 {
        Ok(&signature::RSA_PSS_2048_8192_SHA384)
    } else if *hash == OID_NIST_HASH_SHA512 {
        Ok(&signature::RSA_PSS_2048_8192_SHA512)
    } else {
        Err(unsupported(&format!("with hash {}", name(hash))))
    }
}

fn name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}
