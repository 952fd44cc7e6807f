//! Public keys as certificates, CSRs and private keys share them: the key
//! type name (`rsa2048`, `ecdsa-p256`, …) and the SHA-256 of the
//! SubjectPublicKeyInfo that ties a key, its CSR and its certificate.

use aws_lc_rs::digest::{digest, SHA256};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_DSA, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519, OID_SIG_ED448,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes))
}

/// The key type of a parsed SubjectPublicKeyInfo, e.g. `rsa3072`,
/// `ecdsa-p384`; unknown algorithms are named by their OID.
pub(crate) fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        match RSAPublicKey::from_der(&spki.subject_public_key.data) {
            Ok((_, key)) => format!("rsa{}", rsa_bits(key.modulus)),
            Err(_) => "rsa-invalid".into(),
        }
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => "ecdsa-p256".into(),
            Some(c) if c == OID_NIST_EC_P384 => "ecdsa-p384".into(),
            Some(c) if c == OID_NIST_EC_P521 => "ecdsa-p521".into(),
            Some(c) => format!("ecdsa-{c}"),
            None => "ecdsa-unknown-curve".into(),
        }
    } else if *alg == OID_SIG_ED25519 {
        "ed25519".into()
    } else if *alg == OID_SIG_ED448 {
        "ed448".into()
    } else if *alg == OID_KEY_TYPE_DSA {
        "dsa".into()
    } else {
        format!("unknown-{alg}")
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
pub(crate) fn rsa_bits(modulus: &[u8]) -> usize {
    let trimmed = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

/// The digest of a request to `rpc` (its encoded message), with which a
/// retry under the same request id is recognised as the same request.
pub fn request_digest(rpc: &str, encoded: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(rpc.len() + 1 + encoded.len());
    input.extend_from_slice(rpc.as_bytes());
    input.push(0);
    input.extend_from_slice(encoded);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &input).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bits_ignores_leading_zero_bytes() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(rsa_bits(&[0x01, 0x00]), 9);
        assert_eq!(rsa_bits(&[0x00, 0x00]), 0);
        assert_eq!(rsa_bits(&[]), 0);
    }
}
