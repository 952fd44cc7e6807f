//! Membership: who the members are, initializing a cluster, the member
//! changes run on the leader, and what a removed node does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use super::Replica;
use crate::domain;
use crate::raft::error::ReplicaError;
use crate::raft::forward::{ForwardResponse, MemberInfo};
use crate::raft::network::encode;

/// How long the leader keeps trying to tell a removed node so.
const REMOVAL_NOTICE_WAIT: Duration = Duration::from_secs(30);

impl Replica {
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

    /// Node `id` is a voter or learner in this node's membership, or this
    /// node knows no members yet (a new learner, or not initialized).
    pub fn knows_node(&self, id: u64) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let known: Vec<u64> = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        known.is_empty() || known.contains(&id)
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

    /// `AddLearner`, run on the leader (by `execute_local`).
    pub(super) async fn add_learner(
        &self,
        id: u64,
        addr: &str,
        wait: bool,
    ) -> Result<ForwardResponse, ReplicaError> {
        validate_addr(addr)?;
        if self.membership().iter().any(|m| m.id == id) {
            return Err(ReplicaError::AlreadyMember { id });
        }
        let resp = self
            .raft
            .add_learner(
                id,
                BasicNode {
                    addr: addr.to_string(),
                },
                wait,
            )
            .await
            .map_err(|e| self.write_err(e))?;
        Ok(self.membership_reply(resp.log_id.index()))
    }

    /// `Promote`, run on the leader (by `execute_local`).
    pub(super) async fn promote(&self, ids: &[u64]) -> Result<ForwardResponse, ReplicaError> {
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

    /// `Remove`, run on the leader (by `execute_local`).
    pub(super) async fn remove_member(&self, id: u64) -> Result<ForwardResponse, ReplicaError> {
        self.ensure_leader()?;
        let members = self.membership();
        let Some(member) = members.iter().find(|m| m.id == id) else {
            return Err(ReplicaError::UnknownNode { id });
        };
        let change = if member.voter {
            if members.iter().filter(|m| m.voter).count() == 1 {
                return Err(ReplicaError::LastVoter { id });
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        let resp = self
            .raft
            .change_membership(change, false)
            .await
            .map_err(|e| self.write_err(e))?;
        let log_index = resp.log_id.index();
        if id == self.id {
            self.mark_removed(log_index)?;
        } else {
            self.notify_removed(id, member.addr.clone(), log_index);
        }
        Ok(self.membership_reply(log_index))
    }

    /// `TransferLeader`, run on the leader (by `execute_local`).
    pub(super) async fn transfer_leader(&self, to: u64) -> Result<ForwardResponse, ReplicaError> {
        self.ensure_leader()?;
        if !self.membership().iter().any(|m| m.id == to && m.voter) {
            return Err(ReplicaError::UnknownNode { id: to });
        }
        if to == self.id {
            return Ok(ForwardResponse::Leader { id: self.id });
        }
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| ReplicaError::fatal("leadership transfer", e))?;
        let wait = Duration::from_secs(3);
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
