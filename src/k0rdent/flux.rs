//! The Flux kinds the k0rdent layer writes or reads. Flux may be installed after the operator
//! (or not at all), so they are reached as dynamic objects: nothing here needs their CRDs at
//! start-up.

use kube::core::{ApiResource, GroupVersionKind};

use crate::api::cluster_template::HelmChartSourceKind;

/// helm-controller's HelmRelease: what a provisioned ClusterDeployment gets.
pub fn helm_release() -> ApiResource {
    resource("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases")
}

/// source-controller's HelmChart: what a ClusterTemplate's chart is fetched as.
pub fn helm_chart() -> ApiResource {
    resource("source.toolkit.fluxcd.io", "HelmChart", "helmcharts")
}

/// The source a `chartSpec.sourceRef` names.
pub fn source(kind: HelmChartSourceKind) -> ApiResource {
    match kind {
        HelmChartSourceKind::HelmRepository => resource(
            "source.toolkit.fluxcd.io",
            "HelmRepository",
            "helmrepositories",
        ),
        HelmChartSourceKind::GitRepository => resource(
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
        HelmChartSourceKind::Bucket => resource("source.toolkit.fluxcd.io", "Bucket", "buckets"),
    }
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    let version = if group == "helm.toolkit.fluxcd.io" {
        "v2"
    } else {
        "v1"
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}
