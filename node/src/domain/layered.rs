//! A [`StateView`] with record changes laid over it: how the proposals of one
//! batch see the ones applied before them.

use std::collections::BTreeMap;

use super::digest::StateDigest;
use super::key::Key;
use super::state::{Change, Records, StateView};

pub(super) struct Layered<'a, V> {
    base: &'a V,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a, V: StateView> Layered<'a, V> {
    pub(super) fn new(base: &'a V) -> Self {
        Self {
            base,
            pending: BTreeMap::new(),
        }
    }

    pub(super) fn extend(&mut self, changes: Vec<Change>) {
        for c in changes {
            self.pending.insert(c.key, c.value);
        }
    }

    /// The net changes, one per key, in key order.
    pub(super) fn into_changes(self) -> Vec<Change> {
        self.pending
            .into_iter()
            .map(|(key, value)| Change { key, value })
            .collect()
    }
}

impl<V: StateView> StateView for Layered<'_, V> {
    type Error = V::Error;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, V::Error> {
        match self.pending.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }

    /// Whether a domain record exists. The deletions a batch may carry are
    /// not counted against the base: only restores, which are never batched,
    /// ask this.
    fn has_domain_records(&self) -> Result<bool, V::Error> {
        if self
            .pending
            .iter()
            .any(|(k, v)| Key::is_domain(k) && v.is_some())
        {
            return Ok(true);
        }
        self.base.has_domain_records()
    }

    fn scan(&self, prefix: &[u8], start: &[u8], limit: usize) -> Result<Records, V::Error> {
        let from = start.max(prefix).to_vec();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
            .base
            .scan(prefix, &from, limit.saturating_add(self.pending.len()))?
            .into_iter()
            .collect();
        for (k, v) in self.pending.range(from..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    /// The base's digest: a batch's own changes are digested by the storage
    /// layer when it writes them.
    fn digest(&self) -> StateDigest {
        self.base.digest()
    }
}
