//! What the in-cluster controllers watch.

pub use ipam_kube_support::address_metadata::WATCH_FILTER_LABEL;

#[derive(Clone, Debug)]
pub struct Config {
    /// Only claims and namespaced pools of this namespace; all namespaces when None.
    pub namespace: Option<String>,
    /// Only objects labelled `cluster.x-k8s.io/watch-filter=<value>`.
    pub watch_filter: Option<String>,
    /// Reconciles run at once per controller. Claims of one pool still take turns on the
    /// pool's ledger slot; this bounds the API calls in flight.
    pub concurrency: u16,
    /// Serve Metal3's IPPool / IPClaim / IPAddress as well (`--controllers metal3`).
    pub metal3: bool,
    /// Reconciles at once of the Metal3 controllers (Metal3's `--ippool-concurrency`);
    /// `concurrency` when None.
    pub metal3_concurrency: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            watch_filter: None,
            concurrency: 0,
            metal3: true,
            metal3_concurrency: None,
        }
    }
}

impl Config {
    pub fn metal3_concurrency(&self) -> u16 {
        self.metal3_concurrency.unwrap_or(self.concurrency)
    }

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
