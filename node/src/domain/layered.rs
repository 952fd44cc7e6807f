//! A [`StateView`] with record changes laid over it: how each proposal sees
//! those applied before it, inside a batch command and inside the storage
//! layer's batch of entries, which writes the net changes at the end.

use std::collections::BTreeMap;

use super::digest::StateDigest;
use super::key::Key;
use super::state::{Change, Records, StateView};

pub struct Layered<'a, V> {
    base: &'a V,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The digest with the changes laid over, when tracked.
    digest: Option<StateDigest>,
}

impl<'a, V: StateView> Layered<'a, V> {
    /// Changes over `base`; [`StateView::digest`] stays the base's.
    pub fn new(base: &'a V) -> Self {
        Self {
            base,
            pending: BTreeMap::new(),
            digest: None,
        }
    }

    /// Changes over `base`, with the digest kept up to date as they are laid
    /// over (what the storage layer writes).
    pub fn tracking_digest(base: &'a V) -> Self {
        Self {
            digest: Some(base.digest()),
            ..Self::new(base)
        }
    }

    /// Lays `changes` over the state, in order. A tracked digest is updated
    /// change by change against the value each replaces, which may be an
    /// earlier change of the same proposal (an index record deleted and
    /// written again).
    pub fn extend(&mut self, changes: Vec<Change>) -> Result<(), V::Error> {
        for change in changes {
            if self.digest.is_some() && Key::is_domain(&change.key) {
                let old = self.get(&change.key)?;
                if let Some(d) = self.digest.as_mut() {
                    d.update(&change.key, old.as_deref(), change.value.as_deref());
                }
            }
            self.pending.insert(change.key, change.value);
        }
        Ok(())
    }

    /// The net changes, one per key, in key order.
    pub fn into_changes(self) -> Vec<Change> {
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

    fn digest(&self) -> StateDigest {
        self.digest.unwrap_or_else(|| self.base.digest())
    }
}
