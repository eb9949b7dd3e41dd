//! The operator's Prometheus metrics, in one process-wide registry.
//!
//! Process-wide because every layer records into it (the orchestration controllers, each
//! backend, the WAPI client, the webhook, the kube client) and none of them may import the
//! binary that serves `/metrics`; controller-runtime keeps its registry global for the same
//! reason. Recording is cheap (atomics, a short lock for the per-object tables), so it
//! happens whether or not anything scrapes.
//!
//! The families are grouped by what records them: [`controller`] (reconciles and their
//! queue), [`kube_api`] (requests to the API server, watches), [`domain`] (pools, claims,
//! backends), [`serving`] (build, leader, webhook) and the `process_*` collector.

pub mod controller;
pub mod domain;
pub mod kcm;
pub mod kube_api;
mod process;
pub mod serving;

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use controller::instrument;
pub use kube_api::KubeApiLayer;

pub struct Metrics {
    registry: Registry,
    pub controller: controller::ControllerMetrics,
    pub kube_api: kube_api::KubeApiMetrics,
    pub domain: domain::DomainMetrics,
    pub serving: serving::ServingMetrics,
    pub kcm: kcm::KcmMetrics,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// 1 ms … ~16 s: a reconcile or an allocation is a few API round trips; a WAPI call may be
/// slower.
pub(crate) fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        // The usual unprefixed process_* names, so stock dashboards and alerts find them.
        registry.register_collector(Box::new(process::ProcessCollector));
        let ipam = registry.sub_registry_with_prefix("ipam");
        let controller = controller::ControllerMetrics::register(ipam);
        let kube_api = kube_api::KubeApiMetrics::register(ipam);
        let domain = domain::DomainMetrics::register(ipam);
        let serving = serving::ServingMetrics::register(ipam);
        // kcm's IPAM gauges keep kcm's `kcm_` prefix, beside ours.
        let kcm = kcm::KcmMetrics::register(registry.sub_registry_with_prefix("kcm"));
        Metrics {
            registry,
            controller,
            kube_api,
            domain,
            serving,
            kcm,
        }
    }

    /// The registry in the OpenMetrics text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Records that `backend` recorded an address `took` after deciding to allocate it.
    pub fn allocation(&self, backend: &str, took: Duration) {
        self.domain.allocation(backend, took);
    }

    /// Records that `backend` handed an address out, where the time it took is not measured.
    pub fn allocated(&self, backend: &str) {
        self.domain.allocated(backend);
    }

    /// Records that `backend` gave an address back.
    pub fn release(&self, backend: &str) {
        self.domain.release(backend);
    }

    /// Sets a pool's gauges from its `[total, used, free]`; `None` removes them (the pool is
    /// gone).
    pub fn pool(&self, kind: &str, namespace: &str, pool: &str, counts: Option<[i64; 3]>) {
        self.domain.pool(kind, namespace, pool, counts);
    }

    /// Records one WAPI request; `outcome` as in [`domain::WapiLabels`].
    pub fn wapi_request(&self, operation: &str, outcome: &str, took: Duration) {
        self.domain.wapi_request(operation, outcome, took);
    }

    /// An object of `kind` was deleted: whatever is kept per object (its place in a
    /// controller's queue, a claim's waiting reason, a per-object gauge) goes with it.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str, uid: Option<&str>) {
        self.controller.forget(kind, namespace, name);
        self.domain.forget(kind, namespace, name, uid);
        if kind == "ClusterIPAMClaim" {
            self.kcm.forget(namespace, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_families_and_the_prefix_of_the_others() {
        let m = get();
        m.pool("InClusterIPPool", "ns", "p", Some([4, 1, 3]));
        m.wapi_request("ipv4address", "success", Duration::from_millis(5));
        let text = m.encode();
        for needle in [
            "ipam_pool_addresses{kind=\"InClusterIPPool\",namespace=\"ns\",pool=\"p\",state=\"free\"} 3",
            "ipam_pool_utilisation_ratio{kind=\"InClusterIPPool\",namespace=\"ns\",pool=\"p\"} 0.25",
            "ipam_wapi_requests_total{operation=\"ipv4address\",outcome=\"success\"} 1",
            "ipam_wapi_request_duration_seconds_count{outcome=\"success\"} 1",
            "\nprocess_cpu_seconds_total ",
            "\nprocess_resident_memory_bytes ",
            "\nprocess_open_fds ",
            "\nprocess_start_time_seconds ",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "one EOF, at the end:\n{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
        m.pool("InClusterIPPool", "ns", "p", None);
        assert!(!m.encode().contains("pool=\"p\""));
    }
}
