//! The k0rdent objects tests build on: a valid ClusterTemplate, ClusterDeployments, and an
//! InfobloxInstance on a wapi-sim of the test's own for the `ipam-infoblox` provider.
#![allow(dead_code)]

use ipam_operator::api::cluster_template::HelmChartSourceKind;
use ipam_operator::api::*;
use ipam_operator::k0rdent::flux;
use ipam_test_support::wapi_sim::Sim;
use ipam_test_support::{TestNamespace, capi_crds, create, eventually, flux_crds, install_crds};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::events::Reporter;
use serde_json::json;

/// A template the operator's template controller finds valid, without Flux running: its
/// HelmRepository exists, and the HelmChart the controller makes from `chartSpec` is given
/// the Ready status and artifact source-controller would write (tests/k0rdent_flux.rs runs the
/// real one). Returns once the template is valid.
pub async fn template(ns: &TestNamespace) {
    create(&Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &flux::source(HelmChartSourceKind::HelmRepository)),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository", "metadata": {"name": "kcm-templates"},
               "spec": {"url": "http://127.0.0.1:9/", "interval": "10m"}})).await;
    let api = ns.api::<ClusterTemplate>();
    create(&api, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
        "metadata": {"name": "vsphere"},
        "spec": {"helm": {"chartSpec": {"chart": "vsphere-standalone-cp", "version": "1.0.42", "interval": "10m0s",
                                        "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}}}))
    .await;
    let charts =
        Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &flux::helm_chart());
    let chart = eventually(30, "the template's HelmChart", || async {
        charts.get_opt("vsphere").await.ok()?
    })
    .await;
    let status = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "status": {"observedGeneration": chart.metadata.generation,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "ChartPullSucceeded",
                                   "message": "pulled 'vsphere-standalone-cp' chart with version '1.0.42'",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                   "artifact": {"path": "helmchart/vsphere.tgz", "url": "http://127.0.0.1:9/helmchart/vsphere.tgz",
                                "revision": "1.0.42", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "lastUpdateTime": "2026-01-01T00:00:00Z"}}});
    charts
        .patch_status(
            "vsphere",
            &PatchParams::apply("source-controller-stand-in").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    eventually(30, "ClusterTemplate vsphere valid", || async {
        api.get("vsphere")
            .await
            .ok()?
            .status
            .filter(|s| s.valid)
            .map(|_| ())
    })
    .await;
}

pub fn deployment(name: &str, ipam: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment", "metadata": {"name": name},
           "spec": {"template": "vsphere", "credential": "vsphere-cred",
                    "config": {"controlPlaneNumber": 1, "workersNumber": 2, "vsphere": {"datacenter": "dc"}},
                    "ipamClaim": ipam}})
}

pub fn condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub async fn helm_release(ns: &TestNamespace, name: &str) -> Option<DynamicObject> {
    Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &flux::helm_release())
        .get_opt(name)
        .await
        .unwrap()
}

pub async fn provider_data(ns: &TestNamespace, name: &str, kind: &str) -> ClusterIPAM {
    eventually(
        60,
        &format!("ClusterIPAM {name} bound to a {kind}"),
        || async {
            let ipam = ns.api::<ClusterIPAM>().get(name).await.ok()?;
            let status = ipam.status.clone()?;
            let bound = status.phase == Some(ClusterIPAMPhase::Bound)
                && status.provider_data.first()?.config.as_ref()?["kind"] == json!(kind);
            bound.then_some(ipam)
        },
    )
    .await
}

/// A wapi-sim with network view `nv` holding 10.57.0.0/24, and the InfobloxInstance (named
/// after the namespace) that reaches it with a password and the sim's CA from Secrets.
pub async fn infoblox_instance(ns: &TestNamespace) -> Sim {
    let sim = Sim::start("admin", "k0rdent-switch").await;
    sim.seed(json!({"network_views": ["nv"], "networks": [{"network": "10.57.0.0/24", "network_view": "nv"}]})).await;
    let secrets = ns.api::<k8s_openapi::api::core::v1::Secret>();
    create(&secrets, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "infoblox"},
        "type": "kubernetes.io/basic-auth", "stringData": {"username": "admin", "password": "k0rdent-switch"}})).await;
    create(
        &secrets,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "infoblox-ca"},
        "stringData": {"ca.crt": String::from_utf8(sim.ca_pem.clone()).unwrap()}}),
    )
    .await;
    create(&Api::<ipam_infoblox::api::InfobloxInstance>::all(ns.client.clone()), json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxInstance", "metadata": {"name": ns.name},
        "spec": {"host": "127.0.0.1", "port": sim.port(), "wapiVersion": "2.12",
                 "credentialsSecretRef": {"name": "infoblox", "namespace": ns.name},
                 "caBundleRef": {"kind": "Secret", "name": "infoblox-ca", "namespace": ns.name}}})).await;
    sim
}

