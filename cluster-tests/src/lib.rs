//! A harness that runs real `mrd` processes on free loopback ports with
//! temporary data dirs: start, kill (SIGKILL), pause (SIGSTOP/SIGCONT),
//! restart, wipe, and always clean up. Helpers are named for intent
//! (`must_write`, `must_have_leader`) and wait on conditions, never on sleeps.

pub mod bench;
mod binaries;
pub mod checks;
mod cluster;
mod dev_cluster;
pub mod etcd;
pub mod fixtures;
pub mod load;
mod node;
pub mod partition;
pub mod stats;
pub mod tls;

pub use binaries::{binary, mrctl, mrctl_stdin, mrctl_with_ca};
pub use cluster::{eventually, random_id, Cluster, ClusterOptions, Written};
pub use dev_cluster::DevCluster;
pub use node::NodeProc;
