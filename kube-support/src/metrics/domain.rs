//! What a platform team asks of its address pools: how full each is, which claims wait and
//! why, how fast claims get an address, whether each backend is reachable.
//!
//! Cardinality is bounded by pools, reasons and backends: per-claim state is kept here (to
//! count a claim once and move it between reasons) but exported only as counts per pool and
//! reason.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::conditions::{Decision, READY};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
}

/// One pool, by kind, namespace ("" for cluster-scoped pools) and name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub kind: String,
    pub namespace: String,
    pub pool: String,
}

/// A pool's count; `state` is `total`, `used` or `free`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub kind: String,
    pub namespace: String,
    pub pool: String,
    pub state: String,
}

/// Claims of one pool waiting for the same reason (the `reason` of their `Ready=False`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitingLabels {
    pub kind: String,
    pub namespace: String,
    pub pool: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub namespace: String,
    pub name: String,
}

/// A cluster-scoped object (an InfobloxInstance): no namespace label, which Prometheus
/// would fill with the operator's own.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    pub name: String,
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

/// What is remembered of one claim: where it waits, and whether its time to Ready was
/// observed already.
#[derive(Default)]
struct ClaimState {
    waiting: Option<WaitingLabels>,
    ready_observed: bool,
}

pub struct DomainMetrics {
    pool_addresses: Family<PoolStateLabels, Gauge>,
    pool_utilisation: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    allocations: Family<BackendLabels, Counter>,
    releases: Family<BackendLabels, Counter>,
    allocation_duration: Family<BackendLabels, Histogram>,
    claims_waiting: Family<WaitingLabels, Gauge>,
    claim_ready_duration: Family<BackendLabels, Histogram>,
    cluster_ipam_bound: Family<ObjectLabels, Gauge>,
    infoblox_reachable: Family<NameLabels, Gauge>,
    wapi_requests: Family<WapiLabels, Counter>,
    wapi_duration: Family<OutcomeLabels, Histogram>,
    /// By claim uid.
    claims: Mutex<HashMap<String, ClaimState>>,
    /// Uids of objects seen deleted: a reconcile still in flight when the deletion arrived
    /// must not record them again.
    gone: Mutex<Gone>,
}

/// The last [`Gone::KEEP`] deleted uids.
#[derive(Default)]
struct Gone {
    uids: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Gone {
    const KEEP: usize = 4096;

    fn add(&mut self, uid: &str) {
        if self.uids.insert(uid.to_string()) {
            self.order.push_back(uid.to_string());
            if self.order.len() > Self::KEEP
                && let Some(oldest) = self.order.pop_front()
            {
                self.uids.remove(&oldest);
            }
        }
    }
}

/// 0.1 s … ~55 min: from a claim's creation to its address, which includes waiting for a
/// pool to be created or freed.
fn time_to_ready() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 16))
}

/// The backend that serves a pool kind (the `backend` label of allocations).
pub fn backend_of(pool_kind: &str) -> &'static str {
    match pool_kind {
        "InClusterIPPool" | "GlobalInClusterIPPool" => "in-cluster",
        "IPPool" => "metal3",
        "InfobloxIPPool" => "infoblox",
        _ => "other",
    }
}

/// The namespace label of a pool a claim in `claim_namespace` names: "" for the
/// cluster-scoped kinds, as the pool gauges have it, so the two join on it.
fn pool_namespace(pool_kind: &str, claim_namespace: &str) -> String {
    match pool_kind {
        "GlobalInClusterIPPool" => String::new(),
        _ => claim_namespace.to_string(),
    }
}

