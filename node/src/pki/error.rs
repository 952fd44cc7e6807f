//! Why a cryptographic operation failed. Every message says what to do next
//! and never contains key bytes or passwords; names and fingerprints only.

use crate::domain::KeySpec;

/// The failures of `pki`: most are the caller's input (see
/// [`PkiError::is_invalid_input`]), a few are internal.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// An RSA key shorter than 2048 bits.
    #[error("the RSA key has only {bits} bits, which is too weak: use an RSA key of at least 2048 bits or an ECDSA P-256/P-384 key")]
    WeakKey { bits: usize },
    /// A key of a type or size this service does not use.
    #[error("unsupported key type {algorithm}: use RSA (2048 to 8192 bits) or ECDSA P-256/P-384")]
    UnsupportedKey { algorithm: String },
    /// Bytes that should hold a private key but do not.
    #[error("{what} is not a valid private key: {reason}")]
    InvalidKey { what: String, reason: String },
    /// The crypto library could not generate a key (internal).
    #[error("could not generate a {spec} key")]
    KeyGeneration { spec: KeySpec },

    /// A server certificate or CSR without subject alternative names.
    #[error("a server certificate needs at least one subject alternative name (a DNS name or an IP address)")]
    NoSans,
    /// A validity window that is empty or outside what X.509 can encode.
    #[error("invalid validity period: not_before ({not_before}) must be before not_after ({not_after}) and both between years 1950 and 9999")]
    InvalidValidity { not_before: i64, not_after: i64 },
    /// A serial number that is empty, too long or not positive.
    #[error("invalid serial number of {len} bytes: it must be 1 to 20 bytes, positive and not zero (use random_serial)")]
    InvalidSerial { len: usize },
    /// The CA key given for signing is not the key of the CA certificate.
    #[error("the CA private key does not belong to the CA certificate {subject}")]
    CaKeyMismatch { subject: String },
    /// A CA subject that cannot be copied verbatim into issued certificates.
    #[error("the subject of CA certificate {subject} cannot be used as an issuer name: {reason}")]
    UnsupportedCaName { subject: String, reason: String },
    /// Building or signing a certificate or CSR failed (internal).
    #[error("could not {action}: {reason}")]
    Signing {
        action: &'static str,
        reason: String,
    },

    /// Bytes that should hold an X.509 certificate but do not.
    #[error("{what} is not a valid X.509 certificate: {reason}")]
    InvalidCertificate { what: String, reason: String },
    /// Bytes that should hold a PKCS#10 CSR but do not.
    #[error("not a valid certificate signing request (PKCS#10): {reason}")]
    InvalidCsr { reason: String },
    /// A CSR whose signature does not verify with its own public key.
    #[error("the certificate signing request's signature does not verify with its own public key: the CSR is damaged or was altered")]
    CsrSignature,
    /// A signature algorithm this service does not verify.
    #[error("{what} is signed with {algorithm}, which is not accepted: use SHA-256 or stronger with RSA or ECDSA")]
    UnsupportedSignatureAlgorithm { what: String, algorithm: String },

    /// An upload with no content.
    #[error("the file is empty: it contains no certificate or private key")]
    Empty,
    /// An upload larger than any sensible bundle.
    #[error("the file is {size} bytes, larger than the {limit}-byte limit for a certificate bundle: is it the right file?")]
    TooLarge { size: usize, limit: usize },
    /// An upload in no format this service reads.
    #[error("the file is not in a recognised format: expected PEM text (CERTIFICATE, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY blocks), a DER certificate, a DER private key (PKCS#8, PKCS#1 or SEC1), or a PKCS#12 (.p12/.pfx) file")]
    Unrecognized,
    /// A PEM block without its END line.
    #[error("PEM block #{block} ({label}) is truncated: its `-----END {label}-----` line is missing; copy the whole block")]
    PemTruncated { block: usize, label: String },
    /// A PEM block whose framing or base64 body is damaged.
    #[error("PEM block #{block} ({label}) is damaged: {reason}")]
    PemMalformed {
        block: usize,
        label: String,
        reason: String,
    },
    /// A PEM block of a kind that cannot be imported.
    #[error("PEM block #{block} has label {label:?}, which cannot be imported here: accepted labels are CERTIFICATE, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY and ENCRYPTED PRIVATE KEY")]
    UnsupportedPemLabel { block: usize, label: String },
    /// An OpenSSL "traditional" encrypted key (`Proc-Type: 4,ENCRYPTED`).
    #[error("PEM block #{block} ({label}) is encrypted in the legacy OpenSSL format (Proc-Type: 4,ENCRYPTED), which is not supported: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key` and import new.key")]
    LegacyEncryptedKey { block: usize, label: String },
    /// Encrypted input and no password.
    #[error("{what} is encrypted: give its password (the password field)")]
    PasswordRequired { what: &'static str },
    /// Encrypted input and a password that does not open it.
    #[error("the password for {what} is wrong")]
    WrongPassword { what: &'static str },
    /// Encrypted input using a scheme this service cannot decrypt.
    #[error("{what} is encrypted with {algorithm}, which is not supported: re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc` (keys) or `openssl pkcs12 -export` without -legacy (PKCS#12)")]
    UnsupportedEncryption {
        what: &'static str,
        algorithm: String,
    },
    /// A PKCS#12 file that opened with the password but is damaged.
    #[error("the PKCS#12 file is damaged or uses an unsupported structure: {reason}")]
    InvalidPkcs12 { reason: String },

    /// A private key in the bundle that belongs to none of its certificates.
    #[error("the private key ({key_type}, public key SHA-256 {spki_sha256}) matches no certificate in the bundle: include the certificate issued for this key")]
    KeyMatchesNoCertificate {
        key_type: String,
        spki_sha256: String,
    },
    /// Neither a key in the bundle nor the slot's CSR key matches a certificate.
    #[error("no certificate in the bundle matches a private key: include the private key, or import the certificate issued for this slot's CSR")]
    NoMatchingKey,
    /// More than one distinct private key in the bundle.
    #[error("the bundle holds {count} different private keys: import one certificate with its own key at a time")]
    TooManyKeys { count: usize },
    /// A CA import without its private key.
    #[error(
        "the bundle has no private key: a CA import needs the CA certificate and its private key"
    )]
    NoKey,
    /// A CA certificate where a server (leaf) certificate is expected.
    #[error("certificate {subject} is a CA (basicConstraints CA:TRUE), not a server certificate: import it as a CA, or import the server certificate it issued")]
    CaAsLeaf { subject: String },
    /// A certificate whose validity starts in the future.
    #[error("certificate {subject} is not valid yet: it becomes valid at {not_before}; check the clocks or wait")]
    NotYetValid { subject: String, not_before: String },
    /// A certificate whose validity has ended.
    #[error(
        "certificate {subject} expired at {not_after}: renew it and import the new certificate"
    )]
    Expired { subject: String, not_after: String },
    /// A leaf whose extendedKeyUsage excludes TLS server authentication.
    #[error("certificate {subject} is not for TLS servers: its extendedKeyUsage lacks serverAuth; request a server certificate")]
    NotServerAuth { subject: String },
    /// A certificate named as issuer whose key did not sign the child.
    #[error("intermediate {issuer} did not sign {child}: the signature does not verify with its public key; include the certificate that actually issued {child}")]
    ChainSignature { child: String, issuer: String },
    /// A bundle certificate that is neither the leaf nor on its chain.
    #[error("{subject} is not the issuer of {leaf} nor of any certificate in its chain: is this the right intermediate? Leave it out, or give the one that issued {leaf}")]
    StrayCertificate { subject: String, leaf: String },
    /// A non-CA certificate given as a CA.
    #[error("certificate {subject} is not a CA (basicConstraints CA:TRUE missing): a CA import needs a CA certificate")]
    NotCa { subject: String },
    /// A CA whose keyUsage forbids signing certificates.
    #[error("CA certificate {subject} may not sign certificates: its keyUsage lacks keyCertSign")]
    NoKeyCertSign { subject: String },

    /// Writing a PKCS#12 file failed (internal).
    #[error("could not write the PKCS#12 file: {reason}")]
    Pkcs12Write { reason: String },
    /// Sealing a private key failed (the system random generator).
    #[error("sealing a private key failed")]
    Seal,
    /// A stored key did not open with this node's seal key.
    #[error("a stored private key could not be opened with this node's seal key: the node runs with another seal key than the one that sealed it")]
    Unseal,
}

