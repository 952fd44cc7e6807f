//! A bounded, self-stopping write load: `writers` closed-loop tasks, each
//! write numbered, every acknowledgement recorded with its time.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One acknowledged write.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub seq: u64,
    pub started: Instant,
    pub at: Instant,
}

impl Ack {
    pub fn latency(&self) -> Duration {
        self.at - self.started
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Ack>>>,
    failed: Arc<AtomicU64>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts the writers. `write(node, seq)` returns whether `seq` was
    /// acknowledged; writers spread over `nodes` and move on after a failure.
    /// Every writer stops by itself after `limit`.
    pub fn start<F, Fut>(writers: usize, nodes: usize, limit: Duration, write: F) -> Self
    where
        F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicU64::new(0));
        let seq = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + limit;
        let handles = (0..writers)
            .map(|w| {
                let (stop, acked, failed, seq, write) = (
                    stop.clone(),
                    acked.clone(),
                    failed.clone(),
                    seq.clone(),
                    write.clone(),
                );
                tokio::spawn(async move {
                    let mut node = w % nodes.max(1);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        if write(node, n).await {
                            let at = Instant::now();
                            acked.lock().expect("ack list").push(Ack {
                                seq: n,
                                started,
                                at,
                            });
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed);
                            node = (node + 1) % nodes.max(1);
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            acked,
            failed,
            handles,
        }
    }

    /// The first acknowledgement of a write started at or after `t`: after a
    /// leader is killed at `t`, such a write can only have been committed by
    /// its successor.
    ///
    /// Acks are appended in (nearly) time order, so only the tail is read:
    /// polling this while timing a failover must not load the machine.
    pub fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        let acked = self.acked.lock().expect("ack list");
        let slack = Duration::from_secs(5);
        acked
            .iter()
            .rev()
            .take_while(|a| a.at + slack >= t)
            .filter(|a| a.started >= t)
            .map(|a| a.at)
            .min()
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().expect("ack list").len()
    }

    pub fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Stops the writers and returns every acknowledgement.
    pub async fn finish(self) -> Vec<Ack> {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            let _ = h.await;
        }
        let acked = self.acked.lock().expect("ack list").clone();
        acked
    }
}
