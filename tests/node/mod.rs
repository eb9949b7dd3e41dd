//! The operator's release on the node of `e2e/bin/cluster.sh`, as the chart installed it: its
//! pods, its Lease, their metrics, and a crash of one of them.
#![allow(dead_code)]

use std::net::IpAddr;

use ipam_test_support::cluster_dir;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::process::http_get_at;

/// Where `e2e/bin/cluster.sh` installs the chart, and the release's name (its full name too).
pub const NAMESPACE: &str = "ipam-system";
pub const RELEASE: &str = "ipam-operator";
const SELECTOR: &str =
    "app.kubernetes.io/name=ipam-operator,app.kubernetes.io/instance=ipam-operator";

/// The release's pods that are not being deleted.
pub async fn pods(client: &Client) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .expect("list the operator's pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

pub fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The release's pods when exactly `n` of them are Ready and none is not.
pub async fn ready(client: &Client, n: usize) -> Option<Vec<Pod>> {
    let pods = pods(client).await;
    (pods.len() == n && pods.iter().all(is_ready)).then_some(pods)
}

/// The identity holding the release's Lease: `<pod>_<suffix>`, the suffix new with every
/// process.
pub async fn holder(client: &Client) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), NAMESPACE)
        .get_opt(RELEASE)
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// The name of the pod holding the release's Lease.
pub async fn leader(client: &Client) -> Option<String> {
    holder(client).await?.split('_').next().map(str::to_string)
}

fn ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// The container port named `port` of the operator's container.
fn port(pod: &Pod, port: &str) -> Option<u16> {
    let container = pod.spec.as_ref()?.containers.first()?;
    let found = container
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some(port))?;
    u16::try_from(found.container_port).ok()
}

/// `/metrics` of the pod, fetched from its address as Prometheus would.
pub async fn metrics(pod: &Pod) -> Option<String> {
    let (status, body) = http_get_at(ip(pod)?, port(pod, "metrics")?, "/metrics").await?;
    (status == 200).then_some(body)
}

/// Kills the pod's operator process with SIGKILL through the node's containerd, as a crash
/// or the OOM killer would: no SIGTERM, so no handing the Lease over.
pub fn kill(pod: &Pod) {
    let id = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.container_id.as_deref())
        .and_then(|id| id.strip_prefix("containerd://"))
        .unwrap_or_else(|| panic!("pod {} has no running container", name(pod)))
        .to_string();
    let socket = cluster_dir().join("containerd/containerd.sock");
    let status = std::process::Command::new("ctr")
        .arg("--address")
        .arg(&socket)
        .args([
            "--namespace",
            "k8s.io",
            "tasks",
            "kill",
            "--signal",
            "SIGKILL",
            &id,
        ])
        .status()
        .expect("run ctr (Debian's containerd package, installed by e2e/bin/cluster.sh)");
    assert!(
        status.success(),
        "ctr could not kill container {id} of pod {}",
        name(pod)
    );
}
