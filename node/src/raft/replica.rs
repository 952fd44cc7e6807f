//! The local Raft member as the API sees it: writes, linearizable reads and
//! membership changes run on the leader, forwarded there from any node; stale
//! reads and status are served locally.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{
    ClientWriteError, ForwardToLeader, InitializeError, LinearizableReadError, RaftError,
};
use openraft::raft::ReadPolicy;
use openraft::{BasicNode, ChangeMembers, ServerState};

use super::error::ReplicaError;
use super::forward::{ForwardRequest, ForwardResponse, MemberInfo, NodeStatus, VirtualListeners};
use super::network::{decode, encode, Peers};
use super::removal::Removal;
use super::snapshot_file::SnapshotReader;
use super::state_machine::{StateMachine, StateReader};
use super::types::{Raft, TypeConfig};
use crate::clock::now_ms;
use crate::domain::{
    self, Command, Proposal, Query, QueryReply, Read, Reply, RequestId, RequestKey, StateDigest,
};

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Confirmed by the leader with a quorum, and applied here.
    Linearizable,
    /// Whatever this node has applied.
    Stale,
}

/// How long `TriggerSnapshot` waits for a snapshot covering its target.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(300);

/// Progress of a restore, for the caller to show.
#[derive(Clone, Copy, Debug)]
pub struct RestoreProgress {
    pub written: u64,
    pub total: u64,
}

/// How long to look for a leader before giving up.
const LEADER_WAIT: Duration = Duration::from_secs(10);
const RESTORE_CHUNK_BYTES: usize = 1 << 20;
/// Deadline of a forwarded write or read.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of a forwarded membership change or snapshot (may wait for catch-up).
const SLOW_FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Replica {
    id: u64,
    addr: String,
    raft: Raft,
    reader: StateReader,
    sm: StateMachine,
    peers: Peers,
    seal_key_id: String,
    removal: Removal,
    virtual_listeners: std::sync::Mutex<Option<VirtualListeners>>,
}

/// How long the leader keeps trying to tell a removed node so.
const REMOVAL_NOTICE_WAIT: Duration = Duration::from_secs(30);

impl Replica {
    pub fn new(
        id: u64,
        addr: String,
        raft: Raft,
        sm: StateMachine,
        peers: Peers,
        seal_key_id: String,
        removal: Removal,
    ) -> Self {
        Self {
            id,
            addr,
            reader: sm.reader(),
            raft,
            sm,
            peers,
            seal_key_id,
            removal,
            virtual_listeners: std::sync::Mutex::new(None),
        }
    }

