//! `apply()`: the deterministic transition from one state to the next. It reads
//! through a [`StateView`] and returns the record changes for the storage layer
//! to write, in one batch, with the log index they cover.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::authority::CaRecord;
use super::clients;
use super::command::{Command, Proposal, Query, QueryReply, Reply, RequestDigest};
use super::digest::StateDigest;
use super::error::DomainError;
use super::installs;
use super::key::{Key, DOMAIN_PREFIX, NODE_ENDPOINTS_PREFIX};
use super::layered::Layered;
use super::settings::Settings;
use super::slot::SlotRecord;

/// Read access to the current state. Implemented by the storage layer (over
/// RocksDB plus the not-yet-written changes of the batch) and by tests.
pub trait StateView {
    type Error: From<CorruptRecord>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Up to `limit` records whose key starts with `prefix`, from `start`
    /// (inclusive) on, in key order.
    fn scan(&self, prefix: &[u8], start: &[u8], limit: usize) -> Result<Records, Self::Error>;
    /// The digest of the domain records as they stand.
    fn digest(&self) -> StateDigest;
}

/// Key/value pairs in key order.
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A stored record that does not decode: the data on disk is damaged.
#[derive(Clone, Debug, thiserror::Error)]
#[error("stored record {key} does not decode: {reason}")]
pub struct CorruptRecord {
    pub key: String,
    pub reason: String,
}

/// One record written (`Some`) or deleted (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// The outcome of a command as the client sees it.
pub type Outcome = Result<Reply, DomainError>;

/// What applying one proposal produced.
#[derive(Debug)]
pub struct Applied {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
}

#[derive(Serialize, Deserialize)]
struct RestoreMarker {
    records: u64,
    digest: StateDigest,
}

/// Applies one proposal at `log_index`. Deterministic: the same view and
/// proposal always give the same outcome and changes. A refused command
/// changes nothing.
pub fn apply<V: StateView>(
    view: &V,
    proposal: &Proposal,
    log_index: u64,
) -> Result<Applied, V::Error> {
    match &proposal.command {
        Command::Batch(proposals) => apply_batch(view, proposals, log_index),
        _ => apply_one(view, proposal, log_index),
    }
}

/// Applies a proposal that is not a batch.
fn apply_one<V: StateView>(
    view: &V,
    proposal: &Proposal,
    log_index: u64,
) -> Result<Applied, V::Error> {
    let request_key = Key::Request(proposal.request_id).encode();
    let (command, digest) = proposal.command.undigested();
    if let Some(raw) = view.get(&request_key)? {
        let (log_index, first) = decode_request(&raw);
        let outcome = match (digest, first) {
            (Some(asked), Some(first)) if asked != first => Err(DomainError::RequestIdReused {
                id: proposal.request_id.to_string(),
            }),
            _ => Ok(Reply::AlreadyApplied { log_index }),
        };
        return Ok(Applied {
            outcome,
            changes: Vec::new(),
        });
    }
    let result = match command {
        Command::SetSettings(patch) => {
            let current: Settings = read(view, Key::Settings)?.unwrap_or_default();
            match patch.apply_to(&current, proposal.at_ms) {
                Ok((settings, mut warnings)) => {
                    warnings.extend(installs::virtual_cert_warnings(view, &current, &settings)?);
                    let changes = vec![put(Key::Settings, &settings)];
                    Ok((Reply::Settings { settings, warnings }, changes))
                }
                Err(e) => Err(e),
            }
        }
        Command::InstallCa {
            ca,
            replaces_epoch,
            confirm_invalidate_clients,
        } => installs::install_ca(
            view,
            ca,
            *replaces_epoch,
            *confirm_invalidate_clients,
            proposal.at_ms,
        )?,
        Command::PutSlotCert {
            slot,
            cert,
            activate,
            generated,
            from_csr,
        } => installs::put_slot_cert(
            view,
            *slot,
            cert,
            *activate,
            *generated,
            from_csr.as_deref(),
            proposal.at_ms,
        )?,
        Command::PutSlotCsr { slot, csr } => installs::put_slot_csr(view, *slot, csr)?,
        Command::ActivateSlot { slot } => installs::activate_slot(view, *slot)?,
        Command::ProvisionClient {
            client,
            replace,
            reprovision,
        } => clients::provision(view, client, *replace, *reprovision)?,
        Command::SetNodeEndpoints(endpoints) => Ok((
            Reply::NodeEndpointsSet,
            vec![put(Key::NodeEndpoints(endpoints.node), endpoints)],
        )),
        Command::RevokeClient { id, reason } => {
            clients::revoke(view, id, reason, proposal.at_ms, log_index)?
        }
        Command::RestoreBegin { records, digest } => restore_begin(view, *records, *digest)?,
        Command::RestoreChunk { records } => restore_chunk(view, records)?,
        Command::RestoreFinish { records, digest } => restore_finish(view, *records, *digest)?,
        Command::Batch(_) => unreachable!("batches are applied by apply_batch"),
        Command::Digested { .. } => Err(DomainError::NestedDigest),
    };
    Ok(match result {
        Ok((reply, mut changes)) => {
            changes.push(Change {
                key: request_key,
                value: Some(encode_request(log_index, digest)),
            });
            Applied {
                outcome: Ok(reply),
                changes,
            }
        }
        Err(e) => Applied {
            outcome: Err(e),
            changes: Vec::new(),
        },
    })
}

