//! Caches (reflector stores) that the controllers read.
//!
//! Each controller owns the caches it reads and is triggered by the very stream that fills
//! them, so no trigger can arrive before the change it announces is in the cache. (kube's
//! shared-store fan-out would save watches, but it does not pass deletions on, and a pool
//! must be recounted when one of its addresses is deleted.)

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::Stream;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// A cache and the stream of changes that fills it: a change is in the store before the
/// stream yields it, so a controller triggered by the stream never reads an older store.
/// Deletions are yielded too.
pub fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Default + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config))
        .default_backoff()
        .touched_objects();
    (store, stream)
}

/// Lists the objects of a store matching `keep`.
pub fn filter<K>(store: &Store<K>, keep: impl Fn(&K) -> bool) -> Vec<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store.state().into_iter().filter(|k| keep(k)).collect()
}

/// Opens once every given cache has finished its first list, for any number of waiters.
///
/// A kube `Store` wakes only the last of several tasks waiting on `wait_until_ready` at once,
/// so reconciles must not wait on stores directly: one task waits on each store and then
/// opens this gate.
#[derive(Clone)]
pub struct CachesReady(tokio::sync::watch::Receiver<bool>);

impl CachesReady {
    pub fn spawn(
        stores: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
    ) -> Self {
        let (open, gate) = tokio::sync::watch::channel(false);
        // /readyz waits for every cache a controller reads.
        ipam_kube_support::readiness::track("in-cluster caches", gate.clone());
        tokio::spawn(async move {
            futures::future::join_all(stores).await;
            let _ = open.send(true);
        });
        CachesReady(gate)
    }

    pub async fn wait(&self) {
        let _ = self.0.clone().wait_for(|ready| *ready).await;
    }
}

/// A store's first-list future, for [`CachesReady::spawn`].
pub fn ready<K>(store: &Store<K>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let store = store.clone();
    Box::pin(async move {
        let _ = store.wait_until_ready().await;
    })
}
