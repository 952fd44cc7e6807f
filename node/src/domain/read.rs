//! Typed reads: each query paired with the one reply kind it gets, so that a
//! caller asks for [`ReadSettings`] and gets [`Settings`]. The pairing lives
//! here once instead of in a `match` at every call site; [`Query`] and
//! [`QueryReply`] stay the forms that travel to the leader and back.

use super::authority::CaView;
use super::client::{ClientFilter, ClientPage, ClientRecord};
use super::command::{NodeEndpoints, Query, QueryReply, RequestDigest, RequestId};
use super::settings::Settings;
use super::slot::{SlotId, SlotRecord};

/// A query whose reply has one expected kind.
pub trait Read {
    /// What the caller gets.
    type Answer;
    /// Names the read in an error about a reply of the wrong kind.
    const NAME: &'static str;
    /// The query as the state machine takes it.
    fn into_query(self) -> Query;
    /// The answer in `reply`, or `reply` back when it is of another kind
    /// (a bug on the answering side).
    fn answer(reply: QueryReply) -> Result<Self::Answer, QueryReply>;
}

/// The settings (defaults when none were set).
#[derive(Clone, Copy, Debug)]
pub struct ReadSettings;

impl Read for ReadSettings {
    type Answer = Settings;
    const NAME: &'static str = "a settings read";
    fn into_query(self) -> Query {
        Query::Settings
    }
    fn answer(reply: QueryReply) -> Result<Settings, QueryReply> {
        match reply {
            QueryReply::Settings(s) => Ok(s),
            other => Err(other),
        }
    }
}

/// The CA and how many clients its replacement would invalidate.
#[derive(Clone, Copy, Debug)]
pub struct ReadCa;

impl Read for ReadCa {
    type Answer = CaView;
    const NAME: &'static str = "a CA read";
    fn into_query(self) -> Query {
        Query::Ca
    }
    fn answer(reply: QueryReply) -> Result<CaView, QueryReply> {
        match reply {
            QueryReply::Ca(view) => Ok(*view),
            other => Err(other),
        }
    }
}

/// Router certificate slots, in the order asked (an empty record for a slot
/// never written).
#[derive(Clone, Debug)]
pub struct ReadSlots(pub Vec<SlotId>);

impl Read for ReadSlots {
    type Answer = Vec<(SlotId, SlotRecord)>;
    const NAME: &'static str = "a slot read";
    fn into_query(self) -> Query {
        Query::Slots(self.0)
    }
    fn answer(reply: QueryReply) -> Result<Self::Answer, QueryReply> {
        match reply {
            QueryReply::Slots(s) => Ok(s),
            other => Err(other),
        }
    }
}

/// One client, with the CA epoch of the same state (its state derives from
/// both, so they come from one read).
#[derive(Clone, Debug)]
pub struct ReadClient(pub String);

/// A client as [`ReadClient`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAt {
    pub client: Option<ClientRecord>,
    /// The current CA epoch in the state the client was read from.
    pub ca_epoch: u64,
}

impl Read for ReadClient {
    type Answer = ClientAt;
    const NAME: &'static str = "a client read";
    fn into_query(self) -> Query {
        Query::Client(self.0)
    }
    fn answer(reply: QueryReply) -> Result<ClientAt, QueryReply> {
        match reply {
            QueryReply::Client { client, ca_epoch } => Ok(ClientAt {
                client: client.map(|c| *c),
                ca_epoch,
            }),
            other => Err(other),
        }
    }
}

/// A page of the client listing.
#[derive(Clone, Debug)]
pub struct ListClients {
    pub filter: ClientFilter,
    pub after: Option<Vec<u8>>,
    pub limit: u32,
    /// Unix seconds at the reader: decides who has expired.
    pub now: i64,
}

impl Read for ListClients {
    type Answer = ClientPage;
    const NAME: &'static str = "a client listing";
    fn into_query(self) -> Query {
        let ListClients {
            filter,
            after,
            limit,
            now,
        } = self;
        Query::ListClients {
            filter,
            after,
            limit,
            now,
        }
    }
    fn answer(reply: QueryReply) -> Result<ClientPage, QueryReply> {
        match reply {
            QueryReply::Clients(page) => Ok(page),
            other => Err(other),
        }
    }
}

/// Live clients per CA epoch.
#[derive(Clone, Copy, Debug)]
pub struct CountClients;

/// What [`CountClients`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCounts {
    pub current_epoch: u64,
    /// (epoch, live clients), by epoch.
    pub by_epoch: Vec<(u64, u64)>,
}

impl Read for CountClients {
    type Answer = ClientCounts;
    const NAME: &'static str = "a client count";
    fn into_query(self) -> Query {
        Query::ClientCounts
    }
    fn answer(reply: QueryReply) -> Result<ClientCounts, QueryReply> {
        match reply {
            QueryReply::ClientCounts {
                current_epoch,
                by_epoch,
            } => Ok(ClientCounts {
                current_epoch,
                by_epoch,
            }),
            other => Err(other),
        }
    }
}

/// Every revoked client, with the current CA epoch (for the CRL).
#[derive(Clone, Copy, Debug)]
pub struct ListRevoked;

