//! Every manifest under examples/ is accepted by the real API server as written
//! (tests/example_stories.rs checks that each story then does what it says).

use std::path::Path;

use ipam_test_support::manifests::{apply, objects, yaml_files};
use ipam_test_support::{TestNamespace, install_crds};
use kube::api::DeleteParams;
use kube::discovery::Discovery;

#[tokio::test]
async fn every_example_applies_unchanged() {
    let ns = TestNamespace::new("examples").await;
    let mut crds = ipam_test_support::capi_crds();
    crds.extend(ipam_test_support::flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let discovery = Discovery::new(ns.client.clone()).run().await.unwrap();

    let files = yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"));
    assert!(!files.is_empty(), "examples/ holds no manifest");
    let mut cluster_wide = Vec::new();
    for file in files {
        for obj in objects(&file) {
            let applied = apply(&ns.client, &discovery, &ns.name, &file, obj).await;
            if !applied.namespaced {
                cluster_wide.push(applied);
            }
        }
    }
    // The namespace takes its own objects with it; cluster-scoped ones go by hand.
    for applied in cluster_wide {
        let _ = applied
            .api
            .delete(&applied.name, &DeleteParams::default())
            .await;
    }
    ns.delete().await;
}
