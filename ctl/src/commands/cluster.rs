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
        ClusterCmd::Status { cluster } => {
            let status = endpoints
                .call(|ch| async move { ClusterClient::new(ch).status(StatusRequest {}).await })
                .await?
                .into_inner();
            if cluster {
                let views = ask_each(endpoints, &status).await;
                emit(format, &views, show_views)?;
                return unhealthy(views.iter().map(|v| (v.id, v.health.as_str())));
            }
            emit(format, &status, show_status)?;
            if !status.initialized {
                return Ok(());
            }
            unhealthy(
                status
                    .members
                    .iter()
                    .map(|m| (m.id, if m.healthy { "" } else { m.health.as_str() })),
            )
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

/// An error naming every unhealthy member (`health` non-empty), so the exit
/// code says what the table shows.
fn unhealthy<'a>(members: impl Iterator<Item = (u64, &'a str)>) -> Result<()> {
    let (mut all, mut bad) = (0, Vec::new());
    for (id, health) in members {
        all += 1;
        if !health.is_empty() {
            bad.push(format!("node {id} {}", cut(health, 60)));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "{} of {all} members unhealthy: {}",
        bad.len(),
        bad.join("; ")
    ))
}

/// What one member says of itself when asked directly.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct MemberView {
    id: u64,
    addr: String,
    /// Empty when healthy; else why not.
    health: String,
    role: String,
    term: u64,
    leader_id: Option<u64>,
    last_log_index: u64,
    applied_index: u64,
    state_digest: String,
}

/// Asks every member of `status` for its own status, in parallel.
async fn ask_each(endpoints: &Endpoints, status: &ClusterStatus) -> Vec<MemberView> {
    let asks = status.members.iter().map(|m| async move {
        let mut view = MemberView {
            id: m.id,
            addr: m.addr.clone(),
            ..Default::default()
        };
        let answer = match endpoints.only(&m.addr) {
            Ok(one) => {
                one.call(|ch| async move { ClusterClient::new(ch).status(StatusRequest {}).await })
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(reply) => {
                let own = reply.into_inner();
                view.role = own
                    .members
                    .iter()
                    .find(|x| x.id == own.node_id)
                    .map_or_else(|| "unknown".into(), |x| x.role.clone());
                view.term = own.term;
                view.leader_id = own.leader_id;
                view.last_log_index = own.last_log_index;
                view.applied_index = own.applied_index;
                view.state_digest = own.state_digest;
                if own.leader_id.is_none() {
                    view.health = "sees no leader".into();
                }
            }
            Err(e) => view.health = format!("unreachable: {e:#}"),
        }
        view
    });
    let mut views = futures::future::join_all(asks).await;
    // Members that disagree on who leads: all but the majority view are unhealthy.
    let mut votes = std::collections::BTreeMap::new();
    for v in views.iter().filter(|v| v.health.is_empty()) {
        *votes.entry(v.leader_id).or_insert(0) += 1;
    }
    let leader = votes.into_iter().max_by_key(|(_, n)| *n).map(|(l, _)| l);
    for v in views.iter_mut().filter(|v| v.health.is_empty()) {
        if Some(v.leader_id) != leader {
            v.health = format!(
                "follows {}, the others another leader",
                v.leader_id.map_or("none".into(), |l| format!("node {l}"))
            );
        }
    }
    views
}

fn show_views(views: &Vec<MemberView>) {
    let mut t = table(&[
        "ID", "ADDRESS", "HEALTH", "ROLE", "TERM", "LEADER", "LAST LOG", "APPLIED", "DIGEST",
    ]);
    for v in views {
        let reachable = !v.health.starts_with("unreachable");
        let dash = |s: String| if reachable { s } else { "-".into() };
        t.add_row(vec![
            v.id.to_string(),
            v.addr.clone(),
            health_cell(&v.health),
            dash(v.role.clone()),
            dash(v.term.to_string()),
            dash(v.leader_id.map_or("none".into(), |l| l.to_string())),
            dash(v.last_log_index.to_string()),
            dash(v.applied_index.to_string()),
            dash(short(&v.state_digest)),
        ]);
    }
    println!("{t}");
}

fn health_cell(health: &str) -> String {
    if health.is_empty() {
        "ok".into()
    } else {
        cut(health, 40)
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…")
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
        "ID", "ADDRESS", "HEALTH", "ROLE", "VOTER", "LAST LOG", "APPLIED", "LAG", "DIGEST",
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
            ("-".into(), "-".into(), "-".into(), "-".into())
        };
        t.add_row(vec![
            m.id.to_string(),
            m.addr.clone(),
            health_cell(if m.healthy { "" } else { &m.health }),
            m.role.clone(),
            if m.voter { "yes" } else { "no" }.into(),
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
