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
    /// Reconciles at once of the Metal3 controllers (Metal3's `--ippool-concurrency`);
    /// `concurrency` when None.
    pub metal3_concurrency: Option<u16>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scope: Scope::default(),
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
}

/// The configuration reads as its scope too: `config.api()`, `config.watcher()`.
impl std::ops::Deref for Config {
    type Target = Scope;
    fn deref(&self) -> &Scope {
        &self.scope
    }
}
