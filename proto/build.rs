fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::configure()
        // Public messages serialize for mrctl's json/yaml output.
        .type_attribute(".mrouter.v1", "#[derive(serde::Serialize)]");
    // In that output every time is an RFC 3339 string (the wire keeps Unix
    // seconds or milliseconds, as each field's name says): one unit.
    for field in SECONDS {
        config = config.field_attribute(
            field,
            r#"#[serde(serialize_with = "crate::json_time::seconds")]"#,
        );
    }
    // Enums by name, as mrctl's flags spell them.
    for (field, function) in ENUMS {
        config = config.field_attribute(
            field,
            format!(r#"#[serde(serialize_with = "crate::names::{function}")]"#),
        );
    }
    for (field, name) in MILLIS {
        config = config.field_attribute(
            field,
            format!(r#"#[serde(rename = "{name}", serialize_with = "crate::json_time::millis")]"#),
        );
    }
    config
        // Messages that carry passwords or private keys get a redacting
        // Debug (src/redacted.rs) instead of the derived one.
        .skip_debug([
            ".mrouter.v1.ImportCaRequest",
            ".mrouter.v1.ImportCertRequest",
            ".mrouter.v1.ExportReply",
            ".mrouter.v1.ProvisionRequest",
            ".mrouter.v1.ProvisionReply",
        ])
        .compile_protos(
            &[
                "proto/mrouter/v1/cluster.proto",
                "proto/mrouter/v1/settings.proto",
                "proto/mrouter/v1/certs.proto",
                "proto/mrouter/v1/clients.proto",
                "proto/mrouter/raft/v1/raft.proto",
            ],
            &["proto"],
        )?;
    Ok(())
}

/// Fields in Unix seconds.
const SECONDS: &[&str] = &[
    ".mrouter.v1.CertificateInfo.not_before",
    ".mrouter.v1.CertificateInfo.not_after",
    ".mrouter.v1.ClientInfo.not_before",
    ".mrouter.v1.ClientInfo.not_after",
];

/// Fields in Unix milliseconds, and their name in json/yaml output.
const MILLIS: &[(&str, &str)] = &[
    (
        ".mrouter.v1.CertificateInfo.installed_at_ms",
        "installed_at",
    ),
    (".mrouter.v1.CsrInfo.created_at_ms", "created_at"),
    (".mrouter.v1.SlotView.last_generated_ms", "last_generated"),
    (".mrouter.v1.ClientInfo.provisioned_at_ms", "provisioned_at"),
    (".mrouter.v1.ClientInfo.revoked_at_ms", "revoked_at"),
];

/// Enum fields of output messages, and the function that names their value.
const ENUMS: &[(&str, &str)] = &[
    (".mrouter.v1.CertificateInfo.state", "cert_state"),
    (".mrouter.v1.CertificateInfo.origin", "cert_origin"),
    (".mrouter.v1.ClientInfo.state", "client_state"),
    (".mrouter.v1.ClientInfo.key_origin", "key_origin"),
    (".mrouter.v1.ClusterSettings.mode", "cluster_mode"),
];
