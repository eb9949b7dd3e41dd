//! ClusterTemplate: the chart a ClusterDeployment installs. This operator reads it; kcm's
//! template controller (or the user) fills its status.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "k0rdent.mirantis.com",
    version = "v1beta1",
    kind = "ClusterTemplate",
    namespaced,
    status = "ClusterTemplateStatus",
    shortname = "clustertmpl",
    annotation("helm.sh/resource-policy", "keep"),
    printcolumn(name = "valid", type_ = "boolean", json_path = ".status.valid"),
    printcolumn(
        name = "validationError",
        type_ = "string",
        json_path = ".status.validationError",
        priority = "1"
    ),
    printcolumn(
        name = "description",
        type_ = "string",
        json_path = ".status.description",
        priority = "1"
    )
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("Spec is immutable"))]
#[x_kube(validation = Rule::new("!has(self.helm.chartSource)").message(".spec.helm.chartSource is not supported for ClusterTemplates"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterTemplateSpec {
    pub helm: HelmSpec,

    /// The exact Kubernetes version (semver) the template provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_version: Option<String>,

    /// Cluster API providers the template needs, when the chart's annotations lack them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,

    /// Provider name → Cluster API contract version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_contracts: BTreeMap<String, String>,
}

const EXCLUSIVE: &str = "chartSpec, chartSource and chartRef are mutually exclusive";

/// Where the chart comes from: exactly one of the three.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.chartSpec) ? (!has(self.chartSource) && !has(self.chartRef)) : true").message(EXCLUSIVE))]
#[x_kube(validation = Rule::new("has(self.chartSource) ? (!has(self.chartSpec) && !has(self.chartRef)) : true").message(EXCLUSIVE))]
#[x_kube(validation = Rule::new("has(self.chartRef) ? (!has(self.chartSpec) && !has(self.chartSource)) : true").message(EXCLUSIVE))]
#[x_kube(validation = Rule::new("has(self.chartSpec) || has(self.chartRef) || has(self.chartSource)").message("one of chartSpec, chartRef or chartSource must be set"))]
#[serde(rename_all = "camelCase")]
pub struct HelmSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_spec: Option<HelmChartSpec>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceSourceReference>,

    /// kcm's own source kind; accepted by the schema, refused for ClusterTemplates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::free_form_object")]
    pub chart_source: Option<serde_json::Value>,
}

/// Flux source-controller `v1` HelmChartSpec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.verify) || self.sourceRef.kind == 'HelmRepository'").message("spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'"))]
#[serde(rename_all = "camelCase")]
pub struct HelmChartSpec {
    pub chart: String,

    #[serde(default = "any_version")]
    pub version: String,

    pub source_ref: LocalHelmChartSourceReference,

    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,

    #[serde(default = "chart_version_strategy")]
    pub reconcile_strategy: ReconcileStrategy,

    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_values_files: Option<bool>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OciRepositoryVerification>,
}

fn any_version() -> String {
    "*".into()
}

fn chart_version_strategy() -> ReconcileStrategy {
    ReconcileStrategy::ChartVersion
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ReconcileStrategy {
    #[default]
    ChartVersion,
    Revision,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalHelmChartSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: HelmChartSourceKind,
    pub name: String,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum HelmChartSourceKind {
    #[default]
    HelmRepository,
    GitRepository,
    Bucket,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryVerification {
    #[serde(default = "cosign")]
    pub provider: VerificationProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "matchOIDCIdentity"
    )]
    pub match_oidc_identity: Vec<OidcIdentityMatch>,
}

fn cosign() -> VerificationProvider {
    VerificationProvider::Cosign
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    #[default]
    Cosign,
    Notation,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct LocalObjectReference {
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct OidcIdentityMatch {
    pub issuer: String,
    pub subject: String,
}

/// Flux helm-controller `v2` CrossNamespaceSourceReference.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: ChartRefKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ChartRefKind {
    #[default]
    HelmChart,
    #[serde(rename = "OCIRepository")]
    OciRepository,
    ExternalArtifact,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTemplateStatus {
    /// True when the last check of the template found no error.
    #[serde(default)]
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceSourceReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::any_json")]
    pub config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provider_contracts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_config_map_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
