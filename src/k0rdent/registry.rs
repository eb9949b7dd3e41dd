//! The backends, by the name a claim's `provider` field gives. The binary fills it; the
//! controllers only look names up, so a new backend changes no controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use ipam_provider::Provider;

#[derive(Clone, Default)]
pub struct Providers(BTreeMap<&'static str, Arc<dyn Provider>>);

impl Providers {
    pub fn with(mut self, provider: impl Provider + 'static) -> Self {
        self.0.insert(provider.name(), Arc::new(provider));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.0.get(name)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.0.values()
    }
}
