//! YAML manifests as a person applies them (`kubectl apply -f FILE`), into a test's
//! namespace: each object's kind is found by discovery, namespaced objects go to the test's
//! namespace whatever they name, cluster-scoped ones stay cluster-wide.

use std::path::{Path, PathBuf};

use kube::api::{Patch, PatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use kube::{Api, Client};

/// Every `.yaml` file under `dir`, sorted, recursively.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// The objects of a multi-document YAML file.
pub fn objects(file: &Path) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", file.display()))
}

/// An object applied by [`apply`]: how to reach it again.
pub struct Applied {
    pub api: Api<DynamicObject>,
    pub name: String,
    pub namespaced: bool,
}

/// Applies `obj` (server-side, as `kubectl apply --server-side`) into `namespace` if its
/// kind is namespaced; panics with the file's name and the API server's answer if refused.
pub async fn apply(
    client: &Client,
    discovery: &Discovery,
    namespace: &str,
    file: &Path,
    mut obj: DynamicObject,
) -> Applied {
    let types = obj
        .types
        .clone()
        .expect("every manifest object has apiVersion and kind");
    let gvk = GroupVersionKind::try_from(&types).unwrap();
    let (resource, caps) = discovery
        .resolve_gvk(&gvk)
        .unwrap_or_else(|| panic!("{}: the API server does not serve {gvk:?}", file.display()));
    let namespaced = caps.scope == Scope::Namespaced;
    let api = if namespaced {
        obj.metadata.namespace = None;
        Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::<DynamicObject>::all_with(client.clone(), &resource)
    };
    let name = obj.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply("ipam-test").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {name} refused: {e}", file.display()));
    Applied {
        api,
        name,
        namespaced,
    }
}
