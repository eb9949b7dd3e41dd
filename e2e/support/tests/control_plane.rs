//! The shared control plane behaves like a real cluster where the tests depend on it:
//! owner references cascade and deleted namespaces go away.

use std::time::Duration;

use ipam_test_support::TestNamespace;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Resource};

async fn eventually_gone<K>(api: &Api<K>, name: &str, what: &str)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    for _ in 0..300 {
        if api.get_opt(name).await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} {name} still exists after 30s");
}

#[tokio::test]
async fn garbage_collector_deletes_dependents_of_a_deleted_owner() {
    let ns = TestNamespace::new("gc").await;
    let api = ns.api::<ConfigMap>();
    let owner = api
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.clone().unwrap(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    eventually_gone(&api, "dependent", "ConfigMap").await;
    ns.delete().await;
}

#[tokio::test]
async fn a_deleted_namespace_finishes_deleting() {
    let ns = TestNamespace::new("ns-delete").await;
    ns.api::<ConfigMap>()
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("content".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (client, name) = (ns.client.clone(), ns.name.clone());
    ns.delete().await;
    eventually_gone(&Api::<Namespace>::all(client), &name, "Namespace").await;
}
