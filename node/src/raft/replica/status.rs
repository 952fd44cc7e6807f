//! Status: this node's own view, every member's view, and what the leader's
//! virtual listeners do.

use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;

use super::Replica;
use crate::raft::forward::{MemberInfo, NodeStatus, VirtualListeners};
use crate::raft::network::{decode, encode};

impl Replica {
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
}
