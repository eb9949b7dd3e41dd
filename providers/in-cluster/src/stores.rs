//! Caches (reflector stores) that the controllers read.
//!
//! One watch per kind, shared by every controller that reads the kind ([`Caches`]): with
//! 100,000 IPAddresses, a copy per controller would cost a gigabyte. Each reader gets the
//! shared store and a stream of its own that yields every change, deletions included, after
//! the store holds it, so no trigger can arrive before the change it announces is in the
//! cache. (kube's own shared-store fan-out does not pass deletions on, and a pool must be
//! recounted when one of its addresses is deleted.)

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{Future, Stream, StreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

type Readers<K> = Arc<Mutex<Vec<mpsc::UnboundedSender<K>>>>;

/// One kind's shared watch: its store and the channels of its readers.
struct Shared<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash,
{
    store: Store<K>,
    readers: Readers<K>,
    /// Opens once the store has its first list. (A kube `Store` wakes only one of several
    /// tasks waiting on `wait_until_ready` at once: one task waits on it and opens this.)
    ready: tokio::sync::watch::Receiver<bool>,
}

/// The shared watches of one operator process. Readers subscribe while the controllers are
/// built; [`Caches::start`] then starts every watch, so none misses a change.
/// Resolves once a cache has finished its first list.
pub type Ready = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Default)]
pub struct Caches {
    kinds: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
    watches: Mutex<Vec<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl Caches {
    /// The store of kind `K` and a stream of its changes for one reader. The first reader
    /// of a kind decides how it is watched (`api`, `config`): every reader of a kind uses
    /// the same scope.
    pub fn reflect<K>(
        &self,
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
        let mut kinds = self.kinds.lock().expect("caches lock");
        let shared = kinds
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(self.watch(api, config)))
            .downcast_ref::<Shared<K>>()
            .expect("one shared watch per kind");
        let (tx, rx) = mpsc::unbounded_channel();
        shared.readers.lock().expect("readers lock").push(tx);
        let changes =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|k| (Ok(k), rx)) },
            );
        (shared.store.clone(), changes)
    }

    /// [`Caches::reflect`] for a kind with one object per claim or per address: its first
    /// list comes in pages of [`LIST_PAGE`](ipam_kube_support::scope::LIST_PAGE).
    pub fn reflect_bulk<K>(
        &self,
        api: Api<K>,
    ) -> (
        Store<K>,
        impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    )
    where
        K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
        K::DynamicType: Eq + Hash + Clone + Default + Send + Sync,
    {
        self.reflect(api, ipam_kube_support::scope::bulk_watcher())
    }

    fn watch<K>(&self, api: Api<K>, config: watcher::Config) -> Shared<K>
    where
        K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
        K::DynamicType: Eq + Hash + Clone + Default + Send + Sync,
    {
        let (store, writer) = reflector::store();
        let readers: Readers<K> = Arc::default();
        // Managed fields are most of an object's size, and no controller reads them.
        let changes = reflector::reflector(
            writer,
            watcher(api, config).modify(|k| k.managed_fields_mut().clear()),
        )
        .default_backoff()
        .touched_objects();
        let to = readers.clone();
        let (open, ready) = tokio::sync::watch::channel(false);
        let listed = store.clone();
        let pump = async move {
            let mut changes = std::pin::pin!(changes);
            while let Some(change) = changes.next().await {
                match change {
                    Ok(k) => to
                        .lock()
                        .expect("readers lock")
                        .retain(|reader| reader.send(k.clone()).is_ok()),
                    Err(e) => {
                        tracing::debug!(error = %e, kind = std::any::type_name::<K>(), "watch error; retrying")
                    }
                }
            }
        };
        let gate = async move {
            if listed.wait_until_ready().await.is_ok() {
                let _ = open.send(true);
            }
        };
        self.watches
            .lock()
            .expect("watches lock")
            .push(Box::pin(async move {
                futures::join!(pump, gate);
            }));
        Shared {
            store,
            readers,
            ready,
        }
    }

    /// Resolves once kind `K`'s store has its first list; for [`CachesReady::spawn`].
    pub fn ready<K>(&self) -> Ready
    where
        K: Resource + 'static,
        K::DynamicType: Eq + Hash,
    {
        let mut ready = self
            .kinds
            .lock()
            .expect("caches lock")
            .get(&TypeId::of::<K>())
            .and_then(|shared| shared.downcast_ref::<Shared<K>>())
            .map(|shared| shared.ready.clone())
            .expect("a kind is subscribed to before its readiness is asked");
        Box::pin(async move {
            let _ = ready.wait_for(|listed| *listed).await;
        })
    }

    /// Starts the watches of every kind subscribed so far.
    pub fn start(&self) {
        for watch in self.watches.lock().expect("watches lock").drain(..) {
            tokio::spawn(watch);
        }
    }
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
    pub fn spawn(stores: Vec<Ready>) -> Self {
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
