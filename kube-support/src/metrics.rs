//! The operator's Prometheus metrics, in one process-wide registry.
//!
//! Process-wide because every layer records into it (the orchestration controllers, each
//! backend, the WAPI client) and none of them may import the binary that serves `/metrics`;
//! controller-runtime keeps its registry global for the same reason. Recording is cheap
//! (atomics), so it happens whether or not anything scrapes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
}

/// One pool, by kind, namespace ("" for cluster-scoped pools) and name; `state` is one of
/// `total`, `used`, `free`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub kind: String,
    pub namespace: String,
    pub pool: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WapiLabels {
    /// The WAPI object type or function, e.g. `ipv4address` or `network:next_available_ip`.
    pub operation: String,
    /// `success`, `client_error`, `server_error` or `transport_error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn latency() -> Histogram {
    // 1 ms … ~16 s: an allocation is a few API round trips; a WAPI call may be slower.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram>,
    allocation_duration: Family<BackendLabels, Histogram>,
    pool_addresses: Family<PoolLabels, Gauge>,
    wapi_requests: Family<WapiLabels, Counter>,
    wapi_duration: Family<OutcomeLabels, Histogram>,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("ipam");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        let reconcile_duration =
            Family::<ControllerLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        let allocation_duration =
            Family::<BackendLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        let pool_addresses = Family::<PoolLabels, Gauge>::default();
        let wapi_requests = Family::<WapiLabels, Counter>::default();
        let wapi_duration =
            Family::<OutcomeLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        registry.register(
            "reconciles",
            "Reconciles run, per controller",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error (and a retry), per controller",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, per controller",
            reconcile_duration.clone(),
        );
        registry.register(
            "allocation_duration_seconds",
            "Time from deciding to allocate to the address being recorded, per backend",
            allocation_duration.clone(),
        );
        registry.register(
            "pool_addresses",
            "Addresses of a pool: state=total|used|free, as in the pool's status",
            pool_addresses.clone(),
        );
        registry.register(
            "wapi_requests",
            "Infoblox WAPI requests, per operation and outcome",
            wapi_requests.clone(),
        );
        registry.register(
            "wapi_request_duration_seconds",
            "Infoblox WAPI request latency, per outcome",
            wapi_duration.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            allocation_duration,
            pool_addresses,
            wapi_requests,
            wapi_duration,
        }
    }

    /// The registry in the Prometheus text exposition format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Runs one reconcile and records it: count, error, duration.
    pub async fn reconcile<T, E>(
        &self,
        controller: &str,
        reconcile: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        let start = Instant::now();
        let result = reconcile.await;
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(start.elapsed().as_secs_f64());
        self.reconciles.get_or_create(&labels).inc();
        if result.is_err() {
            self.reconcile_errors.get_or_create(&labels).inc();
        }
        result
    }

    pub fn allocation(&self, backend: &str, took: Duration) {
        self.allocation_duration
            .get_or_create(&BackendLabels {
                backend: backend.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Sets a pool's gauges; `None` removes them (the pool is gone).
    pub fn pool(&self, kind: &str, namespace: &str, pool: &str, counts: Option<[i64; 3]>) {
        for (i, state) in ["total", "used", "free"].into_iter().enumerate() {
            let labels = PoolLabels {
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                pool: pool.to_string(),
                state: state.to_string(),
            };
            match counts {
                Some(counts) => {
                    self.pool_addresses.get_or_create(&labels).set(counts[i]);
                }
                None => {
                    self.pool_addresses.remove(&labels);
                }
            }
        }
    }

    /// Records one WAPI request; `outcome` as in [`WapiLabels`].
    pub fn wapi_request(&self, operation: &str, outcome: &str, took: Duration) {
        self.wapi_requests
            .get_or_create(&WapiLabels {
                operation: operation.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.wapi_duration
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .observe(took.as_secs_f64());
    }
}

/// A reconciler that records every run under `controller` (its field manager):
/// `Controller::run(metrics::instrument(MANAGER, reconcile), error_policy, ctx)`.
pub fn instrument<K, C, T, E, F, Fut>(
    controller: &'static str,
    reconcile: F,
) -> impl FnMut(Arc<K>, Arc<C>) -> BoxFuture<'static, Result<T, E>>
where
    F: Fn(Arc<K>, Arc<C>) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: 'static,
    E: 'static,
{
    move |object, ctx| Box::pin(get().reconcile(controller, reconcile(object, ctx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_and_encodes_every_family() {
        let m = get();
        let _ = m
            .reconcile("claims-test", async { Err::<(), _>("boom") })
            .await;
        m.allocation("in-cluster", Duration::from_millis(3));
        m.pool("InClusterIPPool", "ns", "p", Some([4, 1, 3]));
        m.wapi_request("ipv4address", "success", Duration::from_millis(5));
        let text = m.encode();
        for needle in [
            "ipam_reconciles_total{controller=\"claims-test\"} 1",
            "ipam_reconcile_errors_total{controller=\"claims-test\"} 1",
            "ipam_reconcile_duration_seconds_count{controller=\"claims-test\"} 1",
            "ipam_allocation_duration_seconds_count{backend=\"in-cluster\"} 1",
            "ipam_pool_addresses{kind=\"InClusterIPPool\",namespace=\"ns\",pool=\"p\",state=\"free\"} 3",
            "ipam_wapi_requests_total{operation=\"ipv4address\",outcome=\"success\"} 1",
            "ipam_wapi_request_duration_seconds_count{outcome=\"success\"} 1",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        m.pool("InClusterIPPool", "ns", "p", None);
        assert!(!m.encode().contains("pool=\"p\""));
    }
}
