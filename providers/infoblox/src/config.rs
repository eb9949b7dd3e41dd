//! What the Infoblox controllers watch, and where they read Secrets.

use std::time::Duration;

pub use ipam_kube_support::address_metadata::WATCH_FILTER_LABEL;
pub use ipam_kube_support::scope::Scope;

#[derive(Clone, Debug)]
pub struct Config {
    /// Which namespace the claims and pools are watched in, and which label claims, pools
    /// and instances must carry.
    pub scope: Scope,
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
            scope: Scope::default(),
            secret_namespace: "default".into(),
            concurrency: 4,
            resync: Duration::from_secs(300),
            retry: Duration::from_secs(10),
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
