//! Test support for everything that talks to Kubernetes.
//!
//! All tests share one real control plane (etcd + kube-apiserver + kube-controller-manager),
//! started by `make test` through `e2e/bin/control-plane.sh`; each test gets its own
//! namespace. There is no fallback: a test that needs the control plane and cannot reach it
//! fails, with a message that says how to start one.

mod cluster;
mod crds;
mod eventually;
pub mod flux;
pub mod manifests;
mod namespace;
mod objects;
pub mod scripts;
pub mod wapi_sim;

pub use cluster::{cluster_client, cluster_dir};
pub use crds::{capi_crds, crds_from_yaml, install_crds};
pub use eventually::eventually;
pub use flux::flux_crds;
pub use namespace::TestNamespace;
pub use objects::create;

use std::path::PathBuf;

/// The value of the sample `series` (its name and labels exactly as exposed) in a
/// Prometheus text scrape, if there is one.
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

use kube::{Client, Config, config::KubeConfigOptions, config::Kubeconfig};

/// Where the control plane's admin kubeconfig is: `IPAM_TEST_KUBECONFIG`, else the one
/// `make test` writes under `target/testenv`.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os("IPAM_TEST_KUBECONFIG") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/testenv/kubeconfig"),
    }
}

/// A client for the test control plane's admin. Made per test: a client is bound to the
/// tokio runtime that created it, and every `#[tokio::test]` has its own.
pub async fn client() -> Client {
    client_for(
        &kubeconfig_path(),
        "`make test`, or start one with `e2e/bin/control-plane.sh start target/testenv`",
    )
    .await
}

/// A client for the admin of the cluster `kubeconfig` names, which must answer; `start` says
/// how to get one.
async fn client_for(path: &std::path::Path, start: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap_or_else(|e| {
        panic!(
            "no test cluster: cannot read kubeconfig {} ({e}); run {start}",
            path.display()
        )
    });
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {} is unusable: {e}", path.display()));
    let client = Client::try_from(config).expect("build a kube client from the test kubeconfig");
    if let Err(e) = client.apiserver_version().await {
        panic!(
            "test cluster at {} does not answer ({e}); run {start}",
            path.display()
        );
    }
    client
}

/// A DNS-label-safe name, unique across the test processes sharing one control plane.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}-{nanos:x}-{n}", std::process::id())
}
