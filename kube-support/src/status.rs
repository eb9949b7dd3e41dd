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

/// The result of a write whose object may have been deleted meanwhile: a 404 means the
/// deletion made the write moot, which is no error.
pub fn unless_gone<T>(written: kube::Result<T>) -> kube::Result<()> {
    match written {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
