//! InfobloxInstance (cluster-scoped): how to reach one Grid Master. Schema-compatible with
//! telekom/cluster-api-ipam-provider-infoblox v1alpha1 (infoblox-wapi.md §1.1); the fields
//! after `customCAPath` are this operator's additions.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The Secret's namespace; the operator's own namespace when unset (telekom's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where the CA bundle that verifies the Grid Master's certificate is kept.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CaBundleRef {
    /// `Secret` or `ConfigMap`.
    #[x_kube(validation = Rule::new("self == 'Secret' || self == 'ConfigMap'").message("kind must be Secret or ConfigMap"))]
    pub kind: String,
    #[schemars(length(min = 1))]
    pub name: String,
    /// The namespace; the operator's own namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The key holding the PEM bundle; `ca.crt` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn default_port() -> String {
    "443".into()
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1alpha1",
    kind = "InfobloxInstance",
    status = "InstanceStatus",
    category = "cluster-api",
    label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
    label("cluster.x-k8s.io/v1beta1", "v1alpha1"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha1"),
    printcolumn(
        name = "Host",
        type_ = "string",
        json_path = ".spec.host",
        description = "Infoblox host's address"
    ),
    printcolumn(
        name = "Port",
        type_ = "string",
        json_path = ".spec.port",
        description = "Networking port of the Infoblox host"
    ),
    printcolumn(
        name = "WAPI ver.",
        type_ = "string",
        json_path = ".spec.wapiVersion",
        description = "Version of web API to be used"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpec {
    /// The Grid Master's host name or IP, without a port.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("!self.contains('/') && (isIP(self) || !self.contains(':'))").message("host must be a host name or IP without port or scheme; put the port in spec.port"))]
    pub host: String,
    /// The HTTPS port.
    #[serde(default = "default_port")]
    pub port: String,
    /// The WAPI version used in `/wapi/v<wapiVersion>/`, e.g. `2.12`.
    pub wapi_version: String,
    /// The Secret with `username` + `password`, or `clientCert` + `clientKey` (PEM), or both.
    #[serde(rename = "credentialsSecretRef")]
    pub credentials_secret_ref: SecretRef,
    /// The network view of pools that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "defaultNetworkView")]
    pub default_network_view: Option<String>,
    /// The DNS view of pools that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "defaultDNSView")]
    pub default_dns_view: Option<String>,
    /// Skip verifying the Grid Master's certificate. Only for tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "disableTLSVerification")]
    pub disable_tls_verification: Option<bool>,
    /// Kept for compatibility with telekom's CRD and refused: a file inside the controller's
    /// container cannot be managed from the API. Use `caBundleRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "customCAPath")]
    pub custom_ca_path: Option<String>,
    /// The CA bundle (PEM) that verifies the Grid Master, from a Secret or ConfigMap. The
    /// system roots are used when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_ref: Option<CaBundleRef>,
    /// Seconds allowed to open a connection; 10 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 300))]
    pub connect_timeout_seconds: Option<i32>,
    /// Seconds allowed for one WAPI request; 30 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub request_timeout_seconds: Option<i32>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// `Reachable`, `Authenticated`, `WAPIVersionSupported` and the summary `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
