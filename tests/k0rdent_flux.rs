//! The k0rdent flow end to end with the real Flux: the operator's ClusterTemplate controller
//! makes a HelmChart that Flux's source-controller fetches from a chart repository served
//! here; a bound ClusterDeployment's HelmRelease is installed by Flux's helm-controller; the
//! chart's IPAddressClaims (one per node, as CAPV would make them) are answered from the
//! deployment's own pool, by the in-cluster backend or by Infoblox (wapi-sim).
//!
//! The gate is observed where it matters: before the claim is bound helm-controller has no
//! release (no release Secret) and nothing the chart renders exists.

mod k0rdent;

use std::time::Duration;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_operator::api::*;
use ipam_operator::k0rdent::flux;
use ipam_test_support::flux::{ChartRepo, Flux};
use ipam_test_support::{TestNamespace, create, eventually};
use k0rdent::{condition, deployment, setup_both};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams};
use kube::core::DynamicObject;
use kube::{Api, ResourceExt};
use serde_json::json;

/// Flux and the chart repository of one test, and the HelmRepository and ClusterTemplate
/// that point at it. Dropped at the end of the test: the controllers are killed.
struct Stage {
    flux: Flux,
    _repo: ChartRepo,
}

async fn flux_stage(ns: &TestNamespace) -> Stage {
    let flux = Flux::start(&ns.name);
    let repo = ChartRepo::serve(&flux.dir.join("charts")).await;
    helm_repository(ns, &repo.url).await;
    Stage { flux, _repo: repo }
}

async fn helm_repository(ns: &TestNamespace, url: &str) {
    let api = Api::<DynamicObject>::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &flux::source(ipam_operator::api::cluster_template::HelmChartSourceKind::HelmRepository),
    );
    create(
        &api,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "kcm-templates"}, "spec": {"url": url, "interval": "1m"}}),
    )
    .await;
}

