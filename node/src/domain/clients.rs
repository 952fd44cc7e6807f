//! Apply rules and reads for provisioned clients: provision (new, replace,
//! re-provision), revoke, paged listings by state or user, per-epoch counts
//! and the revocation list. Every write keeps the indexes and counts in step
//! with the record in the same batch.

use super::authority::CaRecord;
use super::client::{ClientFilter, ClientPage, ClientRecord, ClientState, Revocation};
use super::command::Reply;
use super::error::DomainError;
use super::key::{
    Key, CLIENT_PREFIX, COUNT_PREFIX, EPOCH_INDEX, EXPIRY_INDEX, REVOKED_INDEX, USER_INDEX,
};
use super::state::{put, read, Change, StateView, Step};

/// The largest page a listing returns.
pub const MAX_PAGE: u32 = 1000;

fn delete(key: Key) -> Change {
    Change {
        key: key.encode(),
        value: None,
    }
}

fn marker(key: Key) -> Change {
    Change {
        key: key.encode(),
        value: Some(Vec::new()),
    }
}

fn count_change<V: StateView>(view: &V, epoch: u64, delta: i64) -> Result<Change, V::Error> {
    let n: u64 = read(view, Key::ClientCount(epoch))?.unwrap_or(0);
    let n = if delta < 0 {
        n.saturating_sub(delta.unsigned_abs())
    } else {
        n + delta as u64
    };
    Ok(put(Key::ClientCount(epoch), &n))
}

/// The index records of `c` (written on provision, removed on replace).
fn index_keys(c: &ClientRecord) -> Vec<Key> {
    let mut keys = vec![
        Key::ClientByUser(c.user.clone(), c.id.clone()),
        Key::ClientByExpiry(c.not_after, c.id.clone()),
    ];
    // Revoked clients leave the epoch index, so that listing invalidated or
    // provisioned clients walks live ones only.
    if c.revoked.is_some() {
        keys.push(Key::ClientRevoked(c.id.clone()));
    } else {
        keys.push(Key::ClientByEpoch(c.ca_epoch, c.id.clone()));
    }
    keys
}

pub(super) fn provision<V: StateView>(
    view: &V,
    client: &ClientRecord,
    replace: bool,
    reprovision: bool,
) -> Result<Step, V::Error> {
    let Some(ca) = read::<CaRecord, _>(view, Key::Ca)? else {
        return Ok(Err(DomainError::NoCa));
    };
    if ca.epoch != client.ca_epoch {
        return Ok(Err(DomainError::CaChanged {
            expected: client.ca_epoch,
            current: ca.epoch,
        }));
    }
    let existing: Option<ClientRecord> = read(view, Key::Client(client.id.clone()))?;
    let mut changes = Vec::new();
    match (&existing, reprovision) {
        (None, true) => {
            return Ok(Err(DomainError::UnknownClient {
                id: client.id.clone(),
            }))
        }
        (Some(old), true) if old.revoked.is_some() => {
            return Ok(Err(DomainError::ClientIsRevoked {
                id: client.id.clone(),
            }))
        }
        (Some(_), false) if !replace => {
            return Ok(Err(DomainError::ClientExists {
                id: client.id.clone(),
            }))
        }
        _ => {}
    }
    if let Some(old) = &existing {
        changes.extend(index_keys(old).into_iter().map(delete));
        if old.revoked.is_none() {
            changes.push(count_change(view, old.ca_epoch, -1)?);
        }
    }
    let mut record = client.clone();
    record.revoked = None;
    // A replaced record's count change and this one may touch the same
    // epoch: fold them into one write.
    let same_epoch = existing
        .as_ref()
        .is_some_and(|o| o.revoked.is_none() && o.ca_epoch == record.ca_epoch);
    if same_epoch {
        changes.retain(|c| c.key != Key::ClientCount(record.ca_epoch).encode());
    } else {
        changes.push(count_change(view, record.ca_epoch, 1)?);
    }
    changes.extend(index_keys(&record).into_iter().map(marker));
    changes.push(put(Key::Client(record.id.clone()), &record));
    Ok(Ok((Reply::Client(Box::new(record)), changes)))
}

pub(super) fn revoke<V: StateView>(
    view: &V,
    id: &str,
    reason: &str,
    at_ms: u64,
    log_index: u64,
) -> Result<Step, V::Error> {
    let Some(mut record) = read::<ClientRecord, _>(view, Key::Client(id.to_string()))? else {
        return Ok(Err(DomainError::UnknownClient { id: id.into() }));
    };
    if record.revoked.is_some() {
        return Ok(Err(DomainError::ClientAlreadyRevoked { id: id.into() }));
    }
    record.revoked = Some(Revocation {
        at_ms,
        reason: reason.to_string(),
        log_index,
    });
    let changes = vec![
        count_change(view, record.ca_epoch, -1)?,
        delete(Key::ClientByEpoch(record.ca_epoch, id.to_string())),
        marker(Key::ClientRevoked(id.to_string())),
        put(Key::Client(id.to_string()), &record),
    ];
    Ok(Ok((Reply::Client(Box::new(record)), changes)))
}

