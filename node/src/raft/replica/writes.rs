//! Writes and running requests on the leader: proposals, `execute` (here if
//! this node leads, else forwarded), and openraft's errors as ours.

use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, ForwardToLeader, LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use openraft::ServerState;

use super::Replica;
use crate::clock::now_ms;
use crate::domain::{Command, Proposal, Reply, RequestId, RequestKey};
use crate::raft::error::ReplicaError;
use crate::raft::forward::{ForwardRequest, ForwardResponse, MemberInfo};
use crate::raft::network::{decode, encode};
use crate::raft::types::TypeConfig;

/// How long to look for a leader before giving up.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Deadline of a forwarded write or read.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of a forwarded membership change or snapshot (may wait for catch-up).
const SLOW_FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

impl Replica {
    /// A fresh proposal for `command`, stamped here (invariant 1: the
    /// proposer decides ids and time; apply only reads them).
    /// A proposal of `command` under a request id this node chose.
    pub fn proposal_with_id(command: Command, request_id: RequestId) -> Proposal {
        Proposal {
            request_id,
            at_ms: now_ms(),
            command,
        }
    }

    /// A proposal of `command`; under the client's request key when it
    /// sent one (the request's digest is recorded with its id), else under
    /// a random id.
    pub fn proposal(command: Command, key: Option<RequestKey>) -> Proposal {
        let (request_id, command) = match key {
            Some(key) => (key.id, Command::digested(command, Some(key.digest))),
            None => (random_request_id(), command),
        };
        Proposal {
            request_id,
            at_ms: now_ms(),
            command,
        }
    }

    /// Applies a command through Raft; returns the reply and its log index.
    pub async fn write(&self, proposal: Proposal) -> Result<(Reply, u64), ReplicaError> {
        match self.execute(ForwardRequest::Write(proposal)).await? {
            ForwardResponse::Written { reply, log_index } => Ok((reply, log_index)),
            other => Err(ReplicaError::unexpected("a write", &other)),
        }
    }

    /// Changes the membership (`AddLearner`, `Promote` or `Remove`) on the
    /// leader; returns the members after the change and its log index.
    pub async fn change_membership(
        &self,
        change: ForwardRequest,
    ) -> Result<(Vec<MemberInfo>, u64), ReplicaError> {
        match self.execute(change).await? {
            ForwardResponse::Membership { members, log_index } => Ok((members, log_index)),
            other => Err(ReplicaError::unexpected("a membership change", &other)),
        }
    }

    /// Hands leadership to node `to` (0: any other voter); returns the new
    /// leader's id.
    pub async fn hand_over_leadership(&self, to: u64) -> Result<u64, ReplicaError> {
        match self.execute(ForwardRequest::TransferLeader { to }).await? {
            ForwardResponse::Leader { id } => Ok(id),
            other => Err(ReplicaError::unexpected("a leadership transfer", &other)),
        }
    }

    /// Has the leader take a snapshot now; returns the leader's id and the
    /// snapshot's log index.
    pub async fn snapshot_now(&self, purge_log: bool) -> Result<(u64, u64), ReplicaError> {
        match self
            .execute(ForwardRequest::TriggerSnapshot { purge_log })
            .await?
        {
            ForwardResponse::Snapshot { node_id, index } => Ok((node_id, index)),
            other => Err(ReplicaError::unexpected("a snapshot", &other)),
        }
    }

    /// Runs `req` on the leader: here if this node leads, else forwarded.
    pub async fn execute(&self, req: ForwardRequest) -> Result<ForwardResponse, ReplicaError> {
        let started = Instant::now();
        loop {
            let result = match self.execute_local(&req).await {
                Err(ReplicaError::NotLeader {
                    leader: Some((leader, addr)),
                    ..
                }) if leader != self.id => self.forward(leader, &addr, &req).await,
                other => other,
            };
            match result {
                Err(ReplicaError::NotLeader { .. })
                | Err(ReplicaError::Unreachable { .. })
                | Err(ReplicaError::CommitUnknown)
                    if started.elapsed() < LEADER_WAIT =>
                {
                    // Leadership is moving: wait for the next leader, then retry.
                    // Writes carry a request id, so a retry cannot apply twice
                    // (a write whose entry was discarded is proposed again).
                    self.wait_for_leader_change(Duration::from_millis(100))
                        .await;
                }
                Err(ReplicaError::NotLeader { leader: None, .. }) => {
                    return Err(ReplicaError::NoLeader {
                        waited_ms: started.elapsed().as_millis() as u64,
                    })
                }
                other => return other,
            }
        }
    }

