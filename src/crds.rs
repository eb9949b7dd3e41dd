//! Every CustomResourceDefinition the operator serves, in one place, so `ipam-operator crds`,
//! the committed `crds/` folder and the tests that install them cannot disagree.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::api;

/// The CRDs, in a stable order (by group, then kind) so the printed YAML diffs cleanly.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        api::ClusterDeployment::crd(),
        api::ClusterIPAM::crd(),
        api::ClusterIPAMClaim::crd(),
        api::ClusterTemplate::crd(),
    ];
    crds.extend(ipam_in_cluster::crds());
    crds.extend(ipam_infoblox::crds());
    crds.sort_by(|a, b| {
        (&a.spec.group, &a.spec.names.kind).cmp(&(&b.spec.group, &b.spec.names.kind))
    });
    crds
}

/// The CRDs as one multi-document YAML stream.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(crd)?);
    }
    Ok(out)
}
