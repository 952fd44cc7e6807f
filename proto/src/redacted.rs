//! `Debug` for the messages that carry passwords or private keys: lengths and
//! names only, so a stray `{:?}` in a log or trace cannot leak a secret.

use std::fmt;

use crate::v1::{
    ExportReply, ImportCaRequest, ImportCertRequest, ProvisionReply, ProvisionRequest,
};

const REDACTED: &str = "<redacted>";

fn secret(value: &str) -> &'static str {
    if value.is_empty() {
        "<empty>"
    } else {
        REDACTED
    }
}

impl fmt::Debug for ImportCaRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportCaRequest")
            .field("bundle_bytes", &self.bundle.len())
            .field("password", &secret(&self.password))
            .field("dry_run", &self.dry_run)
            .field(
                "confirm_invalidate_clients",
                &self.confirm_invalidate_clients,
            )
            .field("expected_epoch", &self.expected_epoch)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ImportCertRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportCertRequest")
            .field("slot", &self.slot)
            .field("files", &self.files.len())
            .field("password", &secret(&self.password))
            .field("activate", &self.activate)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ExportReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pem: &dyn fmt::Debug = if self.includes_key {
            &REDACTED
        } else {
            &self.pem
        };
        f.debug_struct("ExportReply")
            .field("pem", pem)
            .field("includes_key", &self.includes_key)
            .finish()
    }
}

impl fmt::Debug for ProvisionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionRequest")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("device", &self.device)
            .field("csr_bytes", &self.csr.len())
            .field("key_type", &self.key_type)
            .field("replace", &self.replace)
            .field("p12_password", &secret(&self.p12_password))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ProvisionReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionReply")
            .field("client", &self.client)
            .field("key_pem", &secret(&self.key_pem))
            .field("p12_bytes", &self.p12.len())
            .field("log_index", &self.log_index)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_reach_debug_output() {
        let shown = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            ImportCaRequest {
                bundle: b"-----BEGIN PRIVATE KEY-----".to_vec(),
                password: "hunter2".into(),
                ..Default::default()
            },
            ImportCertRequest {
                password: "hunter2".into(),
                ..Default::default()
            },
            ExportReply {
                pem: "-----BEGIN PRIVATE KEY-----".into(),
                includes_key: true,
            },
            ProvisionRequest {
                p12_password: "hunter2".into(),
                ..Default::default()
            },
            ProvisionReply {
                key_pem: "-----BEGIN PRIVATE KEY-----".into(),
                ..Default::default()
            },
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
