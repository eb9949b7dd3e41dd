//! ClusterDeployment: the k0rdent request for a cluster, and where IPAM gates provisioning.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::cluster_ipam_claim::ClusterIPAMClaimSpec;

/// The fields this operator acts on. A ClusterDeployment carries more in kcm (service specs,
/// cleanup policies...); the spec keeps unknown fields rather than rejecting those manifests.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "k0rdent.mirantis.com",
    version = "v1beta1",
    kind = "ClusterDeployment",
    namespaced,
    status = "ClusterDeploymentStatus",
    shortname = "clusterd",
    shortname = "cld",
    printcolumn(name = "dryRun", type_ = "boolean", json_path = ".spec.dryRun"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[kube(validation = Rule::new(
    "!has(self.spec.ipamClaim) || !has(self.spec.ipamClaim.spec) || !has(self.spec.ipamClaim.ref) || self.spec.ipamClaim.ref == '' || self.spec.ipamClaim.ref == self.metadata.name + '-ipam'"
).message("spec.ipamClaim: set either spec (an inline claim) or ref (an existing claim), not both; with an inline spec, ref may only name the inline claim <name>-ipam"))]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ClusterDeploymentSpec {
    /// The ClusterTemplate, in the deployment's namespace, to install.
    #[schemars(length(min = 1, max = 253))]
    pub template: String,

    /// The Credential, in the deployment's namespace, the cluster is created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,

    /// Helm values for the template's chart. The operator never rewrites them; IPAM values
    /// are merged into the HelmRelease it renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::any_json")]
    pub config: Option<serde_json::Value>,

    /// Validate and render only; create nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,

    #[serde(default = "default_true")]
    pub propagate_credentials: bool,

    /// Static addresses for the cluster: an inline claim, or a reference to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_claim: Option<IpamClaimSource>,
}

fn default_true() -> bool {
    true
}

/// `spec` creates and owns a claim named `<deployment>-ipam`; `ref` names an existing claim.
/// kcm writes `{}` when IPAM is unused, which means disabled.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct IpamClaimSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ClusterIPAMClaimSpec>,

    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDeploymentStatus {
    /// Conditions, one per type: `IPAMReady` says what provisioning waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The Kubernetes version the template provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_version: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
