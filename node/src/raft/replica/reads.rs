//! Reads: stale ones from this node's applied state, linearizable ones
//! confirmed by the leader.

use super::{Consistency, Replica};
use crate::domain::{self, Query, QueryReply, Read};
use crate::raft::error::ReplicaError;
use crate::raft::forward::{ForwardRequest, ForwardResponse};

impl Replica {
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
    pub(super) async fn linearizable_read(
        &self,
        query: Query,
    ) -> Result<(QueryReply, u64), ReplicaError> {
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

    /// Reads `read` at `consistency` and returns its typed answer: the reply
    /// kind is checked here, once.
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
