//! The JSON one run writes: what was driven, how fast it was served, what it cost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::apiserver_metrics::RequestCounts;
use crate::latency::Latency;
use crate::process_stats::ProcessStats;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    /// `ours`, `peer` or `raw`.
    pub system: String,
    /// Claims (or deployments) created.
    pub claims: usize,
    /// Of those, bound before the driver gave up.
    pub ready: usize,
    pub concurrency: usize,
    pub pools: usize,
    /// claims / (first create sent → last claim bound).
    pub claims_per_second: f64,
    pub wall_seconds: f64,
    /// create sent → bound, per claim.
    pub latency: Latency,
    pub requests: Requests,
    /// The system under test's process, when its PID was given.
    pub process: Option<ProcessStats>,
    /// Address objects found after the run, and how many of them repeat an address already
    /// handed out in the same pool (must be 0).
    pub addresses: usize,
    pub duplicates: usize,
    pub restart: Option<Restart>,
    /// The machine's 1-minute load average when the run started and when it ended: anything
    /// else running (another build) shows here and makes the times pessimistic.
    pub load_average: [f64; 2],
    pub notes: Vec<String>,
}

/// API requests from the API server's counters, per claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Requests {
    /// Everything the API server served during the run.
    pub total_per_claim: f64,
    /// The total less the driver's own requests: what the system under test asked.
    pub operator_per_claim: f64,
    pub driver_per_claim: f64,
    /// "VERB resource[/subresource]" → requests per claim.
    pub total_by_verb_resource: BTreeMap<String, f64>,
    pub operator_by_verb_resource: BTreeMap<String, f64>,
    /// "VERB resource code" → count (not per claim), for every answer that was not 2xx.
    pub non_2xx: BTreeMap<String, f64>,
    pub operator_non_2xx: BTreeMap<String, f64>,
}

impl Requests {
    /// From the API server's counts during the run and the driver's own, over `claims`.
    pub fn new(total: &RequestCounts, driver: &RequestCounts, claims: usize) -> Requests {
        let operator = total.minus(driver);
        let per = |n: f64| n / claims.max(1) as f64;
        let per_map = |m: BTreeMap<String, f64>| m.into_iter().map(|(k, v)| (k, per(v))).collect();
        Requests {
            total_per_claim: per(total.total()),
            operator_per_claim: per(operator.total()),
            driver_per_claim: per(driver.total()),
            total_by_verb_resource: per_map(total.by_verb_resource()),
            operator_by_verb_resource: per_map(operator.by_verb_resource()),
            non_2xx: total.failures(),
            operator_non_2xx: operator.failures(),
        }
    }

    /// The system under test's requests per claim on the given resources only (plural names,
    /// subresources included).
    pub fn operator_per_claim_on(&self, resources: &[&str]) -> f64 {
        self.operator_by_verb_resource
            .iter()
            .filter(|(key, _)| {
                let resource = key.split(' ').nth(1).unwrap_or_default();
                let base = resource.split('/').next().unwrap_or_default();
                resources.contains(&base)
            })
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Restart {
    /// From the process's exec to its first `/readyz` 200.
    pub ready_seconds: f64,
    pub rss_at_ready_mib: f64,
    pub cpu_seconds_at_ready: f64,
    /// How long the driver watched after ready (its figures in `process` and `requests`).
    pub settle_seconds: f64,
}