/// Applies each proposal of a batch in order, each seeing the changes of
/// those before it. The batch itself records nothing: each proposal records
/// its own request id, so a retried batch re-applies nothing twice.
fn apply_batch<V: StateView>(
    view: &V,
    proposals: &[Proposal],
    log_index: u64,
) -> Result<Applied, V::Error> {
    let mut layered = Layered::new(view);
    let mut outcomes = Vec::with_capacity(proposals.len());
    for p in proposals {
        if !p.command.batchable() {
            outcomes.push(Err(DomainError::NotBatchable {
                command: p.command.name().to_string(),
            }));
            continue;
        }
        let applied = apply_one(&layered, p, log_index)?;
        layered.extend(applied.changes)?;
        outcomes.push(applied.outcome);
    }
    Ok(Applied {
        outcome: Ok(Reply::Batch(outcomes)),
        changes: layered.into_changes(),
    })
}

/// Answers a read from the state as the view shows it.
pub fn query<V: StateView>(
    view: &V,
    q: &Query,
) -> Result<Result<QueryReply, DomainError>, V::Error> {
    Ok(Ok(match q {
        Query::Settings => QueryReply::Settings(read(view, Key::Settings)?.unwrap_or_default()),
        Query::Ca => QueryReply::Ca(Box::new(installs::ca_view(view)?)),
        Query::Slots(slots) => {
            let mut out = Vec::with_capacity(slots.len());
            for slot in slots {
                let record: SlotRecord = read(view, Key::Slot(*slot))?.unwrap_or_default();
                out.push((*slot, record));
            }
            QueryReply::Slots(out)
        }
        Query::Client(id) => QueryReply::Client {
            client: read(view, Key::Client(id.clone()))?.map(Box::new),
            ca_epoch: read::<CaRecord, _>(view, Key::Ca)?.map_or(0, |c| c.epoch),
        },
        Query::ListClients {
            filter,
            after,
            limit,
            now,
        } => match clients::list(view, filter, after.as_deref(), *limit, *now)? {
            Ok(page) => QueryReply::Clients(page),
            Err(e) => return Ok(Err(e)),
        },
        Query::ClientCounts => QueryReply::ClientCounts {
            current_epoch: read::<CaRecord, _>(view, Key::Ca)?.map_or(0, |c| c.epoch),
            by_epoch: clients::counts(view)?,
        },
        Query::NodeEndpoints => {
            let mut all = Vec::new();
            for (_, v) in view.scan(NODE_ENDPOINTS_PREFIX.as_bytes(), b"", usize::MAX)? {
                if let Ok(e) = serde_json::from_slice(&v) {
                    all.push(e);
                }
            }
            QueryReply::NodeEndpoints(all)
        }
        Query::RevokedClients => QueryReply::RevokedClients {
            ca_epoch: read::<CaRecord, _>(view, Key::Ca)?.map_or(0, |c| c.epoch),
            clients: clients::revoked(view)?,
        },
        Query::LookupWrite(id) => {
            let found = view
                .get(&Key::Request(*id).encode())?
                .map(|raw| decode_request(&raw));
            QueryReply::LookupWrite {
                log_index: found.map(|(index, _)| index),
                digest: found.and_then(|(_, digest)| digest),
            }
        }
    }))
}

pub(super) type Step = Result<(Reply, Vec<Change>), DomainError>;

fn restore_begin<V: StateView>(
    view: &V,
    records: u64,
    digest: StateDigest,
) -> Result<Step, V::Error> {
    if let Some(marker) = read::<RestoreMarker, _>(view, Key::Restore)? {
        if marker.digest != digest {
            return Ok(Err(DomainError::OtherRestoreInProgress {
                in_progress: marker.digest.to_hex(),
            }));
        }
        // The same restore again: resume it.
        return Ok(Ok((Reply::RestoreStarted, Vec::new())));
    }
    if holds_operator_records(view)? {
        return Ok(Err(DomainError::NotEmpty));
    }
    Ok(Ok((
        Reply::RestoreStarted,
        vec![put(Key::Restore, &RestoreMarker { records, digest })],
    )))
}

