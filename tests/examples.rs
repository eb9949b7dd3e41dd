//! Every manifest under examples/ is accepted by the real API server as written.

use std::path::{Path, PathBuf};

use ipam_test_support::{TestNamespace, install_crds};
use kube::api::PostParams;
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{Discovery, Scope};

fn manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            manifests(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_example_applies_unchanged() {
    let ns = TestNamespace::new("examples").await;
    let mut crds = ipam_test_support::capi_crds();
    crds.extend(ipam_test_support::flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let discovery = Discovery::new(ns.client.clone()).run().await.unwrap();

    let mut files = Vec::new();
    manifests(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut files,
    );
    assert!(!files.is_empty(), "examples/ holds no manifest");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let docs: Vec<DynamicObject> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", file.display()));
        for mut obj in docs {
            let types = obj
                .types
                .clone()
                .expect("every example object has apiVersion and kind");
            let gvk = GroupVersionKind::try_from(&types).unwrap();
            let (resource, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| {
                panic!("{}: the API server does not serve {gvk:?}", file.display())
            });
            let api = if caps.scope == Scope::Namespaced {
                // Each example runs in this test's namespace, not the one it names.
                obj.metadata.namespace = None;
                kube::Api::<DynamicObject>::namespaced_with(ns.client.clone(), &ns.name, &resource)
            } else {
                kube::Api::<DynamicObject>::all_with(ns.client.clone(), &resource)
            };
            api.create(&PostParams::default(), &obj)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {} refused: {e}",
                        file.display(),
                        obj.metadata.name.clone().unwrap_or_default()
                    )
                });
        }
    }
    ns.delete().await;
}
