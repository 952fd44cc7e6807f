//! Group commit of client writes. Under load, per-client writes arrive faster
//! than the log can take them one by one (a forward to the leader, an entry,
//! replication and an apply each); the batcher sends the first at once and
//! gathers the ones that arrive while it is in flight into one
//! [`Command::Batch`] entry. Each proposal keeps its request id and gets its
//! own outcome; an idle node adds no delay.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::error::ReplicaError;
use super::replica::Replica;
use crate::domain::{Command, Proposal, Reply};

/// Proposals per batch at most.
const MAX_BATCH: usize = 256;
/// Encoded bytes per batch at most: a lagging follower is sent up to
/// `max_payload_entries` (512) entries in one message, which must stay under
/// the 64 MiB message limit.
const MAX_BATCH_BYTES: usize = 64 << 10;
/// Batches in flight at once from this node.
const IN_FLIGHT: usize = 2;

type Written = Result<(Reply, u64), ReplicaError>;

struct Waiting {
    proposal: Proposal,
    reply: oneshot::Sender<Written>,
}

/// Sends batchable proposals through [`Replica::write`], batched. Dropping it
/// stops its task once the batches in flight are done.
pub struct Batcher {
    tx: mpsc::UnboundedSender<Waiting>,
}

impl Batcher {
    /// Starts the batching task on the current Tokio runtime.
    pub fn start(replica: Arc<Replica>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(replica, rx));
        Self { tx }
    }

    /// Writes `proposal` (a [`Command::batchable`] one), possibly together
    /// with others; returns its own reply and the log index of its entry.
    pub async fn write(&self, proposal: Proposal) -> Written {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Waiting { proposal, reply })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ReplicaError {
    ReplicaError::ShuttingDown
}

async fn run(replica: Arc<Replica>, mut rx: mpsc::UnboundedReceiver<Waiting>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // A proposal that did not fit in the previous batch.
    let mut carried: Option<(Waiting, usize)> = None;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (first, mut bytes) = match carried.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some(w) => {
                    let size = encoded_len(&w.proposal);
                    (w, size)
                }
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(w) = rx.try_recv() else { break };
            let size = encoded_len(&w.proposal);
            if bytes + size > MAX_BATCH_BYTES {
                carried = Some((w, size));
                break;
            }
            bytes += size;
            batch.push(w);
        }
        let replica = replica.clone();
        tokio::spawn(async move {
            commit(&replica, batch).await;
            drop(slot);
        });
    }
}

fn encoded_len(p: &Proposal) -> usize {
    super::codec::to_vec(p).map_or(MAX_BATCH_BYTES, |v| v.len())
}

async fn commit(replica: &Replica, mut batch: Vec<Waiting>) {
    if batch.len() == 1 {
        let w = batch.pop().expect("one proposal");
        let _ = w.reply.send(replica.write(w.proposal).await);
        return;
    }
    let (proposals, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|w| (w.proposal, w.reply)).unzip();
    let n = proposals.len();
    match replica
        .write(Replica::proposal(Command::Batch(proposals), None))
        .await
    {
        Ok((Reply::Batch(outcomes), log_index)) if outcomes.len() == n => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome.map(|r| (r, log_index)).map_err(Into::into));
            }
        }
        Ok((other, _)) => {
            for reply in replies {
                let _ = reply.send(Err(ReplicaError::unexpected(
                    &format!("a batch of {n}"),
                    &other,
                )));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
