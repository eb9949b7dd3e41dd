//! The process as a server: what build it is, whether it leads, how its admission webhook
//! answers and how long its serving certificate has left.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub commit: String,
}

/// An admission request: the kind of its object, its operation (CREATE, UPDATE, DELETE),
/// and the verdict: `allowed`, `denied`, or `error` (the webhook could not decide).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub kind: String,
    pub operation: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLatencyLabels {
    pub kind: String,
    pub operation: String,
}

/// Where the serving certificate came from: `mounted` (a Secret, cert-manager) or
/// `generated` (by the operator, for local API servers).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    pub source: String,
}

pub struct ServingMetrics {
    build_info: Family<BuildLabels, Gauge>,
    leader: Gauge,
    webhook_requests: Family<WebhookLabels, Counter>,
    webhook_duration: Family<WebhookLatencyLabels, Histogram>,
    certificate_expiry: Family<CertificateLabels, Gauge>,
}

impl ServingMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = ServingMetrics {
            build_info: Family::default(),
            leader: Gauge::default(),
            webhook_requests: Family::default(),
            webhook_duration: Family::new_with_constructor(super::latency as fn() -> _),
            certificate_expiry: Family::default(),
        };
        registry.register(
            "build_info",
            "1, labelled with the operator's version and the commit it was built from",
            m.build_info.clone(),
        );
        registry.register(
            "leader_status",
            "1 while this replica runs the controllers (leads, or needs no election), else 0",
            m.leader.clone(),
        );
        registry.register(
            "webhook_requests",
            "Admission requests, per kind, operation and verdict (allowed, denied, error)",
            m.webhook_requests.clone(),
        );
        registry.register(
            "webhook_request_duration_seconds",
            "Time to answer an admission request, per kind and operation",
            m.webhook_duration.clone(),
        );
        registry.register(
            "webhook_certificate_expiry_timestamp_seconds",
            "When the webhook's serving certificate expires, in seconds since the epoch (absent while no webhook is served)",
            m.certificate_expiry.clone(),
        );
        m
    }

    pub fn build(&self, version: &str, commit: &str) {
        self.build_info
            .get_or_create(&BuildLabels {
                version: version.to_string(),
                commit: commit.to_string(),
            })
            .set(1);
    }

    pub fn leading(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    pub fn webhook_request(&self, kind: &str, operation: &str, verdict: &str, took: Duration) {
        self.webhook_requests
            .get_or_create(&WebhookLabels {
                kind: kind.to_string(),
                operation: operation.to_string(),
                verdict: verdict.to_string(),
            })
            .inc();
        self.webhook_duration
            .get_or_create(&WebhookLatencyLabels {
                kind: kind.to_string(),
                operation: operation.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The certificate now served (from `source`) expires at `unix_seconds`.
    pub fn certificate_expires(&self, source: &str, unix_seconds: i64) {
        self.certificate_expiry.clear();
        self.certificate_expiry
            .get_or_create(&CertificateLabels {
                source: source.to_string(),
            })
            .set(unix_seconds);
    }
}
