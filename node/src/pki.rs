//! Cryptography: the cluster seal key now; key generation, signing, CSRs and
//! bundles as the certificate store grows.

mod seal;

pub use seal::{SealError, SealKey};

/// Bytes from the system's secure random generator.
pub fn random_array<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the system random generator must work");
    out
}
