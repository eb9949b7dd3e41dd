//! What the in-cluster controllers watch.

pub use ipam_kube_support::address_metadata::WATCH_FILTER_LABEL;
pub use ipam_kube_support::scope::Scope;

#[derive(Clone, Debug)]
pub struct Config {
    /// Which namespaces and labels the claims and namespaced pools are watched in.
    pub scope: Scope,
    /// Reconciles run at once per controller. Claims of one pool still take turns on the
    /// pool's ledger slot; this bounds the API calls in flight.
    pub concurrency: u16,
    /// Serve Metal3's IPPool / IPClaim / IPAddress as well (`--controllers metal3`).
    pub metal3: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scope: Scope::default(),
            concurrency: 0,
            metal3: true,
        }
    }
}

/// The configuration reads as its scope too: `config.api()`, `config.watcher()`.
impl std::ops::Deref for Config {
    type Target = Scope;
    fn deref(&self) -> &Scope {
        &self.scope
    }
}
