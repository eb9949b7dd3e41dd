//! The Helm chart's RBAC is enough, and exactly what the code calls: an operator running
//! as the chart's ServiceAccount (impersonated on the test API server) goes through a full
//! allocation flow — leader election, finalizers, allocation, event, release, pool
//! deletion — with no forbidden error.

mod process;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_test_support::{TestNamespace, capi_crds, install_crds, kubeconfig_path};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use process::{Operator, eventually};
use serde_json::json;

/// The folder of the Go-built kubectl and helm: `IPAM_TESTBIN` (set by `make test`), else
/// what `e2e/bin/tools.sh` prints.
fn testbin() -> PathBuf {
    if let Some(dir) = std::env::var_os("IPAM_TESTBIN") {
        return dir.into();
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/e2e/bin/tools.sh"))
        .output()
        .expect("run e2e/bin/tools.sh");
    assert!(out.status.success(), "e2e/bin/tools.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn run(command: &mut Command, input: Option<&[u8]>) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_charts_service_account_can_do_a_full_allocation_flow() {
    let ns = TestNamespace::new("rbac").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let bin = testbin();
    let kubectl = |args: &[&str], input: Option<&[u8]>| {
        run(
            Command::new(bin.join("kubectl"))
                .arg("--kubeconfig")
                .arg(kubeconfig_path())
                .args(args),
            input,
        )
    };

    // The release is named after the namespace, so its cluster-scoped RBAC is its own.
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/ipam-operator");
    let rbac = run(
        Command::new(bin.join("helm")).args([
            "template",
            &ns.name,
            chart,
            "--namespace",
            &ns.name,
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/serviceaccount.yaml",
        ]),
        None,
    );
    kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(rbac.as_bytes()),
    );
    // The controllers the chart's default switches start, as its Deployment passes them.
    let deployment = run(
        Command::new(bin.join("helm")).args([
            "template",
            &ns.name,
            chart,
            "--show-only",
            "templates/deployment.yaml",
        ]),
        None,
    );
    let controllers = deployment
        .lines()
        .find_map(|l| l.trim().strip_prefix("- --controllers="))
        .expect("the Deployment passes --controllers")
        .to_string();
    let account = format!("{}-ipam-operator", ns.name);
    let user = format!("system:serviceaccount:{}:{account}", ns.name);
    // The impersonated account has what it needs and no more than that.
    let can = |verb: &str, what: &str| {
        let out = Command::new(bin.join("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig_path())
            .args(["auth", "can-i", verb, what, "-n", &ns.name, "--as", &user])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    assert!(can("create", "ipaddresses.ipam.cluster.x-k8s.io"));
    assert!(can("update", "leases.coordination.k8s.io"));
    assert!(
        !can("get", "secrets"),
        "secrets only with the Infoblox backend"
    );
    assert!(!can("delete", "ipaddressclaims.ipam.cluster.x-k8s.io"));

    let operator = Operator::start(
        &ns.name,
        &[
            "--namespace",
            &ns.name,
            "--controllers",
            &controllers,
            "--leader-elect",
            "--leader-election-namespace",
            &ns.name,
        ],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );

    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.70.0.10-10.70.0.20"], "prefix": 24, "gateway": "10.70.0.1"}}))
    .unwrap();
    let pools = ns.api::<InClusterIPPool>();
    pools.create(&PostParams::default(), &pool).await.unwrap();
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    let claims = ns.api::<IPAddressClaim>();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    eventually(Duration::from_secs(30), "claim allocated", || async {
        claims.get("c").await.ok()?.status?.address_ref.map(|_| ())
    })
    .await;
    let events = Api::<Event>::namespaced(ns.client.clone(), &ns.name);
    eventually(
        Duration::from_secs(15),
        "an AddressAllocated event",
        || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| e.reason.as_deref() == Some("AddressAllocated"))
                .then_some(())
        },
    )
    .await;

    claims.delete("c", &DeleteParams::default()).await.unwrap();
    eventually(Duration::from_secs(30), "claim released", || async {
        claims.get_opt("c").await.ok()?.is_none().then_some(())
    })
    .await;
    pools
        .delete("pool", &DeleteParams::default())
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "pool deleted", || async {
        pools.get_opt("pool").await.ok()?.is_none().then_some(())
    })
    .await;

    let log = operator.log_text();
    assert!(log.contains("impersonating user"), "{log}");
    assert!(log.contains("leading"), "{log}");
    for word in ["forbidden", "Forbidden", "403"] {
        assert!(!log.contains(word), "{word} in the operator's log:\n{log}");
    }
    drop(operator);
    ns.delete().await;
}
