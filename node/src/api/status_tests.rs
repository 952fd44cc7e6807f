//! Table tests of the error-to-status mapping: for every layer's error enum,
//! one row (or more) per variant with the gRPC code a client must get.
//!
//! Each enum has an exhaustive `index_of_*` with no wildcard arm, so a new
//! variant fails to compile here until it gets a number, and then fails the
//! coverage check until the table holds a row for it.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::time::Duration;

use openraft::metrics::WaitError;

use super::*;
use crate::domain::{KeySpec, MAX_PAGE};
use crate::pki::{PkiError, MAX_BUNDLE_BYTES};
use crate::raft::Cause;

/// Checks one enum's table: every variant (by `index_of`) has a row, and
/// every row's status has the expected code and the message `message_of`.
fn check_table<E: fmt::Debug>(
    name: &str,
    variants: usize,
    index_of: fn(&E) -> usize,
    rows: Vec<(E, Code)>,
    into_status: impl Fn(E) -> Status,
    message_of: impl Fn(&E) -> String,
) {
    let covered: BTreeSet<usize> = rows.iter().map(|(e, _)| index_of(e)).collect();
    let missing: Vec<usize> = (0..variants).filter(|i| !covered.contains(i)).collect();
    assert_eq!(
        covered,
        (0..variants).collect::<BTreeSet<_>>(),
        "{name}: no row for variant index {missing:?} (numbered in index_of)"
    );
    for (row, (e, code)) in rows.into_iter().enumerate() {
        let label = format!("{name} row {row} (variant {}): {e:?}", index_of(&e));
        let message = message_of(&e);
        let status = into_status(e);
        assert_eq!(status.code(), code, "{label}: code");
        assert_eq!(status.message(), message, "{label}: message");
    }
}

/// The error's own text: a transparent wrapper shows its inner error's.
fn text<E: fmt::Display>(e: &E) -> String {
    e.to_string()
}

/// A `JoinError` as a blocking crypto task gives it when it panics.
async fn panicked_task() -> tokio::task::JoinError {
    tokio::task::spawn_blocking(|| panic!("RSA key generation failed"))
        .await
        .expect_err("the task panics")
}

/// ENOSPC, as a full disk reports it.
fn disk_full() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn index_of_domain(e: &DomainError) -> usize {
    match e {
        DomainError::InvalidDnsName { .. } => 0,
        DomainError::InvalidIp { .. } => 1,
        DomainError::InvalidMode { .. } => 2,
        DomainError::ClusteredWithoutVirtualAddress => 3,
        DomainError::NotEmpty => 4,
        DomainError::NoRestoreInProgress => 5,
        DomainError::OtherRestoreInProgress { .. } => 6,
        DomainError::NotBatchable { .. } => 7,
        DomainError::ForeignRecord => 8,
        DomainError::RestoreDigestMismatch { .. } => 9,
        DomainError::WeakKey { .. } => 10,
        DomainError::UnknownKeyType { .. } => 11,
        DomainError::InvalidCountry { .. } => 12,
        DomainError::EmptyCommonName => 13,
        DomainError::InvalidSubjectField { .. } => 14,
        DomainError::InvalidSan { .. } => 15,
        DomainError::UnknownSlot { .. } => 16,
        DomainError::NoCa => 17,
        DomainError::InvalidPageToken => 18,
        DomainError::RequestIdReused { .. } => 19,
        DomainError::NestedDigest => 20,
        DomainError::CaChanged { .. } => 21,
        DomainError::ConfirmationRequired { .. } => 22,
        DomainError::NoPendingCertificate { .. } => 23,
        DomainError::NoVirtualAddress { .. } => 24,
        DomainError::VirtualNamesMissing { .. } => 25,
        DomainError::CsrChanged { .. } => 26,
        DomainError::UnknownClientState { .. } => 27,
        DomainError::InvalidClientField { .. } => 28,
        DomainError::ClientExists { .. } => 29,
        DomainError::UnknownClient { .. } => 30,
        DomainError::ClientIsRevoked { .. } => 31,
        DomainError::ClientAlreadyRevoked { .. } => 32,
        DomainError::InvalidValidity { .. } => 33,
        DomainError::CaExpired { .. } => 34,
    }
}
const DOMAIN_VARIANTS: usize = 35;