/// What [`ListRevoked`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedClients {
    pub ca_epoch: u64,
    pub clients: Vec<ClientRecord>,
}

impl Read for ListRevoked {
    type Answer = RevokedClients;
    const NAME: &'static str = "a revoked-client listing";
    fn into_query(self) -> Query {
        Query::RevokedClients
    }
    fn answer(reply: QueryReply) -> Result<RevokedClients, QueryReply> {
        match reply {
            QueryReply::RevokedClients { ca_epoch, clients } => {
                Ok(RevokedClients { ca_epoch, clients })
            }
            other => Err(other),
        }
    }
}

/// Every node's listener addresses as the nodes reported them.
#[derive(Clone, Copy, Debug)]
pub struct ReadNodeEndpoints;

impl Read for ReadNodeEndpoints {
    type Answer = Vec<NodeEndpoints>;
    const NAME: &'static str = "a node endpoint read";
    fn into_query(self) -> Query {
        Query::NodeEndpoints
    }
    fn answer(reply: QueryReply) -> Result<Vec<NodeEndpoints>, QueryReply> {
        match reply {
            QueryReply::NodeEndpoints(all) => Ok(all),
            other => Err(other),
        }
    }
}

/// Whether a request id was applied, and where.
#[derive(Clone, Copy, Debug)]
pub struct LookupWrite(pub RequestId);

/// What [`LookupWrite`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLookup {
    /// The log index the id was applied at, if it was.
    pub log_index: Option<u64>,
    /// The digest of the request first applied under the id, when it came
    /// with one.
    pub digest: Option<RequestDigest>,
}

impl Read for LookupWrite {
    type Answer = WriteLookup;
    const NAME: &'static str = "a request id lookup";
    fn into_query(self) -> Query {
        Query::LookupWrite(self.0)
    }
    fn answer(reply: QueryReply) -> Result<WriteLookup, QueryReply> {
        match reply {
            QueryReply::LookupWrite { log_index, digest } => Ok(WriteLookup { log_index, digest }),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::MemState;
    use super::super::{query, RequestId};
    use super::*;

    /// Whether the typed read of `q`'s kind takes the reply `q` gets. The
    /// match is exhaustive: a new query does not compile here until it has
    /// its typed read.
    fn typed_read_takes(q: &Query, reply: QueryReply) -> bool {
        match q {
            Query::Settings => ReadSettings::answer(reply).is_ok(),
            Query::Ca => ReadCa::answer(reply).is_ok(),
            Query::Slots(_) => ReadSlots::answer(reply).is_ok(),
            Query::Client(_) => ReadClient::answer(reply).is_ok(),
            Query::ListClients { .. } => ListClients::answer(reply).is_ok(),
            Query::ClientCounts => CountClients::answer(reply).is_ok(),
            Query::RevokedClients => ListRevoked::answer(reply).is_ok(),
            Query::NodeEndpoints => ReadNodeEndpoints::answer(reply).is_ok(),
            Query::LookupWrite(_) => LookupWrite::answer(reply).is_ok(),
        }
    }

    fn every_query() -> Vec<Query> {
        vec![
            ReadSettings.into_query(),
            ReadCa.into_query(),
            ReadSlots(vec![SlotId::new(super::super::SlotKind::Local, 1)]).into_query(),
            ReadClient("tablet-7".into()).into_query(),
            ListClients {
                filter: ClientFilter::default(),
                after: None,
                limit: 10,
                now: 0,
            }
            .into_query(),
            CountClients.into_query(),
            ListRevoked.into_query(),
            ReadNodeEndpoints.into_query(),
            LookupWrite(RequestId([7; 16])).into_query(),
        ]
    }

    #[test]
    fn every_typed_read_takes_the_reply_its_query_gets() {
        let state = MemState::default();
        for q in every_query() {
            let reply = query(&state, &q).unwrap().unwrap();
            assert!(typed_read_takes(&q, reply.clone()), "{q:?} -> {reply:?}");
        }
    }

    #[test]
    fn a_reply_of_another_kind_comes_back_unchanged() {
        let wrong = QueryReply::NodeEndpoints(Vec::new());
        assert_eq!(ReadSettings::answer(wrong.clone()), Err(wrong.clone()));
        let state = MemState::default();
        for q in every_query() {
            if matches!(q, Query::NodeEndpoints) {
                continue;
            }
            assert!(!typed_read_takes(&q, wrong.clone()), "{q:?}");
        }
        let settings = query(&state, &Query::Settings).unwrap().unwrap();
        assert!(!typed_read_takes(&Query::NodeEndpoints, settings));
    }

    #[test]
    fn typed_answers_carry_the_reply_fields() {
        let state = MemState::default();
        let reply = query(&state, &Query::Client("tablet-7".into()))
            .unwrap()
            .unwrap();
        assert_eq!(
            ReadClient::answer(reply),
            Ok(ClientAt {
                client: None,
                ca_epoch: 0
            })
        );
        let reply = query(&state, &Query::LookupWrite(RequestId([1; 16])))
            .unwrap()
            .unwrap();
        assert_eq!(
            LookupWrite::answer(reply),
            Ok(WriteLookup {
                log_index: None,
                digest: None
            })
        );
    }
}