/// The shipped template's shape: chart `vsphere-standalone-cp` 1.0.42 from `kcm-templates`.
async fn cluster_template(ns: &TestNamespace) {
    create(&ns.api::<ClusterTemplate>(), json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
        "metadata": {"name": "vsphere"},
        "spec": {"helm": {"chartSpec": {"chart": "vsphere-standalone-cp", "version": "1.0.42", "interval": "10m0s",
                                        "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}}}))
    .await;
}

async fn valid_template(ns: &TestNamespace, stage: &Stage) -> ClusterTemplateStatus {
    eventually_or_logs(stage, 120, "ClusterTemplate vsphere valid", || async {
        ns.api::<ClusterTemplate>()
            .get("vsphere")
            .await
            .ok()?
            .status
            .filter(|s| s.valid)
    })
    .await
}

/// [`eventually`], with the Flux controllers' logs in the failure message.
async fn eventually_or_logs<T, F, Fut>(stage: &Stage, seconds: u64, what: &str, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: not within {seconds}s\n{}", stage.flux.logs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Helm's own record of a release: the Secrets helm-controller stores it in.
async fn release_secrets(ns: &TestNamespace, release: &str) -> Vec<String> {
    ns.api::<Secret>()
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.name_any())
        .collect()
}

/// The IPAddressClaims the chart rendered for `cluster`, by the label it puts on them.
async fn node_claims(ns: &TestNamespace, cluster: &str) -> Vec<IPAddressClaim> {
    ns.api::<IPAddressClaim>()
        .list(&ListParams::default().labels(&format!("cluster.x-k8s.io/cluster-name={cluster}")))
        .await
        .unwrap()
        .items
}

/// Waits until the chart's claims for `cluster` are `nodes`, all on a pool of `kind` named
/// `pool`, each with an address; returns the addresses.
async fn nodes_served(
    ns: &TestNamespace,
    stage: &Stage,
    cluster: &str,
    nodes: usize,
    kind: &str,
    pool: &str,
) -> Vec<String> {
    eventually_or_logs(
        stage,
        180,
        &format!("{nodes} node claims of {cluster} served by {kind} {pool}"),
        || async {
            let claims = node_claims(ns, cluster).await;
            if claims.len() != nodes
                || claims
                    .iter()
                    .any(|c| c.spec.pool_ref.kind != kind || c.spec.pool_ref.name != pool)
            {
                return None;
            }
            let mut addresses = Vec::new();
            for claim in &claims {
                let name = claim.status.as_ref()?.address_ref.as_ref()?.name.clone();
                let address = ns.api::<IPAddress>().get_opt(&name).await.ok()??;
                assert_eq!(
                    address.spec.pool_ref.name, pool,
                    "address from the deployment's own pool"
                );
                addresses.push(address.spec.address);
            }
            Some(addresses)
        },
    )
    .await
}

async fn helm_release_ready(ns: &TestNamespace, stage: &Stage, name: &str, version: i64) {
    eventually_or_logs(
        stage,
        180,
        &format!("HelmRelease {name} installed at release version {version}"),
        || async {
            let release = k0rdent::helm_release(ns, name).await?;
            let ready = release.data["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let installed =
                release.data["status"]["history"][0]["version"].as_i64() == Some(version);
            (ready && installed).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inline_claim_gates_the_install_and_the_nodes_get_addresses_from_its_pool() {
    let (ns, _sim, _operator) = setup_both("k0-flux-inline").await;
    let stage = flux_stage(&ns).await;
    cluster_template(&ns).await;
    let status = valid_template(&ns, &stage).await;
    assert_eq!(status.chart_version.as_deref(), Some("1.0.42"));
    assert_eq!(status.validation_error, None);
    let chart_ref = status.chart_ref.unwrap();
    assert_eq!(
        (chart_ref.name.as_str(), chart_ref.namespace.as_deref()),
        ("vsphere", Some(ns.name.as_str()))
    );

    // 10.60.0.0/30 less network, broadcast and gateway holds one address; three are needed.
    create(&ns.api::<ClusterDeployment>(), deployment("demo", json!({"spec": {
        "provider": "in-cluster", "nodeNetwork": {"cidr": "10.60.0.0/30", "gateway": "10.60.0.1"}}}))).await;
    k0rdent::short_of_addresses(&ns, "demo").await;
    // Give helm-controller time to act, were there anything to act on: there must not be.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        k0rdent::helm_release(&ns, "demo").await.is_none(),
        "no HelmRelease before Bound"
    );
    assert!(
        release_secrets(&ns, "demo").await.is_empty(),
        "helm-controller installed nothing"
    );
    assert!(
        node_claims(&ns, "demo").await.is_empty(),
        "nothing the chart renders exists"
    );

    // Widen the network: bound, released, installed; every node's claim served from the pool.
    k0rdent::set_node_cidr(&ns, "demo", "10.60.0.0/28").await;
    helm_release_ready(&ns, &stage, "demo", 1).await;
    let mut addresses = nodes_served(&ns, &stage, "demo", 3, "InClusterIPPool", "demo-ipam").await;
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        3,
        "three distinct addresses: {addresses:?}"
    );
    assert!(
        addresses.iter().all(|a| a.starts_with("10.60.0.")),
        "{addresses:?}"
    );
    assert_eq!(
        release_secrets(&ns, "demo").await,
        ["sh.helm.release.v1.demo.v1"]
    );

    // Deleting the deployment uninstalls the release and frees every address.
    ns.api::<ClusterDeployment>()
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap();
    eventually_or_logs(
        &stage,
        120,
        "release uninstalled, claims, addresses and pool gone",
        || async {
            let gone = k0rdent::helm_release(&ns, "demo").await.is_none()
                && release_secrets(&ns, "demo").await.is_empty()
                && node_claims(&ns, "demo").await.is_empty()
                && ns
                    .api::<IPAddress>()
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items
                    .is_empty()
                && ns
                    .api::<InClusterIPPool>()
                    .get_opt("demo-ipam")
                    .await
                    .ok()?
                    .is_none();
            gone.then_some(())
        },
    )
    .await;
    drop(stage);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referenced_claim_switched_to_infoblox_is_upgraded_onto_the_new_pool() {
    let (ns, sim, _operator) = setup_both("k0-flux-switch").await;
    let stage = flux_stage(&ns).await;
    cluster_template(&ns).await;
    valid_template(&ns, &stage).await;
    k0rdent::switchable_claim(&ns, "sw").await;
    create(
        &ns.api::<ClusterDeployment>(),
        deployment("app", json!({"ref": "sw"})),
    )
    .await;

    helm_release_ready(&ns, &stage, "app", 1).await;
    let before = nodes_served(&ns, &stage, "app", 3, "InClusterIPPool", "sw").await;
    assert!(
        before.iter().all(|a| a.starts_with("10.57.0.")),
        "{before:?}"
    );
    assert!(sim.hosts().await.is_empty(), "Infoblox untouched so far");

    // Switch: the values change, helm-controller upgrades, the new claims bind through
    // Infoblox and the in-cluster pool goes once the old claims (uninstalled) released it.
    k0rdent::switch_provider(&ns, "sw", "ipam-infoblox").await;
    helm_release_ready(&ns, &stage, "app", 2).await;
    let after = nodes_served(&ns, &stage, "app", 3, "InfobloxIPPool", "sw").await;
    assert!(after.iter().all(|a| a.starts_with("10.57.0.")), "{after:?}");
    eventually(60, "three host records in Infoblox", || async {
        (sim.hosts().await.len() == 3).then_some(())
    })
    .await;
    eventually_or_logs(&stage, 120, "old in-cluster pool released", || async {
        ns.api::<InClusterIPPool>()
            .get_opt("sw")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let ipam = ns.api::<ClusterIPAM>().get("sw").await.unwrap();
    eventually(60, "PreviousPoolsReleased", || async {
        let status = ns.api::<ClusterIPAM>().get("sw").await.ok()?.status?;
        (condition(&status.conditions, "PreviousPoolsReleased")?.0 == "True").then_some(())
    })
    .await;
    drop(ipam);

    // Deleting the deployment uninstalls the release; Infoblox gets every address back.
    ns.api::<ClusterDeployment>()
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    eventually_or_logs(
        &stage,
        120,
        "release uninstalled, Infoblox hosts freed",
        || async {
            let gone = k0rdent::helm_release(&ns, "app").await.is_none()
                && release_secrets(&ns, "app").await.is_empty()
                && node_claims(&ns, "app").await.is_empty();
            (gone && sim.hosts().await.is_empty()).then_some(())
        },
    )
    .await;
    assert!(
        ns.api::<ClusterIPAMClaim>()
            .get_opt("sw")
            .await
            .unwrap()
            .is_some(),
        "a referenced claim survives its deployment"
    );
    drop(stage);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_source_is_named_and_a_dry_run_installs_nothing() {
    let (ns, _sim, _operator) = setup_both("k0-flux-dry").await;
    let flux_processes = Flux::start(&ns.name);
    let repo = ChartRepo::serve(&flux_processes.dir.join("charts")).await;
    let stage = Stage {
        flux: flux_processes,
        _repo: repo,
    };
    // The template before its repository: it says which source is missing.
    cluster_template(&ns).await;
    let error = eventually_or_logs(&stage, 60, "validationError names the source", || async {
        ns.api::<ClusterTemplate>()
            .get("vsphere")
            .await
            .ok()?
            .status?
            .validation_error
    })
    .await;
    assert_eq!(
        error,
        format!(
            "HelmRepository {}/kcm-templates named by spec.helm.chartSpec.sourceRef does not exist: create it, or point the template at a source that does",
            ns.name
        )
    );
    let url = stage._repo.url.clone();
    helm_repository(&ns, &url).await;
    valid_template(&ns, &stage).await;

    let mut cd = deployment(
        "dry",
        json!({"spec": {"provider": "in-cluster", "nodeNetwork": {"cidr": "10.61.0.0/24"}}}),
    );
    cd["spec"]["dryRun"] = json!(true);
    create(&ns.api::<ClusterDeployment>(), cd).await;
    eventually(60, "HelmReleaseReady=False DryRun", || async {
        let cd = ns.api::<ClusterDeployment>().get("dry").await.ok()?;
        let (status, reason, _) = condition(&cd.status?.conditions, "HelmReleaseReady")?;
        (status == "False" && reason == "DryRun").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(k0rdent::helm_release(&ns, "dry").await.is_none());
    assert!(
        release_secrets(&ns, "dry").await.is_empty(),
        "helm-controller installed nothing"
    );
    assert!(node_claims(&ns, "dry").await.is_empty());
    drop(stage);
    ns.delete().await;
}
