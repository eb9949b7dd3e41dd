//! The short form of `make bench-e2e`, run by `make test`: 300 Cluster API claims on one pool,
//! served by an operator process, driven and counted by the benchmark driver itself
//! (`e2e/bench`). It fails when the operator needs more API requests per claim than the
//! budget, when an address is handed out twice, or when a claim is never bound. It asserts no
//! speed: a shared test machine makes times meaningless, while request counts are not.

mod process;

use std::time::Duration;

use ipam_bench::claim_load::{self, ClaimLoad};
use ipam_bench::face::Face;
use ipam_bench::measure::Limits;
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use process::{Operator, eventually, http_get};

const CLAIMS: usize = 300;
/// Requests per claim the operator may make on the hot path (issue 12).
const BUDGET: f64 = 5.0;
/// The resources the budget counts: our kinds' and the events about them. The driver's own
/// creates are taken out before counting.
const COUNTED: &[&str] = &[
    "ipaddressclaims",
    "ipaddresses",
    "addressallocations",
    "inclusterippools",
    "events",
];

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_claims_within_the_request_budget_and_no_duplicate() {
    let ns = TestNamespace::new("bench-short").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let operator = Operator::start(
        &ns.name,
        &["--controllers", "in-cluster", "--namespace", &ns.name],
        &[],
    );
    eventually(60, "the operator ready", || async {
        let (status, _) = http_get(operator.health_port, "/readyz").await?;
        (status == 200).then_some(())
    })
    .await;

    // What the operator itself sent, from its own client metrics: the API server's counts
    // (the driver's figure) also hold the namespace controller's retries in earlier tests'
    // namespaces, which stay Terminating while their objects keep our finalizers.
    let sent_before = operator_requests(operator.metrics_port).await;

    let load = ClaimLoad {
        scenario: "short".into(),
        system: "ours".into(),
        face: Face::Capi,
        raw: false,
        namespace: ns.name.clone(),
        pools: 1,
        claims_per_pool: CLAIMS,
        concurrency: 32,
        // Liveness bounds only: far beyond any plausible run, they turn a hang into a failure.
        limits: Limits {
            pid: Some(operator.pid()),
            timeout: Duration::from_secs(600),
            stall: Duration::from_secs(120),
            settle: Duration::from_secs(3),
        },
    };
    let report = claim_load::run(&ns.client, &load)
        .await
        .expect("the benchmark driver ran");
    let breakdown = serde_json::to_string_pretty(&report.requests).unwrap();

    assert_eq!(
        report.ready,
        CLAIMS,
        "not every claim was bound: {:?}; operator log {}",
        report.notes,
        operator.log.display()
    );
    assert_eq!(report.duplicates, 0, "an address was handed out twice");
    assert_eq!(report.addresses, CLAIMS, "one address object per claim");
    let sent = operator_requests(operator.metrics_port).await - sent_before;
    let per_claim = sent / CLAIMS as f64;
    let seen = report.requests.operator_per_claim_on(COUNTED);
    // Printed for the CI log: what the budget was measured against.
    eprintln!(
        "{per_claim:.2} requests per claim sent on {COUNTED:?} ({seen:.2} seen by the API \
         server less the driver's): {breakdown}"
    );
    assert!(
        per_claim <= BUDGET,
        "the operator sent {per_claim:.2} API requests per claim on {COUNTED:?}, more than the \
         budget of {BUDGET} (the API server saw {seen:.2} per claim besides the driver's: \
         {breakdown})"
    );
    ns.delete().await;
}

/// The operator's requests so far on the [`COUNTED`] resources, summed from its
/// `ipam_kube_requests_total` (labelled `plural.group[/subresource]`).
async fn operator_requests(metrics_port: u16) -> f64 {
    let (status, body) = http_get(metrics_port, "/metrics")
        .await
        .expect("the operator's /metrics answers");
    assert_eq!(status, 200, "/metrics: {body}");
    body.lines()
        .filter_map(|line| line.strip_prefix("ipam_kube_requests_total{"))
        .filter_map(|line| {
            let (labels, value) = line.rsplit_once("} ")?;
            let resource = labels.split("resource=\"").nth(1)?.split('"').next()?;
            let plural = resource.split(['/', '.']).next()?;
            COUNTED
                .contains(&plural)
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}
