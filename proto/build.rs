fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        // Public messages serialize for mrctl's json/yaml output.
        .type_attribute(".mrouter.v1", "#[derive(serde::Serialize)]")
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
