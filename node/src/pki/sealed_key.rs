//! Sealing private keys for rest and replication: AES-256-GCM under the
//! cluster seal key, bound to the key's own public key (the SHA-256 of its
//! SubjectPublicKeyInfo), so a sealed key cannot be swapped under another
//! certificate without failing to open.

use super::error::PkiError;
use super::private_key::PrivateKey;
use super::seal::SealKey;

fn context(spki_sha256: &str) -> Vec<u8> {
    format!("mrouter/private-key/v1/{spki_sha256}").into_bytes()
}

/// Seals `key` for a Raft entry or a stored record.
pub fn seal_private_key(seal: &SealKey, key: &PrivateKey) -> Result<Vec<u8>, PkiError> {
    seal.seal(key.pkcs8_der(), &context(&key.spki_sha256()))
        .map_err(|_| PkiError::Seal)
}

/// Opens a key sealed by [`seal_private_key`] for the public key whose
/// SPKI hash is `spki_sha256`.
pub fn open_private_key(
    seal: &SealKey,
    sealed: &[u8],
    spki_sha256: &str,
) -> Result<PrivateKey, PkiError> {
    let der = seal
        .open(sealed, &context(spki_sha256))
        .map_err(|_| PkiError::Unseal)?;
    PrivateKey::from_pkcs8_der(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::KeySpec;

    #[test]
    fn a_sealed_key_opens_only_for_its_own_public_key() {
        let seal = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let other = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let sealed = seal_private_key(&seal, &key).unwrap();
        let opened = open_private_key(&seal, &sealed, &key.spki_sha256()).unwrap();
        assert_eq!(opened.pkcs8_der(), key.pkcs8_der());
        assert!(matches!(
            open_private_key(&seal, &sealed, &other.spki_sha256()),
            Err(PkiError::Unseal)
        ));
        assert!(!sealed
            .windows(16)
            .any(|w| key.pkcs8_der().windows(16).any(|k| k == w)));
    }
}
