//! Status written by server-side apply, one field manager per controller.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Applies `status` to `name`'s status subresource as `manager`.
///
/// Forced: the manager owns the fields it writes. Nothing that guards uniqueness relies on
/// this write; allocation safety comes from create conflicts.
pub async fn apply<K>(
    api: &Api<K>,
    manager: &str,
    name: &str,
    status: serde_json::Value,
) -> kube::Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&body),
    )
    .await
}
