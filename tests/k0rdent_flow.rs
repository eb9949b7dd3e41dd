//! The k0rdent IPAM flow on the real API server, with the in-cluster backend:
//! ClusterDeployment → ClusterIPAMClaim → ClusterIPAM → pool, and the provisioning gate.

mod k0rdent;

use std::time::Duration;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_operator::api::*;
use ipam_test_support::{TestNamespace, create, eventually};
use k0rdent::{condition, deployment, helm_release, provider_data, setup, setup_both, template};
use kube::ResourceExt;
use kube::api::DeleteParams;
use kube::core::DynamicObject;
use serde_json::json;

async fn deployment_condition(
    ns: &TestNamespace,
    cd: &str,
    type_: &str,
    reason: &str,
) -> (String, String) {
    eventually(30, &format!("{cd} {type_}={reason}"), || async {
        let cd = ns.api::<ClusterDeployment>().get(cd).await.ok()?;
        let (status, r, message) = condition(&cd.status?.conditions, type_)?;
        (r == reason).then_some((status, message))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inline_claim_binds_and_only_then_is_the_deployment_provisioned() {
    let (ns, _operator) = setup("k0-inline").await;
    template(&ns).await;
    // 10.50.0.0/30 less network, broadcast and gateway holds one address; three are needed.
    let cd = create(&ns.api::<ClusterDeployment>(), deployment("demo", json!({"spec": {
        "provider": "in-cluster", "nodeNetwork": {"cidr": "10.50.0.0/30", "gateway": "10.50.0.1"}}}))).await;

    // The reason the claim waits reaches the deployment once the pool has been counted.
    let (status, message) = k0rdent::short_of_addresses(&ns, "demo").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("can hand out only 1 address but the deployment needs 3"),
        "{message}"
    );
    let claims = ns.api::<ClusterIPAMClaim>();
    let claim = claims.get("demo-ipam").await.unwrap();
    assert_eq!(claim.spec.cluster.as_deref(), Some("demo"));
    assert_eq!(claim.spec.cluster_ipam_ref.as_deref(), Some("demo-ipam"));
    assert!(
        claim
            .owner_references()
            .iter()
            .any(|o| o.kind == "ClusterDeployment" && o.uid == cd.uid().unwrap())
    );
    let (_, reason, _) = condition(&claim.status.clone().unwrap().conditions, "Ready").unwrap();
    assert_eq!(reason, "InsufficientAddresses");
    assert!(
        helm_release(&ns, "demo").await.is_none(),
        "no HelmRelease before the claim is bound"
    );
    let bound = format!(
        "ipam_cluster_ipam_bound{{namespace=\"{}\",name=\"demo-ipam\"}}",
        ns.name
    );
    eventually(30, &format!("{bound} 0"), || async {
        metric(&bound).filter(|v| *v == 0.0)
    })
    .await;
    let written = ns.api::<ClusterDeployment>().get("demo").await.unwrap();
    assert_eq!(
        written.spec.ipam_claim.unwrap().reference.as_deref(),
        Some("demo-ipam"),
        "ref written back as kcm does"
    );

    // Widen the network: the claim binds and the deployment is provisioned.
    k0rdent::set_node_cidr(&ns, "demo", "10.50.0.0/28").await;
    deployment_condition(&ns, "demo", "IPAMReady", "Bound").await;
    let release = eventually(30, "HelmRelease", || helm_release(&ns, "demo")).await;
    let values = &release.data["spec"]["values"];
    assert_eq!(values["ipamEnabled"], json!(true));
    assert_eq!(
        values["ipPool"],
        json!({"name": "ipPool", "ready": true,
        "config": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "demo-ipam"}})
    );
    assert_eq!(
        values["vsphere"],
        json!({"datacenter": "dc"}),
        "the user's values are carried"
    );
    assert_eq!(
        release.data["spec"]["chartRef"],
        json!({"kind": "HelmChart", "name": "vsphere", "namespace": ns.name})
    );
    let config = ns
        .api::<ClusterDeployment>()
        .get("demo")
        .await
        .unwrap()
        .spec
        .config
        .unwrap();
    assert!(
        config.get("ipamEnabled").is_none() && config.get("ipPool").is_none(),
        "spec.config is never rewritten"
    );

    let ipam = ns.api::<ClusterIPAM>().get("demo-ipam").await.unwrap();
    assert_eq!(
        ipam.status.as_ref().unwrap().phase,
        Some(ClusterIPAMPhase::Bound)
    );
    assert!(
        ipam.owner_references()
            .iter()
            .any(|o| o.kind == "ClusterIPAMClaim" && o.controller == Some(true))
    );
    let pool = ns.api::<InClusterIPPool>().get("demo-ipam").await.unwrap();
    assert_eq!(pool.spec.pool.addresses, ["10.50.0.0/28"]);
    assert_eq!(pool.spec.pool.prefix, 28, "prefix taken from the CIDR");
    assert!(claims.get("demo-ipam").await.unwrap().status.unwrap().bound);
    assert_eq!(metric(&bound), Some(1.0), "ClusterIPAM bound in /metrics");

    // Deleting the deployment takes the inline claim, its ClusterIPAM and its pool along.
    ns.api::<ClusterDeployment>()
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "inline claim, ClusterIPAM and pool gone", || async {
        let gone = claims.get_opt("demo-ipam").await.ok()?.is_none()
            && ns
                .api::<ClusterIPAM>()
                .get_opt("demo-ipam")
                .await
                .ok()?
                .is_none()
            && ns
                .api::<InClusterIPPool>()
                .get_opt("demo-ipam")
                .await
                .ok()?
                .is_none();
        gone.then_some(())
    })
    .await;
    // Once the controller's watch has seen the deletion.
    eventually(30, "a deleted ClusterIPAM leaves /metrics", || async {
        metric(&bound).is_none().then_some(())
    })
    .await;
    ns.delete().await;
}