impl PkiError {
    /// Whether the caller's input caused this error (so the API answers
    /// INVALID_ARGUMENT); false for internal failures (INTERNAL).
    pub fn is_invalid_input(&self) -> bool {
        // Exhaustive, so a new variant is placed here on purpose.
        match self {
            PkiError::KeyGeneration { .. }
            | PkiError::Signing { .. }
            | PkiError::CaKeyMismatch { .. }
            | PkiError::Pkcs12Write { .. }
            | PkiError::Seal
            | PkiError::Unseal => false,
            PkiError::WeakKey { .. }
            | PkiError::UnsupportedKey { .. }
            | PkiError::InvalidKey { .. }
            | PkiError::NoSans
            | PkiError::InvalidValidity { .. }
            | PkiError::InvalidSerial { .. }
            | PkiError::UnsupportedCaName { .. }
            | PkiError::InvalidCertificate { .. }
            | PkiError::InvalidCsr { .. }
            | PkiError::CsrSignature
            | PkiError::UnsupportedSignatureAlgorithm { .. }
            | PkiError::Empty
            | PkiError::TooLarge { .. }
            | PkiError::Unrecognized
            | PkiError::PemTruncated { .. }
            | PkiError::PemMalformed { .. }
            | PkiError::UnsupportedPemLabel { .. }
            | PkiError::LegacyEncryptedKey { .. }
            | PkiError::PasswordRequired { .. }
            | PkiError::WrongPassword { .. }
            | PkiError::UnsupportedEncryption { .. }
            | PkiError::InvalidPkcs12 { .. }
            | PkiError::KeyMatchesNoCertificate { .. }
            | PkiError::NoMatchingKey
            | PkiError::TooManyKeys { .. }
            | PkiError::NoKey
            | PkiError::CaAsLeaf { .. }
            | PkiError::NotYetValid { .. }
            | PkiError::Expired { .. }
            | PkiError::NotServerAuth { .. }
            | PkiError::ChainSignature { .. }
            | PkiError::StrayCertificate { .. }
            | PkiError::NotCa { .. }
            | PkiError::NoKeyCertSign { .. } => true,
        }
    }
}