fn restore_chunk<V: StateView>(view: &V, records: &[(Vec<u8>, Vec<u8>)]) -> Result<Step, V::Error> {
    if view.get(&Key::Restore.encode())?.is_none() {
        return Ok(Err(DomainError::NoRestoreInProgress));
    }
    if records.iter().any(|(k, _)| !Key::is_domain(k)) {
        return Ok(Err(DomainError::ForeignRecord));
    }
    // The backup's listener records describe the nodes it was saved from;
    // this cluster's nodes keep their own.
    let changes = records
        .iter()
        .filter(|(k, _)| !Key::is_node_reported(k))
        .map(|(k, v)| Change {
            key: k.clone(),
            value: Some(v.clone()),
        })
        .collect();
    Ok(Ok((
        Reply::RestoreChunkWritten {
            records: records.len() as u64,
        },
        changes,
    )))
}

fn restore_finish<V: StateView>(
    view: &V,
    records: u64,
    digest: StateDigest,
) -> Result<Step, V::Error> {
    let Some(marker) = read::<RestoreMarker, _>(view, Key::Restore)? else {
        return Ok(Err(DomainError::NoRestoreInProgress));
    };
    if marker.digest != digest {
        return Ok(Err(DomainError::OtherRestoreInProgress {
            in_progress: marker.digest.to_hex(),
        }));
    }
    // `digest` covers the backup's records without its listener records; the
    // state also holds this cluster's own.
    let mut expected = digest;
    for (k, v) in view.scan(NODE_ENDPOINTS_PREFIX.as_bytes(), b"", usize::MAX)? {
        expected.update(&k, None, Some(&v));
    }
    let actual = view.digest();
    if actual != expected {
        return Ok(Err(DomainError::RestoreDigestMismatch {
            expected: expected.to_hex(),
            actual: actual.to_hex(),
        }));
    }
    Ok(Ok((
        Reply::Restored {
            records,
            digest: actual,
        },
        vec![Change {
            key: Key::Restore.encode(),
            value: None,
        }],
    )))
}

/// Whether the state holds a domain record besides those nodes write about
/// themselves: a cluster started with client listeners is still fresh.
pub fn holds_operator_records<V: StateView>(view: &V) -> Result<bool, V::Error> {
    let Some((first, _)) = view.scan(DOMAIN_PREFIX, b"", 1)?.pop() else {
        return Ok(false);
    };
    if !Key::is_node_reported(&first) {
        return Ok(true);
    }
    // Node records share one prefix: look past it ('0' follows '/').
    let past = format!("{}0", NODE_ENDPOINTS_PREFIX.trim_end_matches('/'));
    Ok(!view.scan(DOMAIN_PREFIX, past.as_bytes(), 1)?.is_empty())
}

pub(super) fn read<T: DeserializeOwned, V: StateView>(
    view: &V,
    key: Key,
) -> Result<Option<T>, V::Error> {
    let raw_key = key.encode();
    match view.get(&raw_key)? {
        None => Ok(None),
        Some(raw) => serde_json::from_slice(&raw).map(Some).map_err(|e| {
            CorruptRecord {
                key: String::from_utf8_lossy(&raw_key).into_owned(),
                reason: e.to_string(),
            }
            .into()
        }),
    }
}

pub(super) fn put<T: Serialize>(key: Key, value: &T) -> Change {
    Change {
        key: key.encode(),
        value: Some(serde_json::to_vec(value).expect("domain records must serialize")),
    }
}

/// A request record: the log index it was applied at (8 bytes, big
/// endian), then the request's digest when it came with one.
fn encode_request(log_index: u64, digest: Option<RequestDigest>) -> Vec<u8> {
    let mut raw = log_index.to_be_bytes().to_vec();
    if let Some(d) = digest {
        raw.extend_from_slice(&d.0);
    }
    raw
}

fn decode_request(raw: &[u8]) -> (u64, Option<RequestDigest>) {
    let index = decode_index(raw.get(..8).unwrap_or_default());
    let digest = raw
        .get(8..)
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .map(RequestDigest);
    (index, digest)
}

fn decode_index(raw: &[u8]) -> u64 {
    <[u8; 8]>::try_from(raw)
        .map(u64::from_be_bytes)
        .unwrap_or_default()
}