    async fn wait_for_leader_change(&self, at_most: Duration) {
        let mut metrics = self.raft.metrics();
        let _ = tokio::time::timeout(at_most, metrics.changed()).await;
    }

    async fn forward(
        &self,
        leader: u64,
        addr: &str,
        req: &ForwardRequest,
    ) -> Result<ForwardResponse, ReplicaError> {
        let unreachable = |reason: String| ReplicaError::Unreachable {
            node_id: leader,
            addr: addr.to_string(),
            reason,
        };
        let mut client = self
            .peers
            .client(leader, addr)
            .map_err(|e| unreachable(e.to_string()))?;
        // A paused leader accepts connections but never answers: bound the wait
        // so that a new leader is found instead.
        let deadline = match req {
            ForwardRequest::Write(_) | ForwardRequest::Read(_) => FORWARD_TIMEOUT,
            _ => SLOW_FORWARD_TIMEOUT,
        };
        let reply = tokio::time::timeout(deadline, client.forward(encode(req)))
            .await
            .map_err(|_| unreachable(format!("no answer within {deadline:?}")))?
            .map_err(|s| unreachable(s.message().to_string()))?;
        let result: Result<ForwardResponse, ReplicaError> =
            decode(reply.get_ref()).map_err(unreachable)?;
        result
    }

    /// Runs `req` only if this node is the leader (the forward RPC's handler).
    pub async fn execute_local(
        &self,
        req: &ForwardRequest,
    ) -> Result<ForwardResponse, ReplicaError> {
        match req {
            ForwardRequest::Write(proposal) => {
                let resp = self
                    .raft
                    .client_write(proposal.clone())
                    .await
                    .map_err(|e| self.write_err(e))?;
                let reply = resp.data?;
                Ok(ForwardResponse::Written {
                    reply,
                    log_index: resp.log_id.index(),
                })
            }
            ForwardRequest::Read(query) => {
                let read = self
                    .raft
                    .ensure_linearizable(ReadPolicy::ReadIndex)
                    .await
                    .map_err(|e| self.read_err(e))?;
                let read_index = read.index();
                Ok(ForwardResponse::Read {
                    reply: self.query_local(query)?,
                    read_index,
                })
            }
            ForwardRequest::AddLearner { id, addr, wait } => {
                self.add_learner(*id, addr, *wait).await
            }
            ForwardRequest::Promote { ids } => self.promote(ids).await,
            ForwardRequest::Remove { id } => self.remove_member(*id).await,
            ForwardRequest::TransferLeader { to } => self.transfer_leader(*to).await,
            ForwardRequest::TriggerSnapshot { purge_log } => {
                self.trigger_snapshot(*purge_log).await
            }
        }
    }

    pub(super) fn ensure_leader(&self) -> Result<(), ReplicaError> {
        let m = self.raft.metrics().borrow_watched().clone();
        if m.state == ServerState::Leader {
            return Ok(());
        }
        if m.membership_config
            .membership()
            .voter_ids()
            .next()
            .is_none()
        {
            return Err(ReplicaError::NotInitialized);
        }
        let leader = m.current_leader.and_then(|id| {
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| (id, n.addr.clone()))
        });
        Err(ReplicaError::NotLeader {
            node_id: self.id,
            leader,
        })
    }

    pub(super) fn write_err(
        &self,
        e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
    ) -> ReplicaError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => self.not_leader(f),
            RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => {
                ReplicaError::CommitUnknown
            }
            other => ReplicaError::raft("client write", other),
        }
    }

    fn read_err(
        &self,
        e: RaftError<TypeConfig, LinearizableReadError<TypeConfig>>,
    ) -> ReplicaError {
        match e {
            RaftError::APIError(LinearizableReadError::ForwardToLeader(f)) => self.not_leader(f),
            other => ReplicaError::raft("linearizable read", other),
        }
    }

    /// openraft's "ask the leader" as our error: which leader, if known, or
    /// that there is no cluster at all yet.
    fn not_leader(&self, f: ForwardToLeader<TypeConfig>) -> ReplicaError {
        if f.leader_id.is_none() && self.membership().is_empty() {
            return ReplicaError::NotInitialized;
        }
        ReplicaError::NotLeader {
            node_id: self.id,
            leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
        }
    }
}

pub(super) fn random_request_id() -> RequestId {
    RequestId(crate::pki::random_array())
}