impl DomainMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = DomainMetrics {
            pool_addresses: Family::default(),
            pool_utilisation: Family::default(),
            allocations: Family::default(),
            releases: Family::default(),
            allocation_duration: Family::new_with_constructor(super::latency as fn() -> _),
            claims_waiting: Family::default(),
            claim_ready_duration: Family::new_with_constructor(time_to_ready as fn() -> _),
            cluster_ipam_bound: Family::default(),
            infoblox_reachable: Family::default(),
            wapi_requests: Family::default(),
            wapi_duration: Family::new_with_constructor(super::latency as fn() -> _),
            claims: Mutex::default(),
            gone: Mutex::default(),
        };
        registry.register(
            "pool_addresses",
            "Addresses of a pool: state=total|used|free, as in the pool's status",
            m.pool_addresses.clone(),
        );
        registry.register(
            "pool_utilisation_ratio",
            "Share of a pool's addresses in use (used / total), 0 to 1",
            m.pool_utilisation.clone(),
        );
        registry.register(
            "allocations",
            "Addresses handed out, per backend",
            m.allocations.clone(),
        );
        registry.register(
            "releases",
            "Addresses given back, per backend",
            m.releases.clone(),
        );
        registry.register(
            "allocation_duration_seconds",
            "Time from deciding to allocate to the address being recorded, per backend",
            m.allocation_duration.clone(),
        );
        registry.register(
            "claims_waiting",
            "Claims not Ready, per pool and the reason of their Ready condition",
            m.claims_waiting.clone(),
        );
        registry.register(
            "claim_ready_duration_seconds",
            "Time from a claim's creation to it being Ready with an address, per backend",
            m.claim_ready_duration.clone(),
        );
        registry.register(
            "cluster_ipam_bound",
            "1 when a ClusterIPAM is bound (every requested network has a usable pool), else 0",
            m.cluster_ipam_bound.clone(),
        );
        registry.register(
            "infoblox_instance_reachable",
            "1 when the InfobloxInstance's Grid Master answered the last probe, else 0",
            m.infoblox_reachable.clone(),
        );
        registry.register(
            "wapi_requests",
            "Infoblox WAPI requests, per operation and outcome",
            m.wapi_requests.clone(),
        );
        registry.register(
            "wapi_request_duration_seconds",
            "Infoblox WAPI request latency, per outcome",
            m.wapi_duration.clone(),
        );
        m
    }

    pub fn allocated(&self, backend: &str) {
        self.allocations
            .get_or_create(&BackendLabels {
                backend: backend.to_string(),
            })
            .inc();
    }

    pub fn allocation(&self, backend: &str, took: Duration) {
        self.allocated(backend);
        let labels = BackendLabels {
            backend: backend.to_string(),
        };
        self.allocation_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn release(&self, backend: &str) {
        self.releases
            .get_or_create(&BackendLabels {
                backend: backend.to_string(),
            })
            .inc();
    }

    pub fn pool(&self, kind: &str, namespace: &str, pool: &str, counts: Option<[i64; 3]>) {
        let pool_labels = PoolLabels {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            pool: pool.to_string(),
        };
        for (i, state) in ["total", "used", "free"].into_iter().enumerate() {
            let labels = PoolStateLabels {
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
        match counts {
            Some([total, used, _]) => {
                let ratio = if total > 0 {
                    used as f64 / total as f64
                } else {
                    0.0
                };
                self.pool_utilisation.get_or_create(&pool_labels).set(ratio);
            }
            None => {
                self.pool_utilisation.remove(&pool_labels);
            }
        }
    }

    /// A claim controller decided `decision` about a claim of `pool` (a `pool_kind`) whose
    /// conditions read `current`: the claim waits under the decision's reason until Ready,
    /// and the first time it turns Ready its age is observed.
    pub fn claim(
        &self,
        claim: &ObjectMeta,
        pool_kind: &str,
        pool: &str,
        current: &[Condition],
        decision: &Decision,
    ) {
        if decision.type_ != READY {
            return;
        }
        let Some(uid) = claim.uid.clone() else {
            return;
        };
        if self.deleted(Some(&uid)) {
            return;
        }
        let claim_namespace = claim.namespace.as_deref().unwrap_or_default();
        let waiting = (!decision.status).then(|| WaitingLabels {
            kind: pool_kind.to_string(),
            namespace: pool_namespace(pool_kind, claim_namespace),
            pool: pool.to_string(),
            reason: decision.reason.to_string(),
        });
        let was_ready = crate::conditions::find(current, READY).is_some_and(|c| c.status == "True");
        let mut claims = self.claims.lock().expect("claims lock");
        let state = claims.entry(uid).or_default();
        if state.waiting != waiting {
            if let Some(old) = state.waiting.take() {
                self.leave(&old);
            }
            if let Some(new) = &waiting {
                self.claims_waiting.get_or_create(new).inc();
            }
            state.waiting = waiting;
        }
        // Turning Ready now, not read back as Ready after a restart.
        if decision.status && !was_ready && !state.ready_observed {
            state.ready_observed = true;
            if let Some(created) = &claim.creation_timestamp {
                let age = Timestamp::now().duration_since(created.0);
                self.claim_ready_duration
                    .get_or_create(&BackendLabels {
                        backend: backend_of(pool_kind).to_string(),
                    })
                    .observe(age.as_secs_f64().max(0.0));
            }
        }
    }

    /// One claim fewer waits under `labels`; the series goes when none is left, so a reason
    /// no longer seen does not linger at 0.
    fn leave(&self, labels: &WaitingLabels) {
        let gauge = self.claims_waiting.get_or_create(labels);
        if gauge.dec() <= 1 {
            drop(gauge);
            self.claims_waiting.remove(labels);
        }
    }

    /// Whether the object of `uid` was seen deleted.
    fn deleted(&self, uid: Option<&str>) -> bool {
        uid.is_some_and(|uid| self.gone.lock().expect("gone lock").uids.contains(uid))
    }

    pub fn cluster_ipam_bound(&self, namespace: &str, name: &str, uid: Option<&str>, bound: bool) {
        if self.deleted(uid) {
            return;
        }
        self.cluster_ipam_bound
            .get_or_create(&ObjectLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
            .set(i64::from(bound));
    }

    pub fn infoblox_reachable(&self, instance: &str, uid: Option<&str>, reachable: bool) {
        if self.deleted(uid) {
            return;
        }
        self.infoblox_reachable
            .get_or_create(&NameLabels {
                name: instance.to_string(),
            })
            .set(i64::from(reachable));
    }

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

    pub(super) fn forget(&self, kind: &str, namespace: &str, name: &str, uid: Option<&str>) {
        if let Some(uid) = uid {
            self.gone.lock().expect("gone lock").add(uid);
        }
        if let Some(uid) = uid
            && let Some(state) = self.claims.lock().expect("claims lock").remove(uid)
            && let Some(waiting) = state.waiting
        {
            self.leave(&waiting);
        }
        let object = ObjectLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        match kind {
            "ClusterIPAM" => {
                self.cluster_ipam_bound.remove(&object);
            }
            "InfobloxInstance" => {
                self.infoblox_reachable.remove(&NameLabels {
                    name: name.to_string(),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn claim(uid: &str, age_seconds: i64) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            namespace: Some("domain-test".into()),
            creation_timestamp: Some(Time(
                Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(age_seconds),
            )),
            ..Default::default()
        }
    }

    fn ready(status: bool) -> Vec<Condition> {
        let mut c = vec![];
        crate::conditions::set(
            &mut c,
            &Decision::new(READY, status, if status { "Allocated" } else { "X" }, ""),
            None,
        );
        c
    }

    #[test]
    fn claims_wait_per_pool_and_reason_and_their_time_to_ready_is_observed_once() {
        let m = &super::super::get().domain;
        let exhausted = Decision::new(READY, false, "PoolExhausted", "full");
        let not_ready = Decision::new(READY, false, "PoolNotReady", "not counted");
        let allocated = Decision::new(READY, true, "Allocated", "10.0.0.1");
        let (a, b) = (claim("uid-a", 30), claim("uid-b", 5));
        m.claim(&a, "InfobloxIPPool", "p", &[], &exhausted);
        m.claim(&b, "InfobloxIPPool", "p", &[], &exhausted);
        m.claim(&b, "InfobloxIPPool", "p", &ready(false), &exhausted);
        let waiting = |reason: &str| {
            let text = super::super::get().encode();
            let prefix = format!(
                "ipam_claims_waiting{{kind=\"InfobloxIPPool\",namespace=\"domain-test\",pool=\"p\",reason=\"{reason}\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix).map(|v| v.parse::<i64>().unwrap()))
        };
        assert_eq!(waiting("PoolExhausted"), Some(2), "each claim counts once");
        m.claim(&a, "InfobloxIPPool", "p", &ready(false), &not_ready);
        assert_eq!(waiting("PoolExhausted"), Some(1));
        assert_eq!(waiting("PoolNotReady"), Some(1));
        m.claim(&a, "InfobloxIPPool", "p", &ready(false), &allocated);
        // Read back as Ready on a later reconcile (or after a restart): not observed again.
        m.claim(&a, "InfobloxIPPool", "p", &ready(true), &allocated);
        assert_eq!(
            waiting("PoolNotReady"),
            None,
            "a reason nobody waits for goes"
        );
        super::super::get().forget("IPAddressClaim", "domain-test", "b", Some("uid-b"));
        assert_eq!(
            waiting("PoolExhausted"),
            None,
            "a deleted claim waits no more"
        );
        // A reconcile that was in flight when the deletion arrived records nothing.
        m.claim(&b, "InfobloxIPPool", "p", &ready(false), &exhausted);
        assert_eq!(waiting("PoolExhausted"), None, "a deleted claim stays gone");
        let text = super::super::get().encode();
        let count = "ipam_claim_ready_duration_seconds_count{backend=\"infoblox\"} 1";
        assert!(text.contains(count), "{count} missing from\n{text}");
        // 30 s old: in the (25.6, 51.2] bucket.
        assert!(
            text.contains(
                "ipam_claim_ready_duration_seconds_bucket{le=\"25.6\",backend=\"infoblox\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ipam_claim_ready_duration_seconds_bucket{le=\"51.2\",backend=\"infoblox\"} 1"
            ),
            "{text}"
        );
    }
}
