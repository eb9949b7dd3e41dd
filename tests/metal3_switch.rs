//! The Metal3 face can be switched off: the chart then grants nothing on `ipam.metal3.io`,
//! and the operator it configures runs without touching those kinds — ready, serving
//! in-cluster claims, leaving claims on an IPPool to whoever serves Metal3, yet letting go
//! of those it served before the switch. Metal3 without the in-cluster backend that serves
//! it is refused at start.

mod chart;
mod process;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_in_cluster::metal3::api::IPPool;
use ipam_test_support::{TestNamespace, capi_crds, create, install_crds};
use kube::ResourceExt;
use kube::api::PostParams;
use process::{Operator, eventually, http_get};
use serde_json::json;

#[tokio::test]
async fn metal3_without_in_cluster_is_refused_at_start() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ipam-operator"))
        .args(["run", "--controllers", "k0rdent,metal3"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--controllers metal3 needs in-cluster"),
        "{stderr}"
    );
}

/// Metal3 IPPool `m3` handing out `start`..`end`.
fn metal3_pool(start: &str, end: &str) -> serde_json::Value {
    json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": {"name": "m3"},
           "spec": {"namePrefix": "m3", "pools": [{"start": start, "end": end}], "prefix": 24}})
}

fn claim(name: &str, kind: &str, group: &str, pool: &str) -> IPAddressClaim {
    serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": name},
        "spec": {"poolRef": {"apiGroup": group, "kind": kind, "name": pool}}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_metal3_face_off_the_operator_needs_no_metal3_rights() {
    let ns = TestNamespace::new("nometal3").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let off = ["faces.metal3.enabled=false"];
    let user = chart::apply_rbac(&ns.name, &ns.name, &off);
    let controllers = chart::controllers(&ns.name, &ns.name, &off);
    assert!(!controllers.contains("metal3"), "{controllers}");
    assert!(!chart::can(
        &user,
        &ns.name,
        "list",
        "ippools.ipam.metal3.io"
    ));
    assert!(chart::can(
        &user,
        &ns.name,
        "list",
        "inclusterippools.ipam.cluster.x-k8s.io"
    ));

    let operator = Operator::start(
        &ns.name,
        &["--namespace", &ns.name, "--controllers", &controllers],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );
    let port = operator.health_port;
    eventually(30, "/readyz 200", || async {
        http_get(port, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await;

    let pools =
        json!({"addresses": ["10.71.0.10-10.71.0.20"], "prefix": 24, "gateway": "10.71.0.1"});
    let in_cluster: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"}, "spec": pools}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &in_cluster)
        .await
        .unwrap();
    create(&ns.api::<IPPool>(), metal3_pool("10.72.0.10", "10.72.0.20")).await;
    let claims = ns.api::<IPAddressClaim>();
    let pp = PostParams::default();
    claims
        .create(
            &pp,
            &claim("ic", "InClusterIPPool", "ipam.cluster.x-k8s.io", "pool"),
        )
        .await
        .unwrap();
    claims
        .create(&pp, &claim("m3", "IPPool", "ipam.metal3.io", "m3"))
        .await
        .unwrap();
    eventually(30, "the in-cluster claim allocated", || async {
        claims.get("ic").await.ok()?.status?.address_ref.map(|_| ())
    })
    .await;
    // Served by nobody here: no finalizer, no status, no address.
    let untouched = claims.get("m3").await.unwrap();
    assert!(untouched.metadata.finalizers.unwrap_or_default().is_empty());
    assert!(untouched.status.and_then(|s| s.address_ref).is_none());

    process::assert_never_forbidden(&operator);
    drop(operator);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_served_before_the_switch_can_still_be_deleted() {
    use ipam_in_cluster::api::capi::IPAddress;

    let ns = TestNamespace::new("m3off-delete").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    // Served with the face on…
    let user = chart::apply_rbac(&ns.name, &ns.name, &[]);
    let on = Operator::start(
        &ns.name,
        &["--namespace", &ns.name],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );
    create(&ns.api::<IPPool>(), metal3_pool("10.74.0.10", "10.74.0.20")).await;
    let claims = ns.api::<IPAddressClaim>();
    claims
        .create(
            &PostParams::default(),
            &claim("node", "IPPool", "ipam.metal3.io", "m3"),
        )
        .await
        .unwrap();
    let addresses = ns.api::<IPAddress>();
    let address = eventually(30, "the claim allocated", || async {
        let name = claims.get("node").await.ok()?.status?.address_ref?.name;
        addresses.get_opt(&name).await.ok().flatten()
    })
    .await;
    drop(on);

    // …then the face goes, with its rights, and the claim is deleted.
    let off = ["faces.metal3.enabled=false"];
    let user = chart::apply_rbac(&ns.name, &ns.name, &off);
    let controllers = chart::controllers(&ns.name, &ns.name, &off);
    let operator = Operator::start(
        &ns.name,
        &["--namespace", &ns.name, "--controllers", &controllers],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );
    claims
        .delete("node", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "the claim and its IPAddress gone", || async {
        let claim = claims.get_opt("node").await.ok()?;
        let address = addresses.get_opt(&address.name_any()).await.ok()?;
        (claim.is_none() && address.is_none()).then_some(())
    })
    .await;
    process::assert_never_forbidden(&operator);
    drop(operator);
    ns.delete().await;
}
