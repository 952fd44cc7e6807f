//! `mrctl settings get|set`.

use anyhow::{bail, Result};
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::{GetSettingsRequest, SetSettingsRequest, SettingsReply};

use crate::cli::{Format, SettingsCmd};
use crate::endpoints::Endpoints;
use crate::output::{emit, pairs, warn};

pub async fn run(endpoints: &Endpoints, format: Format, cmd: SettingsCmd) -> Result<()> {
    let reply = match cmd {
        SettingsCmd::Get { stale } => endpoints
            .call(|ch| async move {
                SettingsClient::new(ch)
                    .get(GetSettingsRequest { stale })
                    .await
            })
            .await?
            .into_inner(),
        SettingsCmd::Set {
            cluster_domain,
            remote_access_fqdn,
            virtual_address,
            mode,
        } => {
            if cluster_domain.is_none()
                && remote_access_fqdn.is_none()
                && virtual_address.is_none()
                && mode.is_none()
            {
                bail!("nothing to set: give at least one of --cluster-domain, --remote-access-fqdn, --virtual-address, --mode");
            }
            let req = SetSettingsRequest {
                cluster_domain,
                remote_access_fqdn,
                virtual_address,
                mode,
                request_id: super::request_id(),
            };
            endpoints
                .call(|ch| {
                    let req = req.clone();
                    async move { SettingsClient::new(ch).set(req).await }
                })
                .await?
                .into_inner()
        }
    };
    warn(&reply.warnings);
    emit(format, &reply, show)
}

fn show(reply: &SettingsReply) {
    let s = reply.settings.clone().unwrap_or_default();
    let or_unset = |v: String| {
        if v.is_empty() {
            "(not set)".to_string()
        } else {
            v
        }
    };
    pairs(&[
        ("cluster domain", or_unset(s.cluster_domain)),
        ("remote access FQDN", or_unset(s.remote_access_fqdn)),
        ("virtual address", or_unset(s.virtual_address)),
        (
            "mode",
            crate::output::enum_name::<mrouter_proto::v1::ClusterMode>(s.mode),
        ),
        ("revision", s.revision.to_string()),
    ]);
}