fn domain_rows() -> Vec<(DomainError, Code)> {
    vec![
        (
            DomainError::InvalidDnsName {
                field: "cluster_domain".into(),
                value: "mr_1..example".into(),
                reason: "a label is empty".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::InvalidIp {
                field: "virtual_address".into(),
                value: "10.0.0.300".into(),
                reason: "invalid IP address syntax".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::InvalidMode {
                value: "cluster".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::ClusteredWithoutVirtualAddress,
            Code::FailedPrecondition,
        ),
        (DomainError::NotEmpty, Code::FailedPrecondition),
        (DomainError::NoRestoreInProgress, Code::FailedPrecondition),
        (
            DomainError::OtherRestoreInProgress {
                in_progress: "3f9a0c1d".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::NotBatchable {
                command: "InstallCa".into(),
            },
            Code::Internal,
        ),
        (DomainError::ForeignRecord, Code::InvalidArgument),
        (
            DomainError::RestoreDigestMismatch {
                expected: "3f9a0c1d".into(),
                actual: "77b2e410".into(),
            },
            Code::FailedPrecondition,
        ),
        (DomainError::WeakKey { bits: 1024 }, Code::InvalidArgument),
        (
            DomainError::UnknownKeyType {
                value: "ed25519".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::InvalidCountry {
                value: "USA".into(),
            },
            Code::InvalidArgument,
        ),
        (DomainError::EmptyCommonName, Code::InvalidArgument),
        (
            DomainError::InvalidSubjectField {
                field: "organization".into(),
                reason: "it holds a control character".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::InvalidSan {
                value: "router 1".into(),
                reason: "neither a DNS name nor an IP address".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::UnknownSlot {
                value: "backup".into(),
            },
            Code::InvalidArgument,
        ),
        (DomainError::NoCa, Code::FailedPrecondition),
        (DomainError::InvalidPageToken, Code::InvalidArgument),
        (
            DomainError::RequestIdReused {
                id: "00112233445566778899aabbccddeeff".into(),
            },
            Code::InvalidArgument,
        ),
        (DomainError::NestedDigest, Code::Internal),
        (
            DomainError::CaChanged {
                expected: 3,
                current: 4,
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::ConfirmationRequired { clients: 12 },
            Code::FailedPrecondition,
        ),
        (
            DomainError::NoPendingCertificate {
                slot: "local".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::NoVirtualAddress {
                slot: "local-virtual".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::VirtualNamesMissing {
                slot: "local-virtual".into(),
                missing: vec!["10.0.0.10".into(), "mr.example.com".into()],
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::CsrChanged {
                slot: "remote".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::UnknownClientState {
                value: "active".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::InvalidClientField {
                field: "client id".into(),
                value: "tablet/7".into(),
                reason: "it holds a '/'".into(),
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::ClientExists {
                id: "tablet-7".into(),
            },
            Code::AlreadyExists,
        ),
        (
            DomainError::UnknownClient {
                id: "tablet-8".into(),
            },
            Code::NotFound,
        ),
        (
            DomainError::ClientIsRevoked {
                id: "tablet-7".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::ClientAlreadyRevoked {
                id: "tablet-7".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            DomainError::InvalidValidity {
                days: 4000,
                max: 3650,
            },
            Code::InvalidArgument,
        ),
        (
            DomainError::CaExpired {
                not_after: "2025-06-30T12:00:00Z".into(),
            },
            Code::FailedPrecondition,
        ),
    ]
}

fn index_of_replica(e: &ReplicaError) -> usize {
    match e {
        ReplicaError::Domain(_) => 0,
        ReplicaError::NotLeader { .. } => 1,
        ReplicaError::NoLeader { .. } => 2,
        ReplicaError::NotInitialized => 3,
        ReplicaError::AlreadyInitialized { .. } => 4,
        ReplicaError::UnknownNode { .. } => 5,
        ReplicaError::LastVoter { .. } => 6,
        ReplicaError::AlreadyMember { .. } => 7,
        ReplicaError::InvalidAddress { .. } => 8,
        ReplicaError::InvalidRequestId { .. } => 9,
        ReplicaError::Unreachable { .. } => 10,
        ReplicaError::TransferTimeout { .. } => 11,
        ReplicaError::SealKeyMismatch { .. } => 12,
        ReplicaError::BadSnapshot { .. } => 13,
        ReplicaError::InstallingSnapshot { .. } => 14,
        ReplicaError::Removed { .. } => 15,
        ReplicaError::CommitUnknown => 16,
        ReplicaError::ShuttingDown => 17,
        ReplicaError::UnexpectedReply { .. } => 18,
        ReplicaError::Raft { .. } => 19,
        ReplicaError::Storage { .. } => 20,
    }
}
const REPLICA_VARIANTS: usize = 21;

fn replica_rows() -> Vec<(ReplicaError, Code)> {
    vec![
        // Each domain refusal keeps its own code: see `domain_rows`.
        (
            ReplicaError::Domain(DomainError::NoCa),
            Code::FailedPrecondition,
        ),
        (
            ReplicaError::Domain(DomainError::UnknownClient {
                id: "tablet-8".into(),
            }),
            Code::NotFound,
        ),
        (
            ReplicaError::NotLeader {
                node_id: 2,
                leader: Some((1, "10.0.0.1:7400".into())),
            },
            Code::Unavailable,
        ),
        (
            ReplicaError::NotLeader {
                node_id: 2,
                leader: None,
            },
            Code::Unavailable,
        ),
        (
            ReplicaError::NoLeader { waited_ms: 5000 },
            Code::Unavailable,
        ),
        (ReplicaError::NotInitialized, Code::FailedPrecondition),
        (
            ReplicaError::AlreadyInitialized {
                members: vec![1, 2, 3],
            },
            Code::FailedPrecondition,
        ),
        (ReplicaError::UnknownNode { id: 9 }, Code::NotFound),
        (ReplicaError::LastVoter { id: 1 }, Code::FailedPrecondition),
        (ReplicaError::AlreadyMember { id: 2 }, Code::AlreadyExists),
        (
            ReplicaError::InvalidAddress {
                addr: "10.0.0.2".into(),
                reason: "it has no port".into(),
            },
            Code::InvalidArgument,
        ),
        (
            ReplicaError::InvalidRequestId { len: 8 },
            Code::InvalidArgument,
        ),
        (
            ReplicaError::Unreachable {
                node_id: 1,
                addr: "10.0.0.1:7400".into(),
                reason: "connection refused".into(),
            },
            Code::Unavailable,
        ),
        (
            ReplicaError::TransferTimeout {
                to: 3,
                waited_ms: 10_000,
            },
            Code::Unavailable,
        ),
        (
            ReplicaError::SealKeyMismatch {
                snapshot_key_id: "5d1e8a20".into(),
                cluster_key_id: "c04f9b37".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            ReplicaError::BadSnapshot {
                reason: "not an mrouter snapshot file".into(),
            },
            Code::InvalidArgument,
        ),
        (
            ReplicaError::InstallingSnapshot { node_id: 3 },
            Code::Unavailable,
        ),
        (
            ReplicaError::Removed {
                node_id: 3,
                log_index: 41,
            },
            Code::FailedPrecondition,
        ),
        (ReplicaError::CommitUnknown, Code::Unavailable),
        (ReplicaError::ShuttingDown, Code::Unavailable),
        (
            ReplicaError::UnexpectedReply {
                operation: "an API read".into(),
                reply: "Ca(CaView { .. })".into(),
            },
            Code::Internal,
        ),
        (
            ReplicaError::Raft {
                operation: "catch-up to the read index".into(),
                source: Cause::new(WaitError::Timeout(
                    Duration::from_secs(30),
                    "caught up to the leader's read index".into(),
                )),
            },
            Code::Internal,
        ),
        (
            ReplicaError::Storage {
                operation: "of a snapshot file".into(),
                source: Cause::new(disk_full()),
            },
            Code::Internal,
        ),
    ]
}

fn index_of_pki(e: &PkiError) -> usize {
    match e {
        PkiError::WeakKey { .. } => 0,
        PkiError::UnsupportedKey { .. } => 1,
        PkiError::InvalidKey { .. } => 2,
        PkiError::KeyGeneration { .. } => 3,
        PkiError::NoSans => 4,
        PkiError::InvalidValidity { .. } => 5,
        PkiError::InvalidSerial { .. } => 6,
        PkiError::CaKeyMismatch { .. } => 7,
        PkiError::UnsupportedCaName { .. } => 8,
        PkiError::Signing { .. } => 9,
        PkiError::InvalidCertificate { .. } => 10,
        PkiError::InvalidCsr { .. } => 11,
        PkiError::CsrSignature => 12,
        PkiError::UnsupportedSignatureAlgorithm { .. } => 13,
        PkiError::Empty => 14,
        PkiError::TooLarge { .. } => 15,
        PkiError::Unrecognized => 16,
        PkiError::PemTruncated { .. } => 17,
        PkiError::PemMalformed { .. } => 18,
        PkiError::UnsupportedPemLabel { .. } => 19,
        PkiError::LegacyEncryptedKey { .. } => 20,
        PkiError::PasswordRequired { .. } => 21,
        PkiError::WrongPassword { .. } => 22,
        PkiError::UnsupportedEncryption { .. } => 23,
        PkiError::InvalidPkcs12 { .. } => 24,
        PkiError::KeyMatchesNoCertificate { .. } => 25,
        PkiError::NoMatchingKey => 26,
        PkiError::TooManyKeys { .. } => 27,
        PkiError::NoKey => 28,
        PkiError::CaAsLeaf { .. } => 29,
        PkiError::NotYetValid { .. } => 30,
        PkiError::Expired { .. } => 31,
        PkiError::NotServerAuth { .. } => 32,
        PkiError::ChainSignature { .. } => 33,
        PkiError::StrayCertificate { .. } => 34,
        PkiError::NotCa { .. } => 35,
        PkiError::NoKeyCertSign { .. } => 36,
        PkiError::Pkcs12Write { .. } => 37,
        PkiError::Seal => 38,
        PkiError::Unseal => 39,
    }
}
const PKI_VARIANTS: usize = 40;

/// The caller's bad files and keys are INVALID_ARGUMENT; failures of this
/// node's crypto or of the stored CA are INTERNAL.
fn pki_rows() -> Vec<(PkiError, Code)> {
    vec![
        (PkiError::WeakKey { bits: 1024 }, Code::InvalidArgument),
        (
            PkiError::UnsupportedKey {
                algorithm: "Ed25519".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::InvalidKey {
                what: "router.key".into(),
                reason: "the DER is truncated".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::KeyGeneration {
                spec: KeySpec::Rsa4096,
            },
            Code::Internal,
        ),
        (PkiError::NoSans, Code::InvalidArgument),
        (
            PkiError::InvalidValidity {
                not_before: 1_767_225_600,
                not_after: 1_735_689_600,
            },
            Code::InvalidArgument,
        ),
        (PkiError::InvalidSerial { len: 21 }, Code::InvalidArgument),
        (
            PkiError::CaKeyMismatch {
                subject: "CN=mrouter CA".into(),
            },
            Code::Internal,
        ),
        (
            PkiError::UnsupportedCaName {
                subject: "CN=mrouter CA, UID=7".into(),
                reason: "attribute UID cannot be copied".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::Signing {
                action: "sign the server certificate",
                reason: "the key pair was rejected".into(),
            },
            Code::Internal,
        ),
        (
            PkiError::InvalidCertificate {
                what: "PEM block #1".into(),
                reason: "the TBSCertificate is truncated".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::InvalidCsr {
                reason: "the DER is truncated".into(),
            },
            Code::InvalidArgument,
        ),
        (PkiError::CsrSignature, Code::InvalidArgument),
        (
            PkiError::UnsupportedSignatureAlgorithm {
                what: "the CSR".into(),
                algorithm: "sha1WithRSAEncryption".into(),
            },
            Code::InvalidArgument,
        ),
        (PkiError::Empty, Code::InvalidArgument),
        (
            PkiError::TooLarge {
                size: 5 * MAX_BUNDLE_BYTES,
                limit: MAX_BUNDLE_BYTES,
            },
            Code::InvalidArgument,
        ),
        (PkiError::Unrecognized, Code::InvalidArgument),
        (
            PkiError::PemTruncated {
                block: 2,
                label: "CERTIFICATE".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::PemMalformed {
                block: 1,
                label: "PRIVATE KEY".into(),
                reason: "invalid base64 at line 4".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::UnsupportedPemLabel {
                block: 3,
                label: "X509 CRL".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::LegacyEncryptedKey {
                block: 1,
                label: "RSA PRIVATE KEY".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::PasswordRequired {
                what: "the PKCS#12 file",
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::WrongPassword {
                what: "the private key",
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::UnsupportedEncryption {
                what: "the PKCS#12 file",
                algorithm: "pbeWithSHAAnd40BitRC2-CBC".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::InvalidPkcs12 {
                reason: "the MAC does not verify".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::KeyMatchesNoCertificate {
                key_type: "ecdsa-p256".into(),
                spki_sha256: "9c1f4e2ab37d".into(),
            },
            Code::InvalidArgument,
        ),
        (PkiError::NoMatchingKey, Code::InvalidArgument),
        (PkiError::TooManyKeys { count: 2 }, Code::InvalidArgument),
        (PkiError::NoKey, Code::InvalidArgument),
        (
            PkiError::CaAsLeaf {
                subject: "CN=mrouter CA".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::NotYetValid {
                subject: "CN=mr1.example.com".into(),
                not_before: "2031-01-01T00:00:00Z".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::Expired {
                subject: "CN=mr1.example.com".into(),
                not_after: "2024-01-01T00:00:00Z".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::NotServerAuth {
                subject: "CN=mr1.example.com".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::ChainSignature {
                child: "CN=mr1.example.com".into(),
                issuer: "CN=Example Intermediate".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::StrayCertificate {
                subject: "CN=Other Intermediate".into(),
                leaf: "CN=mr1.example.com".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::NotCa {
                subject: "CN=mr1.example.com".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::NoKeyCertSign {
                subject: "CN=Example Root".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PkiError::Pkcs12Write {
                reason: "the encoder refused the key bag".into(),
            },
            Code::Internal,
        ),
        (PkiError::Seal, Code::Internal),
        (PkiError::Unseal, Code::Internal),
    ]
}

fn index_of_cert_store(e: &CertStoreError) -> usize {
    match e {
        CertStoreError::Replica(_) => 0,
        CertStoreError::Pki(_) => 1,
        CertStoreError::NotMember { .. } => 2,
        CertStoreError::NoCertificate { .. } => 3,
        CertStoreError::Task(_) => 4,
        CertStoreError::AlreadyDelivered { .. } => 5,
    }
}
const CERT_STORE_VARIANTS: usize = 6;

async fn cert_store_rows() -> Vec<(CertStoreError, Code)> {
    vec![
        (
            CertStoreError::Replica(ReplicaError::NotLeader {
                node_id: 2,
                leader: Some((1, "10.0.0.1:7400".into())),
            }),
            Code::Unavailable,
        ),
        (
            CertStoreError::Replica(ReplicaError::Domain(DomainError::NoCa)),
            Code::FailedPrecondition,
        ),
        // Both sides of `PkiError::is_invalid_input`: see `pki_rows`.
        (CertStoreError::Pki(PkiError::NoKey), Code::InvalidArgument),
        (CertStoreError::Pki(PkiError::Seal), Code::Internal),
        (
            CertStoreError::NotMember { node: 9 },
            Code::FailedPrecondition,
        ),
        (
            CertStoreError::NoCertificate {
                slot: "local".into(),
                state: "active".into(),
            },
            Code::FailedPrecondition,
        ),
        (
            CertStoreError::Task(panicked_task().await.to_string()),
            Code::Internal,
        ),
        (
            CertStoreError::AlreadyDelivered {
                id: "tablet-7".into(),
            },
            Code::FailedPrecondition,
        ),
    ]
}

fn index_of_api(e: &ApiError) -> usize {
    match e {
        ApiError::Replica(_) => 0,
        ApiError::CertStore(_) => 1,
        ApiError::MissingField { .. } => 2,
        ApiError::UnknownEnumValue { .. } => 3,
        ApiError::DuplicateMember { .. } => 4,
        ApiError::NothingToPromote => 5,
        ApiError::UnknownPageToken => 6,
        ApiError::PageTooLarge { .. } => 7,
        ApiError::PasswordWithCsr => 8,
        ApiError::NoFiles => 9,
        ApiError::Io { .. } => 10,
    }
}
const API_VARIANTS: usize = 11;

fn api_rows() -> Vec<(ApiError, Code)> {
    vec![
        (
            ApiError::Replica(ReplicaError::UnknownNode { id: 9 }),
            Code::NotFound,
        ),
        (
            ApiError::from(DomainError::ClientExists {
                id: "tablet-7".into(),
            }),
            Code::AlreadyExists,
        ),
        (
            ApiError::CertStore(CertStoreError::Pki(PkiError::Unrecognized)),
            Code::InvalidArgument,
        ),
        (
            ApiError::CertStore(CertStoreError::Pki(PkiError::Unseal)),
            Code::Internal,
        ),
        (
            ApiError::MissingField {
                field: "member",
                expected: "id and addr",
            },
            Code::InvalidArgument,
        ),
        (
            ApiError::UnknownEnumValue {
                field: "key_type".into(),
                value: 9,
                names: "rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384".into(),
            },
            Code::InvalidArgument,
        ),
        (ApiError::DuplicateMember { id: 2 }, Code::InvalidArgument),
        (ApiError::NothingToPromote, Code::InvalidArgument),
        (ApiError::UnknownPageToken, Code::InvalidArgument),
        (
            ApiError::PageTooLarge {
                limit: 5000,
                max: MAX_PAGE,
            },
            Code::InvalidArgument,
        ),
        (ApiError::PasswordWithCsr, Code::InvalidArgument),
        (ApiError::NoFiles, Code::InvalidArgument),
        (
            ApiError::Io {
                operation: "writing the restore file",
                source: disk_full(),
            },
            Code::Internal,
        ),
    ]
}

fn index_of_peer_rpc(e: &PeerRpcError) -> usize {
    match e {
        PeerRpcError::Stream(_) => 0,
        PeerRpcError::BadPayload { .. } => 1,
        PeerRpcError::EmptySnapshotStream => 2,
        PeerRpcError::BadSnapshotHeader { .. } => 3,
        PeerRpcError::SnapshotTooLarge { .. } => 4,
        PeerRpcError::NotASnapshot => 5,
        PeerRpcError::SnapshotLonger { .. } => 6,
        PeerRpcError::SnapshotShorter { .. } => 7,
        PeerRpcError::SnapshotCorrupt { .. } => 8,
        PeerRpcError::Io { .. } => 9,
        PeerRpcError::Task(_) => 10,
        PeerRpcError::NotANode => 11,
        PeerRpcError::SpeaksForAnother { .. } => 12,
        PeerRpcError::NotAMember { .. } => 13,
    }
}
const PEER_RPC_VARIANTS: usize = 14;

async fn peer_rpc_rows() -> Vec<(PeerRpcError, Code)> {
    vec![
        (
            PeerRpcError::Stream(Status::cancelled("the sender reset the stream")),
            Code::Cancelled,
        ),
        (
            PeerRpcError::BadPayload {
                reason: "unexpected end of input".into(),
            },
            Code::InvalidArgument,
        ),
        (PeerRpcError::EmptySnapshotStream, Code::InvalidArgument),
        (
            PeerRpcError::BadSnapshotHeader {
                reason: "missing field `size`".into(),
            },
            Code::InvalidArgument,
        ),
        (
            PeerRpcError::SnapshotTooLarge {
                size: 3 << 30,
                limit: 1 << 30,
            },
            Code::ResourceExhausted,
        ),
        (PeerRpcError::NotASnapshot, Code::InvalidArgument),
        (
            PeerRpcError::SnapshotLonger { size: 65_536 },
            Code::InvalidArgument,
        ),
        (
            PeerRpcError::SnapshotShorter {
                received: 4096,
                size: 65_536,
            },
            Code::InvalidArgument,
        ),
        (
            PeerRpcError::SnapshotCorrupt {
                reason: "the checksum of section 3 does not match".into(),
            },
            Code::DataLoss,
        ),
        (
            PeerRpcError::Io {
                operation: "writing the snapshot file",
                source: disk_full(),
            },
            Code::Internal,
        ),
        (PeerRpcError::Task(panicked_task().await), Code::Internal),
        (PeerRpcError::NotANode, Code::Unauthenticated),
        (
            PeerRpcError::SpeaksForAnother {
                cert: 2,
                claimed: 99,
            },
            Code::PermissionDenied,
        ),
        (PeerRpcError::NotAMember { id: 99 }, Code::PermissionDenied),
    ]
}

/// The message of a peer error's status: a relayed stream status keeps its
/// own message (its `Display` is tonic's debug-like rendering).
fn peer_rpc_message(e: &PeerRpcError) -> String {
    match e {
        PeerRpcError::Stream(status) => status.message().to_owned(),
        other => other.to_string(),
    }
}

#[test]
fn domain_errors_map_to_their_codes() {
    check_table(
        "DomainError",
        DOMAIN_VARIANTS,
        index_of_domain,
        domain_rows(),
        |e| Status::from(ReplicaError::Domain(e)),
        text,
    );
}

#[test]
fn replica_errors_map_to_their_codes() {
    check_table(
        "ReplicaError",
        REPLICA_VARIANTS,
        index_of_replica,
        replica_rows(),
        Status::from,
        text,
    );
}

#[test]
fn pki_errors_map_to_their_codes() {
    check_table(
        "PkiError",
        PKI_VARIANTS,
        index_of_pki,
        pki_rows(),
        |e| Status::from(CertStoreError::Pki(e)),
        text,
    );
}

#[tokio::test]
async fn cert_store_errors_map_to_their_codes() {
    check_table(
        "CertStoreError",
        CERT_STORE_VARIANTS,
        index_of_cert_store,
        cert_store_rows().await,
        Status::from,
        text,
    );
}

#[test]
fn api_errors_map_to_their_codes() {
    check_table(
        "ApiError",
        API_VARIANTS,
        index_of_api,
        api_rows(),
        Status::from,
        text,
    );
}

#[tokio::test]
async fn peer_rpc_errors_map_to_their_codes() {
    check_table(
        "PeerRpcError",
        PEER_RPC_VARIANTS,
        index_of_peer_rpc,
        peer_rpc_rows().await,
        Status::from,
        peer_rpc_message,
    );
}

/// Only a removed node's refusal says "removed", and only an unknown commit
/// says "retry the same request".
#[test]
fn only_removed_and_commit_unknown_carry_metadata() {
    let domain = domain_rows()
        .into_iter()
        .map(|(e, code)| (ReplicaError::Domain(e), code));
    let (mut removed_rows, mut retry_same_rows) = (0, 0);
    for (row, (e, _)) in replica_rows().into_iter().chain(domain).enumerate() {
        let label = format!("ReplicaError row {row}: {e:?}");
        let removed = matches!(e, ReplicaError::Removed { .. });
        let retry_same = matches!(e, ReplicaError::CommitUnknown);
        removed_rows += usize::from(removed);
        retry_same_rows += usize::from(retry_same);
        let status = Status::from(e);
        assert_eq!(
            status.metadata().get(REMOVED_KEY).is_some(),
            removed,
            "{label}: {REMOVED_KEY}"
        );
        assert_eq!(
            status.metadata().get(RETRY_SAME_KEY).is_some(),
            retry_same,
            "{label}: {RETRY_SAME_KEY}"
        );
    }
    assert!(removed_rows > 0, "no Removed row in the table");
    assert!(retry_same_rows > 0, "no CommitUnknown row in the table");
}

/// A replica error reaches the client the same through every wrapper:
/// code, message and metadata.
#[test]
fn wrapped_replica_errors_map_as_bare_ones() {
    for (row, (e, _)) in replica_rows().into_iter().enumerate() {
        let label = format!("ReplicaError row {row}: {e:?}");
        let bare = Status::from(e.clone());
        let wrapped = [
            (
                "ApiError::Replica",
                Status::from(ApiError::Replica(e.clone())),
            ),
            (
                "CertStoreError::Replica",
                Status::from(CertStoreError::Replica(e.clone())),
            ),
            (
                "ApiError::CertStore(CertStoreError::Replica)",
                Status::from(ApiError::CertStore(CertStoreError::Replica(e))),
            ),
        ];
        for (via, status) in wrapped {
            assert_eq!(status.code(), bare.code(), "{label} via {via}: code");
            assert_eq!(
                status.message(),
                bare.message(),
                "{label} via {via}: message"
            );
            for key in [REMOVED_KEY, RETRY_SAME_KEY] {
                assert_eq!(
                    status.metadata().get(key),
                    bare.metadata().get(key),
                    "{label} via {via}: {key}"
                );
            }
        }
    }
}

/// A peer's failed stream is relayed as it came: code and message.
#[test]
fn peer_stream_status_passes_through() {
    let codes = [
        Code::Cancelled,
        Code::Unavailable,
        Code::DeadlineExceeded,
        Code::ResourceExhausted,
        Code::PermissionDenied,
        Code::Internal,
    ];
    for code in codes {
        let inner = Status::new(code, format!("the sender's stream failed ({code:?})"));
        let status = Status::from(PeerRpcError::Stream(inner));
        assert_eq!(status.code(), code, "Stream({code:?}): code");
        assert_eq!(
            status.message(),
            format!("the sender's stream failed ({code:?})"),
            "Stream({code:?}): message"
        );
    }
}