/// A ClusterIPAMClaim for cluster `app` on 10.57.0.0/24 that either provider can serve (the
/// network [`infoblox_instance`] seeds), starting on `in-cluster`.
pub async fn switchable_claim(ns: &TestNamespace, name: &str) {
    create(&ns.api::<ClusterIPAMClaim>(), json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
        "metadata": {"name": name, "annotations": {
            "ipam-operator.io/infoblox-instance": ns.name, "ipam-operator.io/infoblox-network-view": "nv"}},
        "spec": {"provider": "in-cluster", "cluster": "app",
                 "nodeNetwork": {"cidr": "10.57.0.0/24", "gateway": "10.57.0.1"}}}))
    .await;
}

/// Moves a ClusterIPAMClaim to `provider`, as a user editing `spec.provider` would.
pub async fn switch_provider(ns: &TestNamespace, name: &str, provider: &str) {
    ns.api::<ClusterIPAMClaim>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"provider": provider}})),
        )
        .await
        .unwrap();
}

/// A namespace of the test's own with every CRD the k0rdent flow touches, and the in-cluster
/// backend and the k0rdent controllers running in-process on it until the sender is dropped.
pub async fn setup(prefix: &str) -> (TestNamespace, tokio::sync::oneshot::Sender<()>) {
    let ns = TestNamespace::new(prefix).await;
    let mut crds = capi_crds();
    crds.extend(flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = futures::FutureExt::shared(async move {
        let _ = stopped.await;
    });
    let config = ipam_in_cluster::Config {
        scope: ipam_in_cluster::config::Scope {
            namespace: Some(ns.name.clone()),
            watch_filter: None,
        },
        concurrency: 8,
        ..Default::default()
    };
    let reporter = Reporter {
        controller: "ipam-operator-test".into(),
        instance: Some(ns.name.clone()),
    };
    tokio::spawn(ipam_in_cluster::run(
        ns.client.clone(),
        config,
        reporter,
        shutdown.clone(),
    ));
    let providers = ipam_operator::k0rdent::Providers::default()
        .with(ipam_in_cluster::k0rdent_provider::provider())
        .with(ipam_infoblox::k0rdent_provider::provider());
    tokio::spawn(ipam_operator::k0rdent::run(
        ns.client.clone(),
        providers,
        Some(ns.name.clone()),
        shutdown,
    ));
    (ns, stop)
}

/// Both backends: the in-cluster one, and Infoblox against a wapi-sim of the test's own.
pub async fn setup_both(
    prefix: &str,
) -> (
    TestNamespace,
    ipam_test_support::wapi_sim::Sim,
    tokio::sync::oneshot::Sender<()>,
) {
    let (ns, stop) = setup(prefix).await;
    let sim = infoblox_instance(&ns).await;
    let config = ipam_infoblox::Config {
        scope: ipam_infoblox::config::Scope {
            namespace: Some(ns.name.clone()),
            watch_filter: None,
        },
        secret_namespace: ns.name.clone(),
        ..Default::default()
    };
    let reporter = Reporter {
        controller: "ipam-operator-test".into(),
        instance: Some(ns.name.clone()),
    };
    let (infoblox_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ipam_infoblox::run(
        ns.client.clone(),
        config,
        reporter,
        async move {
            let _ = stopped.await;
        },
    ));
    std::mem::forget(infoblox_stop); // runs until the test's runtime ends
    (ns, sim, stop)
}

/// Waits until deployment `cd`'s `IPAMReady` says its claim cannot hand out an address for
/// every machine; returns that condition's (status, message).
pub async fn short_of_addresses(ns: &TestNamespace, cd: &str) -> (String, String) {
    eventually(60, "IPAMReady names the shortfall", || async {
        let cd = ns.api::<ClusterDeployment>().get(cd).await.ok()?;
        let (status, reason, message) = condition(&cd.status?.conditions, "IPAMReady")?;
        (reason == "WaitingForClaim" && message.contains("can hand out only"))
            .then_some((status, message))
    })
    .await
}

/// Gives deployment `cd`'s inline claim the node network `cidr`, as a user editing it would.
pub async fn set_node_cidr(ns: &TestNamespace, cd: &str, cidr: &str) {
    ns.api::<ClusterDeployment>()
        .patch(
            cd,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"ipamClaim": {"spec": {"nodeNetwork": {"cidr": cidr}}}}}),
            ),
        )
        .await
        .unwrap();
}
