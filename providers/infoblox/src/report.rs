//! Conditions of the InfobloxInstance and InfobloxIPPool, written by server-side apply, and
//! when each is checked again; what their controllers reconcile with.

use std::sync::Arc;

use ipam_kube_support::conditions::{self, Decision, READY};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::api::{InfobloxIPPool, InfobloxInstance};
use crate::config::Config;

/// What the instance and pool controllers reconcile with.
pub struct Context {
    pub client: Client,
    pub config: Config,
}

impl Context {
    pub fn new(client: &Client, config: &Config) -> Arc<Self> {
        Arc::new(Context {
            client: client.clone(),
            config: config.clone(),
        })
    }
}

/// An object whose conditions the Infoblox controllers report.
pub trait Reported:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug
{
    /// The conditions it shows now.
    fn conditions(&self) -> &[Condition];
}

impl Reported for InfobloxInstance {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

impl Reported for InfobloxIPPool {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

/// Shows `decisions` on `obj` and says when to check it again: a Ready one at the resync
/// period (Infoblox changes unseen), any other soon, as it may come round.
pub async fn show<K: Reported>(
    api: &Api<K>,
    manager: &str,
    obj: &K,
    decisions: &[Decision],
    config: &Config,
) -> kube::Result<Action> {
    self::conditions(api, manager, obj, obj.conditions(), decisions).await?;
    let ready = decisions.iter().any(|d| d.type_ == READY && d.status);
    Ok(Action::requeue(match ready {
        true => config.resync,
        false => config.retry,
    }))
}

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
