//! Cluster API Machines as owners of claims, for host names taken from a Machine
//! (infoblox-wapi.md §1.3). The Cluster API fixtures hold no Machine CRD, and the operator
//! reads only a Machine's name and owner references, so a CRD that keeps any spec stands in.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::json;

use ipam_kube_support::capi::IPAddressClaim;
use ipam_test_support::install_crds;

use super::{Env, create};

const API_VERSION: &str = "cluster.x-k8s.io/v1beta2";

fn machine_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "machines.cluster.x-k8s.io"},
        "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
                 "names": {"kind": "Machine", "listKind": "MachineList", "plural": "machines", "singular": "machine"},
                 "versions": [{"name": "v1beta2", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap()
}

impl Env {
    /// A Machine `name` in namespace `ns`.
    pub async fn machine_in(&self, ns: &str, name: &str) -> DynamicObject {
        install_crds(&self.ns.client, &[machine_crd()]).await;
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta2",
            "Machine",
        ));
        let machines = Api::<DynamicObject>::namespaced_with(self.ns.client.clone(), ns, &resource);
        let machine: DynamicObject = serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "Machine",
            "metadata": {"name": name}, "spec": {"clusterName": "c1"}
        }))
        .unwrap();
        machines
            .create(&Default::default(), &machine)
            .await
            .expect("API server accepts the Machine")
    }

    /// A claim on `pool` in namespace `ns` that `machine` controls. (Infrastructure providers
    /// put their own machine in between; the host name lookup walks up to it either way.)
    pub async fn machine_claim_in(
        &self,
        ns: &str,
        name: &str,
        pool: &str,
        machine: &DynamicObject,
    ) -> IPAddressClaim {
        create(
            &Api::namespaced(self.ns.client.clone(), ns),
            json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
                   "metadata": {"name": name, "labels": {"cluster.x-k8s.io/watch-filter": self.ns.name},
                                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Machine",
                                                     "name": machine.name_any(), "uid": machine.uid().unwrap(),
                                                     "controller": true}]},
                   "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": pool}}}),
        )
        .await
    }
}
