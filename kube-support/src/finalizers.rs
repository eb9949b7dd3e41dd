//! Finalizers added and removed with JSON patches guarded by the object's resourceVersion,
//! so a write based on a stale read fails instead of dropping someone else's finalizer.

use crate::status::unless_gone;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

/// Adds `finalizer` unless present. Fails with 409/422 when `obj` is stale.
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(obj, finalizer) {
        return Ok(obj.clone());
    }
    let rv = obj.resource_version().unwrap_or_default();
    let patch = if obj.meta().finalizers.is_none() {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
        ])
    } else {
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ])
    };
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(serde_json::from_value(patch).expect("a valid JSON patch")),
    )
    .await
}

/// Removes `finalizer` if present. Tolerates an object that is already gone.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(index) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let patch = json!([
        {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": finalizer},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
    ]);
    let patch = Patch::<()>::Json(serde_json::from_value(patch).expect("a valid JSON patch"));
    unless_gone(
        api.patch(&obj.name_any(), &PatchParams::default(), &patch)
            .await,
    )
}

/// Deletes an object this controller protects with `finalizer`: the finalizer first, so the
/// deletion completes at once. One already gone counts as deleted.
pub async fn remove_and_delete<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    remove(api, obj, finalizer).await?;
    unless_gone(api.delete(&obj.name_any(), &Default::default()).await)
}
