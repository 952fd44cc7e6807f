//! When a node builds a snapshot. A snapshot writes the whole state, so a
//! fixed "every N entries" policy makes the cost per write grow with the
//! state (at a million clients, every few seconds of load rewrote gigabytes).
//! Instead a node snapshots once its log since the last snapshot holds at
//! least [`MIN_ENTRIES`] entries *and* half as many bytes as that snapshot:
//! building then costs a bounded amount per byte written, however large the
//! state, and the log on disk stays within about half a state beyond it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::state_machine::latest_snapshot;
use super::types::Raft;

/// Entries since the last snapshot before another is considered.
pub const MIN_ENTRIES: u64 = 20_000;
/// How often the condition is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Bytes appended to the log since the node started (see `LogStore`).
pub type LogBytes = Arc<AtomicU64>;

/// Runs the policy for `raft` until it shuts down.
pub fn spawn(raft: Raft, log_bytes: LogBytes, snapshot_dir: PathBuf) {
    tokio::spawn(async move {
        // Log bytes at the last snapshot this task asked for (or at start).
        let mut at_last = log_bytes.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let (applied, snapshot) = {
                let m = raft.metrics().borrow_watched().clone();
                (
                    m.last_applied.as_ref().map_or(0, |id| id.index()),
                    m.snapshot.as_ref().map_or(0, |id| id.index()),
                )
            };
            let written = log_bytes.load(Ordering::Relaxed).saturating_sub(at_last);
            let last_size = latest_snapshot_bytes(&snapshot_dir);
            if !due(applied.saturating_sub(snapshot), written, last_size) {
                continue;
            }
            at_last = log_bytes.load(Ordering::Relaxed);
            tracing::info!(
                applied,
                since_snapshot = applied - snapshot,
                log_bytes = written,
                last_snapshot_bytes = last_size,
                "building a snapshot"
            );
            if raft.trigger().snapshot().await.is_err() {
                return; // Raft has shut down.
            }
        }
    });
}

/// Whether a snapshot is due: enough entries, and enough log written since
/// the last snapshot to be worth rewriting the state for.
pub fn due(entries_since: u64, log_bytes_since: u64, last_snapshot_bytes: u64) -> bool {
    entries_since >= MIN_ENTRIES && log_bytes_since.saturating_mul(2) >= last_snapshot_bytes
}

fn latest_snapshot_bytes(dir: &std::path::Path) -> u64 {
    latest_snapshot(dir)
        .ok()
        .flatten()
        .and_then(|path| std::fs::metadata(path).ok())
        .map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_come_less_often_as_the_state_grows() {
        // Too few entries: never, whatever the bytes.
        assert!(!due(MIN_ENTRIES - 1, u64::MAX / 4, 0));
        // First snapshot: as soon as there are enough entries.
        assert!(due(MIN_ENTRIES, 1, 0));
        // A 2 GB state waits for 1 GB of log, not for 20 000 entries.
        let state = 2 << 30;
        assert!(!due(MIN_ENTRIES * 10, (1 << 30) - 1, state));
        assert!(due(MIN_ENTRIES * 10, 1 << 30, state));
    }
}
