//! `mrd`: one node of an mrouter cluster.

fn main() -> std::process::ExitCode {
    mrouter_node::cli::main()
}
