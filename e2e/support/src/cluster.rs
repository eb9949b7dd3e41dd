//! The single-node cluster of `e2e/bin/cluster.sh`, where the operator runs in pods installed
//! by its chart. `make test` starts one under `target/testnode`; the tests that need it fail
//! when it is not there, as the others do without the control plane.

use std::path::PathBuf;

use kube::Client;

/// The cluster's folder: `IPAM_TEST_CLUSTER` (set by `make test`), else `target/testnode`.
/// Its `kubeconfig` is the admin's; its `containerd/containerd.sock` is the node's runtime.
pub fn cluster_dir() -> PathBuf {
    match std::env::var_os("IPAM_TEST_CLUSTER") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/testnode"),
    }
}

/// A client for the cluster's admin.
pub async fn cluster_client() -> Client {
    let dir = cluster_dir();
    crate::client_for(
        &dir.join("kubeconfig"),
        &format!(
            "`make test`, or start one with `e2e/bin/cluster.sh up {}`",
            dir.display()
        ),
    )
    .await
}
