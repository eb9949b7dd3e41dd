//! Shared by the in-cluster tests: a namespace with the CRDs installed, an operator instance
//! of the test's own, and small builders and waits.
#![allow(dead_code)] // each test binary uses a different part

use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_in_cluster::api::{GlobalInClusterIPPool, InClusterIPPool};
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use kube::runtime::events::Reporter;
use kube::{Api, Resource};
use serde_json::json;

pub async fn setup(prefix: &str) -> TestNamespace {
    // The operator's log, shown for failing tests (RUST_LOG to change the level).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let ns = TestNamespace::new(prefix).await;
    let mut crds = capi_crds();
    crds.extend(ipam_in_cluster::crds());
    install_crds(&ns.client, &crds).await;
    ns
}

/// Runs an operator instance serving only `ns`, until the returned sender is dropped.
pub fn operator(ns: &TestNamespace) -> tokio::sync::oneshot::Sender<()> {
    operator_with(
        ns,
        ipam_in_cluster::Config {
            scope: ipam_in_cluster::config::Scope {
                namespace: Some(ns.name.clone()),
                watch_filter: None,
            },
            concurrency: 16,
            ..Default::default()
        },
    )
}

pub fn operator_with(
    ns: &TestNamespace,
    config: ipam_in_cluster::Config,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reporter = Reporter {
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
    stop
}

pub fn pool(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool", "metadata": {"name": name}, "spec": spec})
}

pub fn global_pool(
    name: &str,
    labels: serde_json::Value,
    spec: serde_json::Value,
) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "GlobalInClusterIPPool",
           "metadata": {"name": name, "labels": labels}, "spec": spec})
}

pub fn claim(name: &str, pool_kind: &str, pool: &str) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim", "metadata": {"name": name},
           "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": pool_kind, "name": pool}}})
}

pub use ipam_test_support::{create, eventually};

/// Where the upstream provider's sample manifests are kept, unchanged.
fn samples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e/fixtures/in-cluster-samples")
}

/// Applies one sample file unchanged, in `ns` when the kind is namespaced.
pub async fn apply(client: &kube::Client, ns: &str, file: &str) {
    use kube::api::PostParams;
    use kube::core::{DynamicObject, GroupVersionKind};
    use kube::discovery::{Discovery, Scope};
    let text = std::fs::read_to_string(samples().join(file)).unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for obj in serde_saphyr::from_multiple::<DynamicObject>(&text).unwrap() {
        let gvk = GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
        let (resource, caps) = discovery.resolve_gvk(&gvk).expect("kind served");
        let api = if caps.scope == Scope::Namespaced {
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource)
        } else {
            Api::<DynamicObject>::all_with(client.clone(), &resource)
        };
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// The claim's `Ready` condition as (status, reason, message), once it has one matching `reason`.
pub async fn ready_reason(api: &Api<IPAddressClaim>, name: &str, reason: &str) -> (String, String) {
    eventually(
        30,
        &format!("claim {name} Ready reason {reason}"),
        || async {
            let claim = api.get(name).await.ok()?;
            let ready = claim
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.reason == reason).then_some((ready.status, ready.message))
        },
    )
    .await
}

/// The IPAddress of an allocated claim.
pub async fn allocated(
    addresses: &Api<IPAddress>,
    claims: &Api<IPAddressClaim>,
    name: &str,
) -> IPAddress {
    eventually(30, &format!("claim {name} allocated"), || async {
        let claim = claims.get(name).await.ok()?;
        let reference = claim.status?.address_ref?;
        addresses.get_opt(&reference.name).await.ok().flatten()
    })
    .await
}

pub async fn gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(30, &format!("{name} gone"), || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await
}

pub fn pools(ns: &TestNamespace) -> Api<InClusterIPPool> {
    ns.api()
}

pub fn global_pools(ns: &TestNamespace) -> Api<GlobalInClusterIPPool> {
    Api::all(ns.client.clone())
}
