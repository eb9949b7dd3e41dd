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
    let per_claim = report.requests.operator_per_claim_on(COUNTED);
    assert!(
        per_claim <= BUDGET,
        "the operator made {per_claim:.2} API requests per claim on {COUNTED:?}, more than the \
         budget of {BUDGET}: {breakdown}"
    );
    ns.delete().await;
}
