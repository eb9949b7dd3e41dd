//! Conditions of the InfobloxInstance and InfobloxIPPool, written by server-side apply.

use ipam_kube_support::conditions::{self, Decision};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// Applies exactly `decisions` as the conditions `manager` owns on `obj`, keeping each
/// transition time unless its status flips; writes nothing when nothing changed.
pub async fn conditions<K>(
    api: &Api<K>,
    manager: &str,
    obj: &K,
    current: &[Condition],
    decisions: &[Decision],
) -> kube::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let generation = obj.meta().generation;
    let unchanged = decisions.len() == current.len()
        && decisions
            .iter()
            .all(|d| conditions::matches(current, d, generation));
    if unchanged {
        return Ok(());
    }
    let mut next: Vec<Condition> = current
        .iter()
        .filter(|c| decisions.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in decisions {
        conditions::set(&mut next, d, generation);
    }
    ipam_kube_support::status::apply(
        api,
        manager,
        &obj.name_any(),
        serde_json::json!({ "conditions": next }),
    )
    .await
    .map(|_| ())
}
