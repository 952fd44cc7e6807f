fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        // Public messages serialize for mrctl's json/yaml output.
        .type_attribute(".mrouter.v1", "#[derive(serde::Serialize)]")
        .compile_protos(
            &[
                "proto/mrouter/v1/cluster.proto",
                "proto/mrouter/v1/settings.proto",
                "proto/mrouter/v1/certs.proto",
                "proto/mrouter/raft/v1/raft.proto",
            ],
            &["proto"],
        )?;
    Ok(())
}
