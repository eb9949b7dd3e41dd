//! Helpers every controller's plumbing repeats.

use kube::runtime::Controller;
use kube::{Api, Client, Resource};

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

/// Objects per page of a watch's initial list (and of the ledger's lists). kube's default of
/// 500 is ruinous at scale: measured against kube-apiserver 1.36 holding 100,000
/// IPAddressClaims and 100,000 IPAddresses, listing both took 142 to 247 s in pages of 500
/// (each page a fresh snapshot, the API server's memory growing past 14 GiB) and 21 s in
/// pages of 5,000. A page of 5,000 is about 12 MB of JSON.
pub const LIST_PAGE: u32 = 5_000;

/// The watch configuration of a kind that can hold one object per address (claims,
/// addresses): the initial list in pages of [`LIST_PAGE`].
pub fn bulk_watcher() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().page_size(LIST_PAGE)
}

/// The watch configuration of a controller run with `--watch-filter`: only objects labelled
/// `cluster.x-k8s.io/watch-filter=<value>`, as Cluster API providers do.
pub fn watcher(watch_filter: Option<&str>) -> kube::runtime::watcher::Config {
    let config = bulk_watcher().any_semantic();
    match watch_filter {
        Some(value) => config.labels(&format!(
            "{}={value}",
            crate::address_metadata::WATCH_FILTER_LABEL
        )),
        None => config,
    }
}

/// What a backend's controllers see: one namespace or all, and the watch-filter label. Each
/// backend's configuration holds one and reads through it (`config.api()`, `config.watcher()`).
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Only namespaced objects of this namespace; all namespaces when None.
    pub namespace: Option<String>,
    /// Only objects labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
}

impl Scope {
    pub fn watcher(&self) -> kube::runtime::watcher::Config {
        watcher(self.watch_filter.as_deref())
    }

    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        api(client, self.namespace.as_deref())
    }

    /// A controller of `K` as every backend runs one: behind the readiness gate (counted
    /// under `backend`), on this scope's watch, with `concurrency` reconciles in flight.
    pub fn controller<K>(&self, backend: &str, api: Api<K>, concurrency: u16) -> Controller<K>
    where
        K: Resource<DynamicType = ()> + Clone + std::fmt::Debug,
        K: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let config = kube::runtime::controller::Config::default().concurrency(concurrency);
        crate::readiness::controller(backend, api, self.watcher()).with_config(config)
    }
}
