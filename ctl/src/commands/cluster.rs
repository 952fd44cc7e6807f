//! `mrctl cluster …`: init, status, membership, leadership.

use anyhow::{anyhow, Result};
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::{
    AddLearnerRequest, ChangeMembershipRequest, ClusterStatus, InitRequest, Member,
    MembershipReply, RemoveNodeRequest, StatusRequest, TransferLeaderRequest,
};

use crate::cli::{ClusterCmd, Format};
use crate::confirm::confirm;
use crate::endpoints::Endpoints;
use crate::output::{emit, table};

pub async fn run(endpoints: &Endpoints, format: Format, cmd: ClusterCmd) -> Result<()> {
    match cmd {
        ClusterCmd::Init { members } => {
            let members = members
                .iter()
                .map(|m| parse_member(m))
                .collect::<Result<Vec<_>>>()?;
            let reply = endpoints
                .call(|ch| {
                    let members = members.clone();
                    async move { ClusterClient::new(ch).init(InitRequest { members }).await }
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                println!("initialized a cluster of {} voters:", r.members.len());
                for m in &r.members {
                    println!("  node {}  {}", m.id, m.addr);
                }
            })
        }
        ClusterCmd::Status => {
            let status = endpoints
                .call(|ch| async move { ClusterClient::new(ch).status(StatusRequest {}).await })
                .await?
                .into_inner();
            emit(format, &status, show_status)
        }
        ClusterCmd::AddLearner { id, addr, no_wait } => {
            let req = AddLearnerRequest {
                member: Some(Member { id, addr }),
                wait: !no_wait,
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { ClusterClient::new(ch).add_learner(req).await }
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                show_membership(&format!("node {id} added as a learner"), r)
            })
        }
        ClusterCmd::Promote { ids } => {
            let req = ChangeMembershipRequest {
                promote: ids.clone(),
            };
            let reply = endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { ClusterClient::new(ch).change_membership(req).await }
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                show_membership(&format!("promoted {ids:?} to voters"), r)
            })
        }
        ClusterCmd::Remove { id, yes } => {
            confirm(&format!("remove node {id} from the cluster?"), yes)?;
            let reply = endpoints
                .call(|ch| async move {
                    ClusterClient::new(ch)
                        .remove_node(RemoveNodeRequest { id })
                        .await
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                show_membership(&format!("node {id} removed"), r)
            })
        }
        ClusterCmd::TransferLeader { to } => {
            let reply = endpoints
                .call(|ch| async move {
                    ClusterClient::new(ch)
                        .transfer_leader(TransferLeaderRequest { to })
                        .await
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                println!("node {} is the leader", r.leader_id)
            })
        }
    }
}

fn parse_member(text: &str) -> Result<Member> {
    let (id, addr) = text.split_once('=').ok_or_else(|| {
        anyhow!("member {text:?} must look like ID=HOST:PORT, e.g. 1=10.0.0.1:7001")
    })?;
    let id = id
        .trim()
        .parse::<u64>()
        .map_err(|_| anyhow!("member {text:?}: id must be a positive integer"))?;
    Ok(Member {
        id,
        addr: addr.trim().to_string(),
    })
}

fn show_membership(headline: &str, reply: &MembershipReply) {
    println!("{headline} (log index {})", reply.log_index);
    let mut t = table(&["ID", "ADDRESS", "VOTER"]);
    for m in &reply.members {
        t.add_row(vec![
            m.id.to_string(),
            m.addr.clone(),
            reply.voters.contains(&m.id).to_string(),
        ]);
    }
    println!("{t}");
}

fn show_status(s: &ClusterStatus) {
    if !s.initialized {
        println!(
            "node {} answered: the cluster is not initialized (mrctl cluster init)",
            s.node_id
        );
        return;
    }
    let leader = s
        .leader_id
        .map(|l| l.to_string())
        .unwrap_or_else(|| "none".into());
    println!(
        "leader {leader}, term {}, answered by node {} · state digest {} · seal key {}",
        s.term,
        s.node_id,
        short(&s.state_digest),
        s.seal_key_id
    );
    let mut t = table(&[
        "ID",
        "ADDRESS",
        "ROLE",
        "VOTER",
        "REACHABLE",
        "LAST LOG",
        "APPLIED",
        "LAG",
        "DIGEST",
    ]);
    for m in &s.members {
        let (last, applied, lag, digest) = if m.reachable {
            (
                m.last_log_index.to_string(),
                m.applied_index.to_string(),
                m.lag.to_string(),
                short(&m.state_digest),
            )
        } else {
            ("-".into(), "-".into(), "-".into(), m.error.clone())
        };
        t.add_row(vec![
            m.id.to_string(),
            m.addr.clone(),
            m.role.clone(),
            if m.voter { "yes" } else { "no" }.into(),
            if m.reachable { "yes" } else { "NO" }.into(),
            last,
            applied,
            lag,
            digest,
        ]);
    }
    println!("{t}");
}

fn short(digest: &str) -> String {
    digest.chars().take(16).collect()
}
