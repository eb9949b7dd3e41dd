//! What the Infoblox controllers watch, and where they read Secrets.

use std::time::Duration;

pub use ipam_kube_support::address_metadata::WATCH_FILTER_LABEL;

#[derive(Clone, Debug)]
pub struct Config {
    /// Only claims and pools of this namespace; all namespaces when None.
    pub namespace: Option<String>,
    /// Only claims, pools and instances labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
    /// Where credential Secrets and CA bundles without a namespace are read: the operator's
    /// own namespace, as telekom's provider does.
    pub secret_namespace: String,
    /// Reconciles in flight per controller.
    pub concurrency: u16,
    /// How often a healthy instance or pool is checked against Infoblox again.
    pub resync: Duration,
    /// How soon a failed WAPI step is tried again.
    pub retry: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            watch_filter: None,
            secret_namespace: "default".into(),
            concurrency: 4,
            resync: Duration::from_secs(300),
            retry: Duration::from_secs(10),
        }
    }
}

impl Config {
    pub fn watcher(&self) -> kube::runtime::watcher::Config {
        ipam_kube_support::scope::watcher(self.watch_filter.as_deref())
    }

    pub fn api<K>(&self, client: &kube::Client) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        ipam_kube_support::scope::api(client, self.namespace.as_deref())
    }
}
