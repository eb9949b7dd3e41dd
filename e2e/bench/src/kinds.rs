//! The kinds the driver reads and writes, named by group/version/kind only: the driver must not
//! share types with the operator it measures, so every object is a `DynamicObject` built from
//! JSON.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub const CAPI_IPAM: &str = "ipam.cluster.x-k8s.io";
pub const METAL3_IPAM: &str = "ipam.metal3.io";
pub const K0RDENT: &str = "k0rdent.mirantis.com";

pub fn capi_claim() -> ApiResource {
    resource(CAPI_IPAM, "v1beta2", "IPAddressClaim", "ipaddressclaims")
}
pub fn capi_address() -> ApiResource {
    resource(CAPI_IPAM, "v1beta2", "IPAddress", "ipaddresses")
}
pub fn in_cluster_pool() -> ApiResource {
    resource(CAPI_IPAM, "v1alpha2", "InClusterIPPool", "inclusterippools")
}
pub fn metal3_pool() -> ApiResource {
    resource(METAL3_IPAM, "v1alpha1", "IPPool", "ippools")
}
pub fn metal3_claim() -> ApiResource {
    resource(METAL3_IPAM, "v1alpha1", "IPClaim", "ipclaims")
}
pub fn metal3_address() -> ApiResource {
    resource(METAL3_IPAM, "v1alpha1", "IPAddress", "ipaddresses")
}
pub fn cluster_template() -> ApiResource {
    resource(K0RDENT, "v1beta1", "ClusterTemplate", "clustertemplates")
}
pub fn cluster_deployment() -> ApiResource {
    resource(
        K0RDENT,
        "v1beta1",
        "ClusterDeployment",
        "clusterdeployments",
    )
}
pub fn helm_chart() -> ApiResource {
    resource("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts")
}
pub fn helm_repository() -> ApiResource {
    resource(
        "source.toolkit.fluxcd.io",
        "v1",
        "HelmRepository",
        "helmrepositories",
    )
}
pub fn helm_release() -> ApiResource {
    resource(
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
    )
}

/// The namespaced API of `kind` in `namespace`.
pub fn api(client: &Client, namespace: &str, kind: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, kind)
}

/// A typed-looking object from JSON, with the apiVersion and kind of `kind` filled in.
pub fn object(kind: &ApiResource, mut body: serde_json::Value) -> DynamicObject {
    body["apiVersion"] = kind.api_version.clone().into();
    body["kind"] = kind.kind.clone().into();
    serde_json::from_value(body).expect("the driver's objects are valid JSON objects")
}
