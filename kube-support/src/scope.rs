//! Helpers every controller's plumbing repeats.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};

/// The API for a namespaced kind in `namespace`, or in every namespace when None: how a
/// controller honours `--namespace`.
pub fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The watch configuration of a controller run with `--watch-filter`: only objects labelled
/// `cluster.x-k8s.io/watch-filter=<value>`, as Cluster API providers do.
pub fn watcher(watch_filter: Option<&str>) -> kube::runtime::watcher::Config {
    let config = kube::runtime::watcher::Config::default().any_semantic();
    match watch_filter {
        Some(value) => config.labels(&format!(
            "{}={value}",
            crate::address_metadata::WATCH_FILTER_LABEL
        )),
        None => config,
    }
}

/// An `error_policy` for controllers whose errors are all worth a retry a little later:
/// logs the object and the cause, and looks again in two seconds.
pub fn retry_later<K, E, C>(obj: Arc<K>, error: &E, _: Arc<C>) -> Action
where
    K: Resource<DynamicType = ()>,
    E: Display,
{
    tracing::warn!(kind = %K::kind(&()), name = %obj.name_any(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}