/// The value of `series` in this process's metrics (the controllers run in-process here).
fn metric(series: &str) -> Option<f64> {
    ipam_test_support::sample(&ipam_kube_support::metrics::get().encode(), series)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referenced_claim_must_name_the_deployment_and_survives_it() {
    let (ns, _operator) = setup("k0-ref").await;
    template(&ns).await;
    let claims = ns.api::<ClusterIPAMClaim>();
    create(&claims, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
        "metadata": {"name": "shared"},
        "spec": {"provider": "in-cluster", "cluster": "other",
                 "nodeNetwork": {"ipAddresses": ["10.51.0.10-10.51.0.20", "10.51.0.42"], "gateway": "10.51.0.1", "prefix": 24}}}))
    .await;
    create(
        &ns.api::<ClusterDeployment>(),
        deployment("web", json!({"ref": "shared"})),
    )
    .await;
    let (_, message) =
        deployment_condition(&ns, "web", "IPAMReady", "ClaimForAnotherCluster").await;
    assert!(message.contains("set it to \"web\""), "{message}");
    create(
        &ns.api::<ClusterDeployment>(),
        deployment("lost", json!({"ref": "missing"})),
    )
    .await;
    deployment_condition(&ns, "lost", "IPAMReady", "ClaimNotFound").await;

    create(&claims, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
        "metadata": {"name": "for-api"},
        "spec": {"provider": "in-cluster", "cluster": "api",
                 "nodeNetwork": {"ipAddresses": ["10.52.0.10-10.52.0.20"], "gateway": "10.52.0.1", "prefix": 24}}}))
    .await;
    create(
        &ns.api::<ClusterDeployment>(),
        deployment("api", json!({"ref": "for-api"})),
    )
    .await;
    deployment_condition(&ns, "api", "IPAMReady", "Bound").await;
    let release = eventually(30, "HelmRelease", || helm_release(&ns, "api")).await;
    assert_eq!(
        release.data["spec"]["values"]["ipPool"]["config"]["name"],
        json!("for-api")
    );
    let pool = ns.api::<InClusterIPPool>().get("for-api").await.unwrap();
    assert_eq!(pool.spec.pool.addresses, ["10.52.0.10-10.52.0.20"]);

    ns.api::<ClusterDeployment>()
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kept = claims
        .get("for-api")
        .await
        .expect("a referenced claim survives its deployment");
    assert!(kept.status.unwrap().bound);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_renders_and_creates_nothing() {
    let (ns, _operator) = setup("k0-dry").await;
    template(&ns).await;
    let mut cd = deployment(
        "dry",
        json!({"spec": {"provider": "in-cluster", "nodeNetwork": {"cidr": "10.53.0.0/24"}}}),
    );
    cd["spec"]["dryRun"] = json!(true);
    create(&ns.api::<ClusterDeployment>(), cd).await;
    let (status, message) = deployment_condition(&ns, "dry", "HelmReleaseReady", "DryRun").await;
    assert_eq!(status, "False");
    assert!(message.contains("rendered, not created"), "{message}");
    assert!(helm_release(&ns, "dry").await.is_none());
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_claim_says_why_in_its_status() {
    let (ns, _operator) = setup("k0-invalid").await;
    let claims = ns.api::<ClusterIPAMClaim>();
    create(&claims, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
        "metadata": {"name": "bad"},
        "spec": {"provider": "in-cluster", "nodeNetwork": {"ipAddresses": ["10.54.0.1", "10.54.0.9-10.54.0.2"], "prefix": 24}}}))
    .await;
    let (status, reason, message) = eventually(30, "invalid claim condition", || async {
        condition(&claims.get("bad").await.ok()?.status?.conditions, "Ready")
            .filter(|(_, r, _)| r == "InvalidClaim")
    })
    .await;
    assert_eq!(status, "False");
    assert!(
        message.contains("spec.nodeNetwork.ipAddresses[1]: \"10.54.0.9-10.54.0.2\""),
        "{reason}: {message}"
    );
    assert!(!claims.get("bad").await.unwrap().status.unwrap().bound);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_binds_within_a_second_of_its_pool_becoming_ready() {
    let (ns, _operator) = setup("k0-fast").await;
    let claims = ns.api::<ClusterIPAMClaim>();
    create(&claims, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
        "metadata": {"name": "fast"}, "spec": {"provider": "in-cluster", "nodeNetwork": {"cidr": "10.55.0.0/24"}}}))
    .await;
    let pools = ns.api::<InClusterIPPool>();
    let pool_ready = eventually(30, "pool ready", || async {
        let pool = pools.get_opt("fast").await.ok()??;
        let ready = pool
            .status?
            .conditions
            .into_iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then(tokio::time::Instant::now)
    })
    .await;
    eventually(5, "claim bound", || async {
        claims.get("fast").await.ok()?.status?.bound.then_some(())
    })
    .await;
    let waited = pool_ready.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "bound {waited:?} after the pool became ready"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_deployment_keeps_its_pool_while_a_machine_still_holds_an_address() {
    let (ns, _operator) = setup("k0-delete").await;
    template(&ns).await;
    create(&ns.api::<ClusterDeployment>(), deployment("gone", json!({"spec": {
        "provider": "in-cluster", "nodeNetwork": {"cidr": "10.56.0.0/24", "gateway": "10.56.0.1"}}}))).await;
    deployment_condition(&ns, "gone", "IPAMReady", "Bound").await;
    let machines = ns.api::<ipam_in_cluster::api::capi::IPAddressClaim>();
    create(&machines, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "gone-cp-0"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "gone-ipam"}}}))
    .await;
    let addresses = ns.api::<ipam_in_cluster::api::capi::IPAddress>();
    eventually(30, "machine address", || async {
        addresses.get_opt("gone-cp-0").await.ok()?
    })
    .await;

    ns.api::<ClusterDeployment>()
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "inline claim gone", || async {
        ns.api::<ClusterIPAMClaim>()
            .get_opt("gone-ipam")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pool = ns
        .api::<InClusterIPPool>()
        .get("gone-ipam")
        .await
        .expect("the pool stays while an address is in use");
    assert!(pool.metadata.deletion_timestamp.is_some());

    machines
        .delete("gone-cp-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "pool gone", || async {
        ns.api::<InClusterIPPool>()
            .get_opt("gone-ipam")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_provider_binds_through_the_new_backend_and_retires_the_old_pool_once_unused() {
    let (ns, sim, _operator) = setup_both("k0-switch").await;
    template(&ns).await;
    k0rdent::switchable_claim(&ns, "sw").await;
    create(
        &ns.api::<ClusterDeployment>(),
        deployment("app", json!({"ref": "sw"})),
    )
    .await;
    provider_data(&ns, "sw", "InClusterIPPool").await;
    let values =
        |release: DynamicObject| release.data["spec"]["values"]["ipPool"]["config"]["kind"].clone();
    let release = eventually(30, "HelmRelease", || helm_release(&ns, "app")).await;
    assert_eq!(values(release), json!("InClusterIPPool"));

    // A machine holds an address of the in-cluster pool.
    let machines = ns.api::<ipam_in_cluster::api::capi::IPAddressClaim>();
    create(&machines, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "app-cp-0"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "sw"}}}))
    .await;
    let addresses = ns.api::<ipam_in_cluster::api::capi::IPAddress>();
    eventually(30, "machine address", || async {
        addresses.get_opt("app-cp-0").await.ok()?
    })
    .await;

    // Switch to Infoblox: bound through it, the HelmRelease follows, the old pool stays in use.
    k0rdent::switch_provider(&ns, "sw", "ipam-infoblox").await;
    let ipam = provider_data(&ns, "sw", "InfobloxIPPool").await;
    let lingering = condition(&ipam.status.unwrap().conditions, "PreviousPoolsReleased").unwrap();
    assert_eq!(
        (lingering.0.as_str(), lingering.1.as_str()),
        ("False", "PoolInUse")
    );
    assert!(lingering.2.contains("app-cp-0"), "{}", lingering.2);
    let infoblox_pool = ns
        .api::<ipam_infoblox::api::InfobloxIPPool>()
        .get("sw")
        .await
        .unwrap();
    assert_eq!(infoblox_pool.spec.instance.name, ns.name);
    assert_eq!(
        infoblox_pool.spec.subnets[0].gateway.as_deref(),
        Some("10.57.0.1")
    );
    eventually(30, "HelmRelease on the Infoblox pool", || async {
        (values(helm_release(&ns, "app").await?) == json!("InfobloxIPPool")).then_some(())
    })
    .await;
    assert!(
        ns.api::<InClusterIPPool>()
            .get_opt("sw")
            .await
            .unwrap()
            .is_some(),
        "an old pool in use is kept"
    );

    // The machine goes: the old pool is released.
    machines
        .delete("app-cp-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually(60, "old pool gone", || async {
        ns.api::<InClusterIPPool>()
            .get_opt("sw")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    eventually(30, "PreviousPoolsReleased", || async {
        let status = ns.api::<ClusterIPAM>().get("sw").await.ok()?.status?;
        (condition(&status.conditions, "PreviousPoolsReleased")?.0 == "True").then_some(())
    })
    .await;

    // And back: in-cluster again, the unused Infoblox pool retired at once.
    k0rdent::switch_provider(&ns, "sw", "in-cluster").await;
    provider_data(&ns, "sw", "InClusterIPPool").await;
    eventually(60, "Infoblox pool gone", || async {
        ns.api::<ipam_infoblox::api::InfobloxIPPool>()
            .get_opt("sw")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        sim.hosts().await.is_empty(),
        "no host record left in Infoblox"
    );
    ns.delete().await;
}
