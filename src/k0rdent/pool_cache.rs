//! The pools of every provider, as the ClusterIPAM controller's own watches see them.
//!
//! A ClusterIPAM retires the pools a claim no longer wants: every other provider's, and its
//! own for networks it stopped requesting. Asking the API server for each of them on every
//! pass costs a GET per (provider, network) that answers 404 almost always. The controller
//! watches the pools anyway (a pool's change brings its claim back), so the watch keeps this
//! cache and only pools known to exist are retired.
//!
//! Why a pool is never missed: the reflector stores an event before passing it on, so a pool
//! that appears after a pass read the cache brings its owning claim back with the pool
//! already here. The retire itself still reads the pool fresh before deleting it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::Stream;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// A provider's pools: their kind, and the store its watch fills.
type Pools = (ApiResource, Store<DynamicObject>);

#[derive(Clone, Default)]
pub struct PoolCache(Arc<Mutex<HashMap<String, Pools>>>);

impl PoolCache {
    /// Watches `provider`'s pools through `api`, keeping them here; the stream yields every
    /// change (deletions included) once it is stored.
    pub fn watch(
        &self,
        provider: &str,
        api: Api<DynamicObject>,
        resource: &ApiResource,
    ) -> impl Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static {
        let writer = reflector::store::Writer::new(resource.clone());
        self.keep(provider, resource, writer.as_reader());
        reflector::reflector(writer, watcher(api, watcher::Config::default())).touched_objects()
    }

    fn keep(&self, provider: &str, resource: &ApiResource, store: Store<DynamicObject>) {
        self.0
            .lock()
            .expect("pool cache lock")
            .insert(provider.to_string(), (resource.clone(), store));
    }

    /// Whether `provider` has a pool `namespace/name`, as far as its watch has seen.
    pub fn holds(&self, provider: &str, namespace: &str, name: &str) -> bool {
        let cache = self.0.lock().expect("pool cache lock");
        cache.get(provider).is_some_and(|(resource, store)| {
            let key = ObjectRef::new_with(name, resource.clone()).within(namespace);
            store.get(&key).is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    fn pool(resource: &ApiResource, ns: &str, name: &str) -> DynamicObject {
        DynamicObject::new(name, resource).within(ns)
    }

    #[test]
    fn holds_only_the_pools_its_provider_has_seen() {
        let resource = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "ipam.cluster.x-k8s.io",
            "v1alpha2",
            "InClusterIPPool",
        ));
        let mut writer = reflector::store::Writer::new(resource.clone());
        let cache = PoolCache::default();
        cache.keep("in-cluster", &resource, writer.as_reader());
        writer.apply_watcher_event(&Event::Apply(pool(&resource, "team-a", "cd-ipam")));

        assert!(cache.holds("in-cluster", "team-a", "cd-ipam"));
        assert!(!cache.holds("in-cluster", "team-b", "cd-ipam"));
        assert!(!cache.holds("in-cluster", "team-a", "cd-ipam-cluster-network"));
        assert!(!cache.holds("ipam-infoblox", "team-a", "cd-ipam"));

        writer.apply_watcher_event(&Event::Delete(pool(&resource, "team-a", "cd-ipam")));
        assert!(!cache.holds("in-cluster", "team-a", "cd-ipam"));
    }
}
