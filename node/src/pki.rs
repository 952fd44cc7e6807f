//! Cryptography: the cluster seal key, private keys, certificate issuing and
//! CSRs, inspection, signature checks, reading uploaded bundles (PEM, DER,
//! PKCS#12), the checks an imported certificate or CA must pass, and the
//! cluster CA that signs node certificates.
//!
//! Everything here is synchronous and blocking (RSA key generation can take
//! a second); async callers run it on a blocking thread.

mod bundle;
mod ca_import;
mod cert_facts;
mod chain;
mod client_cert;
mod cluster_ca;
mod error;
mod inspect;
mod issue;
mod name;
mod pem_block;
mod pkcs12;
mod private_key;
mod seal;
mod sealed_key;
mod server_import;
mod signature;
mod spki;
mod validity;

#[cfg(test)]
mod fixtures;

pub use bundle::{read_bundle, Bundle, MAX_BUNDLE_BYTES};
pub use ca_import::{check_ca_import, CaImport};
pub use chain::verify_signed_by;
pub use client_cert::{
    check_client_key, client_identity, sign_client_cert, sign_client_cert_with, sign_crl,
    RevokedSerial, CLIENT_URI_PREFIX,
};
pub use cluster_ca::{
    new_cluster_ca, new_node_cert, node_cert, node_id_of, Issued, NodeCert, NODE_URI_PREFIX,
};
pub use error::PkiError;
pub use inspect::{inspect, inspect_csr, CsrSummary};
pub use issue::{make_csr, random_serial, self_signed_ca, sign_server_cert, to_pem, CaSigner};
pub use pkcs12::pkcs12;
pub use private_key::PrivateKey;
pub use seal::{SealError, SealKey, SnapshotKey};
pub use sealed_key::{open_private_key, seal_private_key};
pub use server_import::{check_server_import, ServerImport};
pub use spki::request_digest;

/// Bytes from the system's secure random generator.
pub fn random_array<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the system random generator must work");
    out
}
