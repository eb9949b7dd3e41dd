//! kcm's own IPAM gauges, under kcm's names and labels, so dashboards and alerts written for
//! k0rdent kcm keep working when this operator serves ClusterIPAMClaims instead:
//!
//! - `kcm_ipam_claim_use`: 1 while a ClusterIPAMClaim exists and is not being deleted;
//! - `kcm_ipam_claims_bound`: 1 while it is bound (`status.bound`), else 0;
//!
//! both labelled `ipam_kind` (the claim's provider, e.g. `in-cluster`), `ipam_namespace` and
//! `ipam_name`. As in kcm a claim being deleted reads 0 on both; once it is gone its series go
//! too (kcm keeps them at 0 forever), and a provider switch moves them to the new `ipam_kind`.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KcmLabels {
    pub ipam_kind: String,
    pub ipam_namespace: String,
    pub ipam_name: String,
}

pub struct KcmMetrics {
    claim_use: Family<KcmLabels, Gauge>,
    claims_bound: Family<KcmLabels, Gauge>,
    /// The `ipam_kind` each claim was last recorded under, by (namespace, name).
    kinds: Mutex<HashMap<(String, String), String>>,
}

impl KcmMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = KcmMetrics {
            claim_use: Family::default(),
            claims_bound: Family::default(),
            kinds: Mutex::default(),
        };
        registry.register(
            "ipam_claim_use",
            "1 while a ClusterIPAMClaim exists and is not being deleted (kcm's gauge)",
            m.claim_use.clone(),
        );
        registry.register(
            "ipam_claims_bound",
            "1 while a ClusterIPAMClaim is bound, else 0 (kcm's gauge)",
            m.claims_bound.clone(),
        );
        m
    }

    /// Records a claim as its controller last saw it.
    pub fn claim(&self, provider: &str, namespace: &str, name: &str, deleting: bool, bound: bool) {
        let key = (namespace.to_string(), name.to_string());
        let previous = self
            .kinds
            .lock()
            .expect("kcm kinds lock")
            .insert(key, provider.to_string());
        if let Some(old) = previous.filter(|old| old != provider) {
            self.remove(&labels(&old, namespace, name));
        }
        let labels = labels(provider, namespace, name);
        self.claim_use
            .get_or_create(&labels)
            .set(i64::from(!deleting));
        self.claims_bound
            .get_or_create(&labels)
            .set(i64::from(bound && !deleting));
    }

    /// The claim is gone: its series go with it.
    pub(super) fn forget(&self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(kind) = self.kinds.lock().expect("kcm kinds lock").remove(&key) {
            self.remove(&labels(&kind, namespace, name));
        }
    }

    fn remove(&self, labels: &KcmLabels) {
        self.claim_use.remove(labels);
        self.claims_bound.remove(labels);
    }
}

fn labels(kind: &str, namespace: &str, name: &str) -> KcmLabels {
    KcmLabels {
        ipam_kind: kind.to_string(),
        ipam_namespace: namespace.to_string(),
        ipam_name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(m: &KcmMetrics, registry: &Registry) -> String {
        let _ = m;
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn names_labels_and_a_provider_switch() {
        let mut registry = Registry::default();
        let m = KcmMetrics::register(registry.sub_registry_with_prefix("kcm"));
        m.claim("in-cluster", "ns", "c", false, false);
        let text = scrape(&m, &registry);
        assert!(text.contains(
            "kcm_ipam_claim_use{ipam_kind=\"in-cluster\",ipam_namespace=\"ns\",ipam_name=\"c\"} 1"
        ), "{text}");
        assert!(text.contains(
            "kcm_ipam_claims_bound{ipam_kind=\"in-cluster\",ipam_namespace=\"ns\",ipam_name=\"c\"} 0"
        ), "{text}");

        m.claim("ipam-infoblox", "ns", "c", false, true);
        let text = scrape(&m, &registry);
        assert!(
            !text.contains("ipam_kind=\"in-cluster\""),
            "old kind's series gone: {text}"
        );
        assert!(text.contains(
            "kcm_ipam_claims_bound{ipam_kind=\"ipam-infoblox\",ipam_namespace=\"ns\",ipam_name=\"c\"} 1"
        ), "{text}");

        m.claim("ipam-infoblox", "ns", "c", true, true);
        let text = scrape(&m, &registry);
        assert!(text.contains(
            "kcm_ipam_claim_use{ipam_kind=\"ipam-infoblox\",ipam_namespace=\"ns\",ipam_name=\"c\"} 0"
        ), "deleting reads 0: {text}");
        m.forget("ns", "c");
        assert!(!scrape(&m, &registry).contains("ipam_name=\"c\""));
    }
}
