use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

/// Applies the CRDs (server-side, so tests running at once may all do it) and waits until
/// each is established, as a controller would before its first list.
///
/// Where the API server already has a webhook conversion for a CRD, that is kept: an
/// operator under test may have pointed it at itself by URL (`--conversion-url`), and
/// applying the generated Service beside that URL would be refused.
pub async fn install_crds(client: &Client, crds: &[CustomResourceDefinition]) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let params = PatchParams::apply("ipam-operator-tests").force();
    for crd in crds {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        let mut body = crd.clone();
        body.metadata.managed_fields = None;
        if let Some(live) = api
            .get_opt(&name)
            .await
            .unwrap_or_else(|e| panic!("read CRD {name}: {e}"))
            .and_then(|live| live.spec.conversion)
            .filter(|live| live.strategy == "Webhook")
            && body.spec.conversion.is_some()
        {
            body.spec.conversion = Some(live);
        }
        api.patch(&name, &params, &Patch::Apply(&body))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    for crd in crds {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not established within 30s"))
            .unwrap_or_else(|e| panic!("watch CRD {name}: {e}"));
    }
}

/// CRDs read from a YAML file of one or more documents, e.g. the Cluster API fixtures in
/// `e2e/fixtures/capi`.
pub fn crds_from_yaml(path: &std::path::Path) -> Vec<CustomResourceDefinition> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} holds no CRD YAML: {e}", path.display()))
}

/// Cluster API's own CRDs (Cluster, IPAddressClaim, IPAddress), which the operator consumes
/// but does not serve.
pub fn capi_crds() -> Vec<CustomResourceDefinition> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/capi");
    [
        "cluster.x-k8s.io_clusters.yaml",
        "ipam.cluster.x-k8s.io_ipaddressclaims.yaml",
        "ipam.cluster.x-k8s.io_ipaddresses.yaml",
    ]
    .iter()
    .flat_map(|file| crds_from_yaml(&dir.join(file)))
    .collect()
}
