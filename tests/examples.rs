//! Every manifest under examples/ is accepted by the real API server as written, and the
//! prefix-pool story does what its comments say.

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

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Creates every object of the manifests under `dir` as written, namespaced ones in `ns`.
async fn apply_all(ns: &TestNamespace, dir: &Path) {
    let discovery = Discovery::new(ns.client.clone()).run().await.unwrap();
    let mut files = Vec::new();
    manifests(dir, &mut files);
    assert!(!files.is_empty(), "{} holds no manifest", dir.display());
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
}

async fn namespace(name: &str) -> TestNamespace {
    let ns = TestNamespace::new(name).await;
    let mut crds = ipam_test_support::capi_crds();
    crds.extend(ipam_test_support::flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    ns
}

#[tokio::test]
async fn every_example_applies_unchanged() {
    let ns = namespace("examples").await;
    apply_all(&ns, &examples()).await;
    ns.delete().await;
}

/// examples/prefix-pool: each claim gets the block its comments say.
#[tokio::test(flavor = "multi_thread")]
async fn the_prefix_pool_example_hands_out_the_blocks_it_describes() {
    use ipam_in_cluster::api::capi::IPAddress;
    let ns = namespace("example-prefix").await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ipam_in_cluster::Config {
        namespace: Some(ns.name.clone()),
        ..Default::default()
    };
    let reporter = kube::runtime::events::Reporter {
        controller: "ipam-operator-test".into(),
        instance: Some(ns.name.clone()),
    };
    tokio::spawn(ipam_in_cluster::run(
        ns.client.clone(),
        config,
        reporter,
        async move {
            let _ = stopped.await;
        },
    ));
    apply_all(&ns, &examples().join("prefix-pool")).await;
    let addresses = ns.api::<IPAddress>();
    for (claim, address, prefix, gateway) in [
        ("tenant-a-lb", "10.80.0.16", 28, Some("10.80.0.1")),
        ("tenant-a-nodes", "fd80:0:1::", 64, None),
    ] {
        let got = ipam_test_support::eventually(30, &format!("{claim}'s IPAddress"), || async {
            addresses.get_opt(claim).await.ok().flatten()
        })
        .await;
        assert_eq!(
            (
                got.spec.address.as_str(),
                got.spec.prefix,
                got.spec.gateway.as_deref()
            ),
            (address, prefix, gateway),
            "{claim}"
        );
    }
    drop(stop);
    ns.delete().await;
}