/// Live clients per CA epoch, ascending.
pub(super) fn counts<V: StateView>(view: &V) -> Result<Vec<(u64, u64)>, V::Error> {
    let mut out = Vec::new();
    for (k, v) in view.scan(COUNT_PREFIX.as_bytes(), b"", usize::MAX)? {
        let epoch = std::str::from_utf8(&k[COUNT_PREFIX.len()..])
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        let n: Option<u64> = serde_json::from_slice(&v).ok();
        if let (Some(e), Some(n)) = (epoch, n) {
            out.push((e, n));
        }
    }
    Ok(out)
}

/// Every revoked client, in key order (for the CRL).
pub(super) fn revoked<V: StateView>(view: &V) -> Result<Vec<ClientRecord>, V::Error> {
    let mut out = Vec::new();
    for (k, _) in view.scan(REVOKED_INDEX.as_bytes(), b"", usize::MAX)? {
        let id = String::from_utf8_lossy(&k[REVOKED_INDEX.len()..]).into_owned();
        if let Some(r) = read::<ClientRecord, _>(view, Key::Client(id))? {
            out.push(r);
        }
    }
    Ok(out)
}

/// One page of clients matching `filter`, continuing after `after` (the
/// `next` of the previous page; refused when it is not a key of the index
/// this filter walks). Walks one index; examines a bounded number
/// of keys per page, so a page is cheap even with millions of clients.
pub(super) fn list<V: StateView>(
    view: &V,
    filter: &ClientFilter,
    after: Option<&[u8]>,
    limit: u32,
    now: i64,
) -> Result<Result<ClientPage, DomainError>, V::Error> {
    let current = read::<CaRecord, _>(view, Key::Ca)?.map_or(0, |c| c.epoch);
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let (prefix, stop): (String, Option<Vec<u8>>) = match (&filter.user, filter.state) {
        (Some(user), _) => (format!("{USER_INDEX}{user}/"), None),
        (None, Some(ClientState::Invalidated)) => (
            EPOCH_INDEX.to_string(),
            Some(format!("{EPOCH_INDEX}{current:016x}/").into_bytes()),
        ),
        (None, Some(ClientState::Provisioned)) => (format!("{EPOCH_INDEX}{current:016x}/"), None),
        (None, Some(ClientState::Revoked)) => (REVOKED_INDEX.to_string(), None),
        (None, Some(ClientState::Expired)) => (
            EXPIRY_INDEX.to_string(),
            Some(format!("{EXPIRY_INDEX}{:016x}/", now.max(0)).into_bytes()),
        ),
        (None, None) => (CLIENT_PREFIX.to_string(), None),
    };
    let start = match after {
        Some(a) if a.starts_with(prefix.as_bytes()) => [a, &[0u8]].concat(),
        Some(_) => return Ok(Err(DomainError::InvalidPageToken)),
        None => prefix.clone().into_bytes(),
    };
    // Enough to fill a page when most keys match, bounded when few do.
    let budget = limit * 4 + 64;
    let keys = view.scan(prefix.as_bytes(), &start, budget)?;
    let exhausted = keys.len() < budget;
    let mut page = ClientPage {
        current_epoch: current,
        ..Default::default()
    };
    let scanned = keys.len();
    let mut consumed = 0;
    let mut last = None;
    let mut stopped = false;
    for (key, value) in keys {
        consumed += 1;
        if stop.as_deref().is_some_and(|s| key.as_slice() >= s) {
            stopped = true;
            break;
        }
        let record = if key.starts_with(CLIENT_PREFIX.as_bytes()) {
            serde_json::from_slice::<ClientRecord>(&value).ok()
        } else {
            let id = key
                .rsplit(|b| *b == b'/')
                .next()
                .map(|id| String::from_utf8_lossy(id).into_owned())
                .unwrap_or_default();
            read::<ClientRecord, _>(view, Key::Client(id))?
        };
        last = Some(key);
        let Some(record) = record else { continue };
        if filter
            .state
            .is_some_and(|s| record.state(current, now) != s)
        {
            continue;
        }
        page.clients.push(record);
        if page.clients.len() == limit {
            break;
        }
    }
    // More may follow unless the index ended (a stop key, or a short scan
    // that was read to its end).
    let ended = stopped || (exhausted && consumed == scanned);
    if !ended {
        page.next = last;
    }
    Ok(Ok(page))
}