    /// Records what this node's virtual listeners do, for status.
    pub fn set_virtual_listeners(&self, state: Option<VirtualListeners>) {
        *self
            .virtual_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// `Removed` once this node was removed from the cluster: the API
    /// refuses every call with it.
    pub fn check_member(&self) -> Result<(), ReplicaError> {
        match self.removal.removed_at() {
            Some(log_index) => Err(ReplicaError::Removed {
                node_id: self.id,
                log_index,
            }),
            None => Ok(()),
        }
    }

    /// Records that the membership change at `log_index` removed this node
    /// (told by the leader that committed it, or done here).
    pub fn mark_removed(&self, log_index: u64) -> Result<(), ReplicaError> {
        if self
            .removal
            .mark(log_index)
            .map_err(|e| ReplicaError::storage("writing the removal marker", e))?
        {
            tracing::error!(
                node_id = self.id,
                log_index,
                "this node was removed from the cluster: the API now refuses every call; \
                 to add it back, wipe its data dir and add it as a new learner"
            );
        }
        Ok(())
    }

    /// Tells node `id` at `addr` that it was removed at `log_index`, retrying
    /// in the background while it is unreachable.
    fn notify_removed(&self, id: u64, addr: String, log_index: u64) {
        let peers = self.peers.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < REMOVAL_NOTICE_WAIT {
                if let Ok(mut client) = peers.client(id, &addr) {
                    let told = tokio::time::timeout(
                        Duration::from_secs(1),
                        client.removed(encode(&log_index)),
                    )
                    .await;
                    if matches!(told, Ok(Ok(_))) {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tracing::warn!(
                node_id = id,
                %addr,
                log_index,
                "could not tell the removed node that it was removed; it will answer from a frozen state until wiped"
            );
        });
    }

    /// Where temporary snapshot files (uploads, exports) are written.
    pub fn scratch_dir(&self) -> &Path {
        self.sm.snapshot_dir()
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

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

    pub async fn read(
        &self,
        query: Query,
        consistency: Consistency,
    ) -> Result<QueryReply, ReplicaError> {
        match consistency {
            Consistency::Stale => self.query_local(&query),
            Consistency::Linearizable => Ok(self.linearizable_read(query).await?.0),
        }
    }

    /// A read confirmed by the leader; returns the reply and the read index.
    async fn linearizable_read(&self, query: Query) -> Result<(QueryReply, u64), ReplicaError> {
        match self.execute(ForwardRequest::Read(query)).await? {
            ForwardResponse::Read { reply, read_index } => Ok((reply, read_index)),
            other => Err(ReplicaError::unexpected("a read", &other)),
        }
    }

    /// Answers from this node's applied state, without the leader (sync:
    /// usable from a TLS handshake).
    pub fn query_local(&self, query: &Query) -> Result<QueryReply, ReplicaError> {
        Ok(domain::query(&self.reader, query).map_err(|e| {
            // The reader refuses reads of a partly installed snapshot.
            if e.kind() == std::io::ErrorKind::WouldBlock {
                ReplicaError::InstallingSnapshot { node_id: self.id }
            } else {
                ReplicaError::storage("reading the applied state", e)
            }
        })??)
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
                validate_addr(addr)?;
                if self.membership().iter().any(|m| m.id == *id) {
                    return Err(ReplicaError::AlreadyMember { id: *id });
                }
                let resp = self
                    .raft
                    .add_learner(*id, BasicNode { addr: addr.clone() }, *wait)
                    .await
                    .map_err(|e| self.write_err(e))?;
                Ok(self.membership_reply(resp.log_id.index()))
            }
            ForwardRequest::Promote { ids } => {
                self.ensure_leader()?;
                let members = self.membership();
                for id in ids {
                    if !members.iter().any(|m| m.id == *id) {
                        return Err(ReplicaError::UnknownNode { id: *id });
                    }
                }
                let ids: BTreeSet<u64> = ids.iter().copied().collect();
                let resp = self
                    .raft
                    .change_membership(ChangeMembers::AddVoterIds(ids), false)
                    .await
                    .map_err(|e| self.write_err(e))?;
                Ok(self.membership_reply(resp.log_id.index()))
            }
            ForwardRequest::Remove { id } => {
                self.ensure_leader()?;
                let members = self.membership();
                let Some(member) = members.iter().find(|m| m.id == *id) else {
                    return Err(ReplicaError::UnknownNode { id: *id });
                };
                let change = if member.voter {
                    if members.iter().filter(|m| m.voter).count() == 1 {
                        return Err(ReplicaError::LastVoter { id: *id });
                    }
                    ChangeMembers::RemoveVoters(BTreeSet::from([*id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([*id]))
                };
                let resp = self
                    .raft
                    .change_membership(change, false)
                    .await
                    .map_err(|e| self.write_err(e))?;
                let log_index = resp.log_id.index();
                if *id == self.id {
                    self.mark_removed(log_index)?;
                } else {
                    self.notify_removed(*id, member.addr.clone(), log_index);
                }
                Ok(self.membership_reply(log_index))
            }
            ForwardRequest::TransferLeader { to } => {
                self.ensure_leader()?;
                if !self.membership().iter().any(|m| m.id == *to && m.voter) {
                    return Err(ReplicaError::UnknownNode { id: *to });
                }
                if *to == self.id {
                    return Ok(ForwardResponse::Leader { id: self.id });
                }
                self.raft
                    .trigger()
                    .transfer_leader(*to)
                    .await
                    .map_err(|e| ReplicaError::fatal("leadership transfer", e))?;
                let wait = Duration::from_secs(3);
                let to = *to;
                self.raft
                    .wait(Some(wait))
                    .metrics(|m| m.current_leader == Some(to), "leader moved")
                    .await
                    .map_err(|_| ReplicaError::TransferTimeout {
                        to,
                        waited_ms: wait.as_millis() as u64,
                    })?;
                Ok(ForwardResponse::Leader { id: to })
            }
            ForwardRequest::TriggerSnapshot { purge_log } => {
                self.ensure_leader()?;
                let target = self
                    .raft
                    .metrics()
                    .borrow_watched()
                    .last_applied
                    .as_ref()
                    .map(|id| id.index())
                    .unwrap_or(0);
                // A trigger is ignored while a snapshot is being built (the
                // policy may have started one): trigger again until one
                // covers the target.
                let started = Instant::now();
                let metrics = loop {
                    self.raft
                        .trigger()
                        .snapshot()
                        .await
                        .map_err(|e| ReplicaError::fatal("snapshot trigger", e))?;
                    let built = self
                        .raft
                        .wait(Some(Duration::from_secs(5)))
                        .metrics(
                            |m| m.snapshot.as_ref().is_some_and(|id| id.index() >= target),
                            "snapshot built",
                        )
                        .await;
                    match built {
                        Ok(m) => break m,
                        Err(_) if started.elapsed() < SNAPSHOT_WAIT => continue,
                        Err(e) => return Err(ReplicaError::wait("snapshot", e)),
                    }
                };
                let index = metrics.snapshot.as_ref().map(|id| id.index()).unwrap_or(0);
                if *purge_log {
                    self.raft
                        .trigger()
                        .purge_log(index)
                        .await
                        .map_err(|e| ReplicaError::fatal("log purge", e))?;
                }
                Ok(ForwardResponse::Snapshot {
                    node_id: self.id,
                    index,
                })
            }
        }
    }

    fn ensure_leader(&self) -> Result<(), ReplicaError> {
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

    fn write_err(&self, e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ReplicaError {
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

    /// The members as this node knows them.
    pub fn membership(&self) -> Vec<MemberInfo> {
        let m = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .clone();
        let membership = m.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| MemberInfo {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect()
    }

    fn membership_reply(&self, log_index: u64) -> ForwardResponse {
        ForwardResponse::Membership {
            members: self.membership(),
            log_index,
        }
    }

    /// Initializes a new cluster. `members` empty means this node alone.
    pub async fn init(
        &self,
        members: BTreeMap<u64, String>,
    ) -> Result<Vec<MemberInfo>, ReplicaError> {
        let mut nodes = BTreeMap::new();
        if members.is_empty() {
            nodes.insert(
                self.id,
                BasicNode {
                    addr: self.addr.clone(),
                },
            );
        }
        for (id, addr) in members {
            validate_addr(&addr)?;
            nodes.insert(id, BasicNode { addr });
        }
        match self.raft.initialize(nodes.clone()).await {
            Ok(()) => Ok(nodes
                .into_iter()
                .map(|(id, n)| MemberInfo {
                    id,
                    addr: n.addr,
                    voter: true,
                })
                .collect()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                Err(ReplicaError::AlreadyInitialized {
                    members: self.membership().iter().map(|m| m.id).collect(),
                })
            }
            Err(RaftError::APIError(InitializeError::NotInMembers(_))) => {
                Err(ReplicaError::InvalidAddress {
                    addr: format!("node {}", self.id),
                    reason: "the node answering init must be one of the members".into(),
                })
            }
            Err(e) => Err(ReplicaError::raft("initialize", e)),
        }
    }

    /// This node's own view, for status.
    pub fn node_status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        let info = self.reader.applied_info();
        let members = self.membership();
        let is_voter = members.iter().any(|x| x.id == self.id && x.voter);
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Follower if is_voter => "follower",
            ServerState::Follower | ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        NodeStatus {
            node_id: self.id,
            addr: self.addr.clone(),
            initialized: !members.is_empty(),
            state: state.to_string(),
            term: m.current_term,
            leader_id: m.current_leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: m.cluster_committed.as_ref().map_or(0, |c| c.index()),
            applied_index: info.index,
            digest: info.digest.to_hex(),
            snapshot_index: m.snapshot.as_ref().map(|s| s.index()).unwrap_or(0),
            members,
            seal_key_id: self.seal_key_id.clone(),
            virtual_listeners: self
                .virtual_listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Every member's view, asked in parallel with a short deadline.
    pub async fn member_statuses(&self) -> Vec<(MemberInfo, Result<NodeStatus, String>)> {
        let members = self.membership();
        let asks = members.into_iter().map(|member| async move {
            let result = self.status_of(&member).await;
            (member, result)
        });
        futures::future::join_all(asks).await
    }

    /// `member`'s own view (this node's without asking).
    async fn status_of(&self, member: &MemberInfo) -> Result<NodeStatus, String> {
        if member.id == self.id {
            return Ok(self.node_status());
        }
        let mut client = self
            .peers
            .client(member.id, &member.addr)
            .map_err(|e| e.to_string())?;
        let reply =
            tokio::time::timeout(Duration::from_millis(700), client.node_status(encode(&())))
                .await
                .map_err(|_| "no answer within 700 ms".to_string())?
                .map_err(|s| s.message().to_string())?;
        decode::<NodeStatus>(reply.get_ref())
    }

    /// What the leader's virtual listeners do once they act on `address`,
    /// waiting up to `wait`: `None` when the leader has no virtual ports,
    /// cannot be asked, or did not act on it in time.
    pub async fn leader_virtual_listeners(
        &self,
        address: &str,
        wait: Duration,
    ) -> Option<(u64, VirtualListeners)> {
        let deadline = Instant::now() + wait;
        loop {
            let leader = self.raft.metrics().borrow_watched().current_leader;
            let member = leader.and_then(|id| self.membership().into_iter().find(|m| m.id == id));
            if let Some(member) = member {
                let state = self.status_of(&member).await.ok()?.virtual_listeners?;
                if state.address() == Some(address) {
                    return Some((member.id, state));
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes a consistent snapshot of this node's applied state to a new file.
    /// With `Linearizable`, first waits until this node has applied everything
    /// the leader had committed.
    pub async fn export_snapshot(&self, consistency: Consistency) -> Result<PathBuf, ReplicaError> {
        if consistency == Consistency::Linearizable {
            // The leader confirms its commit index; this node then applies up to it.
            let (_, read_index) = self.linearizable_read(Query::Settings).await?;
            self.raft
                .wait(Some(Duration::from_secs(30)))
                .applied_index_at_least(Some(read_index), "caught up to the leader's read index")
                .await
                .map_err(|e| ReplicaError::wait("catch-up to the read index", e))?;
        }
        let sm = self.sm.clone();
        let path = self
            .sm
            .snapshot_dir()
            .join(format!("export-{}.tmp", hex::encode(random_request_id().0)));
        let out = path.clone();
        tokio::task::spawn_blocking(move || sm.export(&out))
            .await
            .map_err(|e| ReplicaError::storage("snapshot export", e))??;
        Ok(path)
    }

    /// Restores a saved snapshot file into this (empty) cluster through Raft,
    /// in chunks, then checks the resulting digest.
    pub async fn restore(
        &self,
        path: &Path,
        mut progress: impl FnMut(RestoreProgress),
    ) -> Result<(u64, StateDigest, u64), ReplicaError> {
        let file = path.to_path_buf();
        let (header, _) = tokio::task::spawn_blocking(move || SnapshotReader::verify(&file))
            .await
            .map_err(|e| ReplicaError::storage("snapshot verification", e))??;
        if header.seal_key_id != self.seal_key_id {
            return Err(ReplicaError::SealKeyMismatch {
                snapshot_key_id: header.seal_key_id,
                cluster_key_id: self.seal_key_id.clone(),
            });
        }
        let file = path.to_path_buf();
        let (records, digest) =
            tokio::task::spawn_blocking(move || SnapshotReader::records_to_restore(&file))
                .await
                .map_err(|e| ReplicaError::storage("snapshot read", e))??;
        let total = records.len() as u64;
        // Request ids unique to this invocation: a retried step is applied once,
        // while a later restore is judged afresh (an interrupted one resumes
        // through the restore marker, not through these ids).
        let base: [u8; 8] = crate::pki::random_array();
        let step_id = |n: u64| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&base);
            id[8..].copy_from_slice(&n.to_be_bytes());
            RequestId(id)
        };
        self.write(Self::proposal_with_id(
            Command::RestoreBegin {
                records: total,
                digest,
            },
            step_id(0),
        ))
        .await?;
        let mut written = 0u64;
        let mut chunk = Vec::new();
        let mut chunk_bytes = 0;
        let mut step = 1;
        for (k, v) in records {
            chunk_bytes += k.len() + v.len();
            chunk.push((k, v));
            if chunk_bytes >= RESTORE_CHUNK_BYTES {
                written += chunk.len() as u64;
                let records = std::mem::take(&mut chunk);
                self.write(Self::proposal_with_id(
                    Command::RestoreChunk { records },
                    step_id(step),
                ))
                .await?;
                step += 1;
                chunk_bytes = 0;
                progress(RestoreProgress { written, total });
            }
        }
        if !chunk.is_empty() {
            written += chunk.len() as u64;
            self.write(Self::proposal_with_id(
                Command::RestoreChunk { records: chunk },
                step_id(step),
            ))
            .await?;
            progress(RestoreProgress { written, total });
        }
        let (reply, log_index) = self
            .write(Self::proposal_with_id(
                Command::RestoreFinish {
                    records: total,
                    digest,
                },
                step_id(u64::MAX),
            ))
            .await?;
        match reply {
            Reply::Restored { digest, .. } => Ok((total, digest, log_index)),
            // Finished by an earlier attempt of this same call.
            _ => Ok((total, self.reader.applied_info().digest, log_index)),
        }
    }
}

/// Checks a `host:port` address a node will be reached at.
pub fn validate_addr(addr: &str) -> Result<(), ReplicaError> {
    let invalid = |reason: &str| ReplicaError::InvalidAddress {
        addr: addr.to_string(),
        reason: reason.to_string(),
    };
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(invalid("expected host:port, like 10.0.0.5:7001"));
    };
    port.parse::<u16>()
        .map_err(|_| invalid("the port must be a number from 1 to 65535"))?;
    domain::validate_dns_name(host).map_err(|reason| invalid(&format!("host: {reason}")))?;
    Ok(())
}

fn random_request_id() -> RequestId {
    RequestId(crate::pki::random_array())
}

/// Typed reads: the reply kind checked once, here.
impl Replica {
    /// Reads `read` at `consistency` and returns its typed answer.
    pub async fn ask<R: Read>(
        &self,
        read: R,
        consistency: Consistency,
    ) -> Result<R::Answer, ReplicaError> {
        let reply = self.read(read.into_query(), consistency).await?;
        R::answer(reply).map_err(|other| ReplicaError::unexpected(R::NAME, &other))
    }

    /// [`Replica::ask`] from this node's applied state (sync: usable from a
    /// TLS handshake).
    pub fn ask_local<R: Read>(&self, read: R) -> Result<R::Answer, ReplicaError> {
        let reply = self.query_local(&read.into_query())?;
        R::answer(reply).map_err(|other| ReplicaError::unexpected(R::NAME, &other))
    }
}
