//! kcm's own IPAM gauges, under kcm's names and labels, so dashboards and alerts written for
//! k0rdent kcm keep working when this operator serves ClusterIPAMClaims instead:
//!
//! - `kcm_ipam_claim_use`: 1 while a ClusterIPAMClaim exists and is not being deleted;
//! - `kcm_ipam_claims_bound`: 1 while it is bound (`status.bound`), else 0;
//!
//! labelled as kcm labels them: `ipam_kind` is always `ClusterIPAM` (kcm's kind constant, not
//! the provider), `ipam_namespace` and `ipam_name` the ClusterIPAM's (the claim's own name).
//! As in kcm, a claim being deleted, or gone, reads 0 on both and its series stay.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `ipam_kind` kcm writes on both gauges.
const IPAM_KIND: &str = "ClusterIPAM";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KcmLabels {
    pub ipam_kind: String,
    pub ipam_namespace: String,
    pub ipam_name: String,
}

pub struct KcmMetrics {
    claim_use: Family<KcmLabels, Gauge>,
    claims_bound: Family<KcmLabels, Gauge>,
}

impl KcmMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = KcmMetrics {
            claim_use: Family::default(),
            claims_bound: Family::default(),
        };
        registry.register(
            "ipam_claim_use",
            "Number of IPAM claims currently in use (kcm's gauge)",
            m.claim_use.clone(),
        );
        registry.register(
            "ipam_claims_bound",
            "Number of IPAM claims which are bound (kcm's gauge)",
            m.claims_bound.clone(),
        );
        m
    }

    /// Records a claim as its controller last saw it.
    pub fn claim(&self, namespace: &str, name: &str, deleting: bool, bound: bool) {
        let labels = labels(namespace, name);
        self.claim_use
            .get_or_create(&labels)
            .set(i64::from(!deleting));
        self.claims_bound
            .get_or_create(&labels)
            .set(i64::from(bound && !deleting));
    }

    /// The claim is gone: both gauges read 0, as kcm leaves them.
    pub(super) fn forget(&self, namespace: &str, name: &str) {
        self.claim(namespace, name, true, false);
    }
}

fn labels(namespace: &str, name: &str) -> KcmLabels {
    KcmLabels {
        ipam_kind: IPAM_KIND.to_string(),
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
    fn kcm_names_labels_and_values() {
        let mut registry = Registry::default();
        let m = KcmMetrics::register(registry.sub_registry_with_prefix("kcm"));
        let series = |metric: &str, value: u8| {
            format!(
                "kcm_ipam_{metric}{{ipam_kind=\"ClusterIPAM\",ipam_namespace=\"ns\",ipam_name=\"c\"}} {value}"
            )
        };
        m.claim("ns", "c", false, false);
        let text = scrape(&m, &registry);
        assert!(text.contains(&series("claim_use", 1)), "{text}");
        assert!(text.contains(&series("claims_bound", 0)), "{text}");

        m.claim("ns", "c", false, true);
        let text = scrape(&m, &registry);
        assert!(text.contains(&series("claims_bound", 1)), "{text}");

        m.claim("ns", "c", true, true);
        let text = scrape(&m, &registry);
        assert!(
            text.contains(&series("claim_use", 0)),
            "deleting reads 0: {text}"
        );
        assert!(
            text.contains(&series("claims_bound", 0)),
            "deleting reads 0: {text}"
        );

        m.forget("ns", "c");
        let text = scrape(&m, &registry);
        assert!(
            text.contains(&series("claim_use", 0)),
            "gone stays at 0: {text}"
        );
    }
}
