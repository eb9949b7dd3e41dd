//! The k0rdent objects tests build on: a valid ClusterTemplate, ClusterDeployments, and an
//! InfobloxInstance on a wapi-sim of the test's own for the `ipam-infoblox` provider.
#![allow(dead_code)]

use ipam_operator::api::*;
use ipam_operator::k0rdent::deployment_controller::helm_release_resource;
use ipam_test_support::wapi_sim::Sim;
use ipam_test_support::{TestNamespace, create, eventually};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use serde_json::json;

/// A valid template, as kcm's template controller would leave it.
pub async fn template(ns: &TestNamespace) {
    let api = ns.api::<ClusterTemplate>();
    create(&api, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
        "metadata": {"name": "vsphere"},
        "spec": {"helm": {"chartSpec": {"chart": "vsphere-standalone-cp", "version": "1.0.42", "interval": "10m0s",
                                        "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}}}))
    .await;
    let status = json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
        "status": {"valid": true, "chartRef": {"kind": "HelmChart", "name": "vsphere", "namespace": ns.name}}});
    api.patch_status(
        "vsphere",
        &PatchParams::apply("kcm-stand-in").force(),
        &Patch::Apply(&status),
    )
    .await
    .unwrap();
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
    Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &helm_release_resource())
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
