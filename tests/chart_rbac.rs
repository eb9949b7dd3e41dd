//! The Helm chart's RBAC is enough, and exactly what the code calls: an operator running
//! as the chart's ServiceAccount (impersonated on the test API server) goes through full
//! flows with no forbidden error — with the default switches, the in-cluster allocation
//! flow (leader election, finalizers, allocation, event, release, pool deletion); with every
//! switch on, the k0rdent flow through both providers, Infoblox claims and Metal3 claims.

mod chart;
mod k0rdent;
mod process;

use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_in_cluster::api::{InClusterIPPool, InClusterPrefixPool};
use ipam_test_support::{TestNamespace, capi_crds, create, flux_crds, install_crds};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use process::eventually;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_charts_service_account_can_do_a_full_allocation_flow() {
    let ns = TestNamespace::new("rbac").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    // The release is named after the namespace, so its cluster-scoped RBAC is its own.
    let user = chart::apply_rbac(&ns.name, &ns.name, &[]);
    // The controllers the chart's default switches start, as its Deployment passes them.
    let controllers = chart::controllers(&ns.name, &ns.name, &[]);
    // The impersonated account has what it needs and no more than that.
    let can = |verb: &str, what: &str| chart::can(&user, &ns.name, verb, what);
    assert!(can("create", "ipaddresses.ipam.cluster.x-k8s.io"));
    assert!(can("update", "leases.coordination.k8s.io"));
    assert!(
        !can("get", "secrets"),
        "secrets only with the Infoblox backend"
    );
    assert!(!can("delete", "ipaddressclaims.ipam.cluster.x-k8s.io"));
    // It points the pool CRDs' conversion webhook at its own Service, and may patch no
    // other CRD.
    let crd = |name: &str| format!("customresourcedefinitions.apiextensions.k8s.io/{name}");
    for pool in ["inclusterippools", "globalinclusterippools"] {
        assert!(can("patch", &crd(&format!("{pool}.ipam.cluster.x-k8s.io"))));
    }
    assert!(!can("patch", &crd("ipaddresses.ipam.cluster.x-k8s.io")));
    let deployment = chart::template(&ns.name, &ns.name, &["deployment.yaml"], &[]);
    assert!(
        deployment.contains(&format!(
            "- --conversion-service=$(POD_NAMESPACE)/{0}-ipam-operator-webhook",
            ns.name
        )) && deployment.contains("fieldPath: metadata.namespace"),
        "the Service is named in the pod's own namespace (clusterctl may move it): {deployment}"
    );

    let operator = chart::operator(&ns.name, &user, &controllers);

    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.70.0.10-10.70.0.20"], "prefix": 24, "gateway": "10.70.0.1"}}))
    .unwrap();
    let pools = ns.api::<InClusterIPPool>();
    pools.create(&PostParams::default(), &pool).await.unwrap();
    // An address restored before its claim (clusterctl move): recorded when the pool loads,
    // then taken over by its claim.
    let addresses = ns.api::<IPAddress>();
    create(&addresses, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
        "metadata": {"name": "moved"},
        "spec": {"claimRef": {"name": "moved"}, "address": "10.70.0.15", "prefix": 24,
                 "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .await;
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    let claims = ns.api::<IPAddressClaim>();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    eventually(30, "claim allocated", || async {
        claims.get("c").await.ok()?.status?.address_ref.map(|_| ())
    })
    .await;
    let moved: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "moved"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    claims.create(&PostParams::default(), &moved).await.unwrap();
    eventually(30, "the restored address adopted by its claim", || async {
        let reference = claims.get("moved").await.ok()?.status?.address_ref?;
        (reference.name == "moved").then_some(())
    })
    .await;
    // A prefix pool: protected, counted and served in blocks by the same account.
    let blocks: InClusterPrefixPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterPrefixPool",
        "metadata": {"name": "blocks"},
        "spec": {"prefixes": ["10.71.0.0/24"], "allocationPrefixLength": 28}}))
    .unwrap();
    let prefix_pools = ns.api::<InClusterPrefixPool>();
    prefix_pools
        .create(&PostParams::default(), &blocks)
        .await
        .unwrap();
    create(&claims, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "block"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterPrefixPool", "name": "blocks"}}}))
    .await;
    eventually(30, "a block allocated and counted", || async {
        claims.get("block").await.ok()?.status?.address_ref?;
        let counts = prefix_pools
            .get("blocks")
            .await
            .ok()?
            .status?
            .ip_addresses?;
        (counts.used == 1).then_some(())
    })
    .await;
    claims
        .delete("moved", &DeleteParams::default())
        .await
        .unwrap();
    claims.delete("c", &DeleteParams::default()).await.unwrap();
    claims
        .delete("block", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "both claims released", || async {
        let gone = claims
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty();
        gone.then_some(())
    })
    .await;
    // The account may publish events: a release is told as one.
    let events = Api::<Event>::namespaced(ns.client.clone(), &ns.name);
    eventually(15, "an AddressReleased event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("AddressReleased"))
            .then_some(())
    })
    .await;
    pools
        .delete("pool", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "pool deleted", || async {
        pools.get_opt("pool").await.ok()?.is_none().then_some(())
    })
    .await;
    prefix_pools
        .delete("blocks", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "prefix pool deleted", || async {
        let gone = prefix_pools.get_opt("blocks").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;

    let log = operator.log_text();
    assert!(log.contains("impersonating user"), "{log}");
    assert!(log.contains("leading"), "{log}");
    process::assert_never_forbidden(&operator);
    drop(operator);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_switch_on_the_charts_account_serves_every_backend_and_face() {
    use ipam_in_cluster::metal3::api::{IPClaim, IPPool};
    use ipam_operator::api::ClusterDeployment;

    let ns = TestNamespace::new("rbac-all").await;
    let mut crds = capi_crds();
    crds.extend(flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let on = ["backends.infoblox.enabled=true"];
    let user = chart::apply_rbac(&ns.name, &ns.name, &on);
    let controllers = chart::controllers(&ns.name, &ns.name, &on);
    assert_eq!(controllers, "in-cluster,infoblox,k0rdent,metal3");
    assert!(chart::can(&user, &ns.name, "get", "secrets"));
    let sim = k0rdent::infoblox_instance(&ns).await;
    let operator = chart::operator(&ns.name, &user, &controllers);

    // k0rdent: a referenced claim binds through the in-cluster provider, the deployment's
    // HelmRelease is written, then the claim moves to Infoblox and the unused pool is retired.
    k0rdent::template(&ns).await;
    k0rdent::switchable_claim(&ns, "net").await;
    create(
        &ns.api::<ClusterDeployment>(),
        k0rdent::deployment("app", json!({"ref": "net"})),
    )
    .await;
    k0rdent::provider_data(&ns, "net", "InClusterIPPool").await;
    eventually(30, "HelmRelease", || k0rdent::helm_release(&ns, "app")).await;
    k0rdent::switch_provider(&ns, "net", "ipam-infoblox").await;
    k0rdent::provider_data(&ns, "net", "InfobloxIPPool").await;
    let in_cluster_pools = ns.api::<InClusterIPPool>();
    eventually(60, "the unused in-cluster pool retired", || async {
        in_cluster_pools
            .get_opt("net")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // Infoblox: a machine's claim on that pool is reserved in Infoblox, then released.
    let machines = ns.api::<IPAddressClaim>();
    create(&machines, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "app-cp-0"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "net"}}}))
    .await;
    eventually(60, "the Infoblox claim allocated", || async {
        machines
            .get("app-cp-0")
            .await
            .ok()?
            .status?
            .address_ref
            .map(|_| ())
    })
    .await;
    assert_eq!(sim.hosts().await.len(), 1, "one host record reserved");
    machines
        .delete("app-cp-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "the Infoblox claim released", || async {
        machines
            .get_opt("app-cp-0")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(sim.hosts().await.is_empty(), "the host record is released");

    // Metal3: an IPClaim gets an IPAddress; claim and pool go again.
    let (m3_pools, m3_claims) = (ns.api::<IPPool>(), ns.api::<IPClaim>());
    create(&m3_pools, json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "m3"},
        "spec": {"namePrefix": "m3", "prefix": 24, "pools": [{"start": "10.73.0.10", "end": "10.73.0.20"}]}}))
    .await;
    create(
        &m3_claims,
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "node-0"}, "spec": {"pool": {"name": "m3"}}}),
    )
    .await;
    eventually(30, "the IPClaim bound", || async {
        m3_claims.get("node-0").await.ok()?.status?.address?.name
    })
    .await;
    m3_claims
        .delete("node-0", &DeleteParams::default())
        .await
        .unwrap();
    m3_pools
        .delete("m3", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "the IPClaim and IPPool gone", || async {
        let claim = m3_claims.get_opt("node-0").await.ok()?;
        let pool = m3_pools.get_opt("m3").await.ok()?;
        (claim.is_none() && pool.is_none()).then_some(())
    })
    .await;

    assert!(operator.log_text().contains("leading"));
    process::assert_never_forbidden(&operator);
    drop(operator);
    ns.delete().await;
}
