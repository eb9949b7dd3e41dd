//! Leader election on the real control plane: two replicas, one leads; when the leader
//! stops answering the other takes over and continues; the stale one, once it runs again,
//! writes nothing and exits. A SIGTERM hands the Lease over at once.

mod process;

use std::time::Duration;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use process::{Operator, eventually, http_get};
use serde_json::json;

const LEASE: &str = "ipam-operator-test";

/// A replica named `name` with short lease timings: a takeover within seconds.
fn replica(ns: &str, name: &str, lease_duration: &str) -> Operator {
    Operator::start(
        &format!("{ns}-{name}"),
        &[
            "--namespace",
            ns,
            "--instance",
            name,
            "--leader-elect",
            "--leader-election-namespace",
            ns,
            "--leader-election-id",
            LEASE,
            "--leader-election-lease-duration",
            lease_duration,
            "--leader-election-renew-deadline",
            "3",
            "--leader-election-retry-period",
            "1",
        ],
        &[],
    )
}

async fn setup(prefix: &str) -> TestNamespace {
    let ns = TestNamespace::new(prefix).await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.50.0.10-10.50.0.60"], "prefix": 24, "gateway": "10.50.0.1"}}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
    ns
}

async fn claim(ns: &TestNamespace, name: &str) {
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": name},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    ns.api::<IPAddressClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .unwrap();
}

async fn allocated(ns: &TestNamespace, name: &str) {
    let claims = ns.api::<IPAddressClaim>();
    eventually(30, &format!("claim {name} allocated"), || async {
        let c = claims.get(name).await.ok()?;
        c.status?.address_ref.map(|_| ())
    })
    .await;
}

/// Waits for `n` log lines of `operator` containing `word` (a line follows the API write
/// the test saw by a moment).
async fn logged(operator: &Operator, word: &str, n: usize) {
    eventually(
        5,
        &format!("{n} {word:?} lines in {}", operator.log.display()),
        || async { (operator.count(word) == n).then_some(()) },
    )
    .await;
}

/// `ipam_leader_status` of `operator`'s /metrics.
async fn leader_status(operator: &Operator) -> Option<f64> {
    let (_, body) = http_get(operator.metrics_port, "/metrics").await?;
    body.lines()
        .find_map(|l| l.strip_prefix("ipam_leader_status ")?.parse().ok())
}

/// The instance name (before `_`) of the Lease's holder, when held.
async fn holder(ns: &TestNamespace) -> Option<String> {
    let lease = Api::<Lease>::namespaced(ns.client.clone(), &ns.name)
        .get_opt(LEASE)
        .await
        .ok()??;
    let id = lease.spec?.holder_identity?;
    id.split('_').next().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_leader_is_replaced_and_writes_nothing_once_it_resumes() {
    let ns = setup("leader").await;
    let a = replica(&ns.name, "a", "5");
    let b = replica(&ns.name, "b", "5");
    let leader = eventually(30, "a leader", || holder(&ns)).await;
    let (mut stale, successor) = if leader == "a" { (a, b) } else { (b, a) };
    // Both are ready: the leader once its caches synced, the standby to serve the webhook.
    for replica in [&stale, &successor] {
        let port = replica.health_port;
        eventually(30, "/readyz 200", || async {
            http_get(port, "/readyz").await.filter(|(s, _)| *s == 200)
        })
        .await;
    }

    claim(&ns, "first").await;
    allocated(&ns, "first").await;
    logged(&stale, "allocated", 1).await;
    assert_eq!(successor.count("allocated"), 0, "the standby did nothing");
    // /metrics says which replica leads.
    assert_eq!(leader_status(&stale).await, Some(1.0));
    assert_eq!(leader_status(&successor).await, Some(0.0));

    // A leader that stops answering (a long pause, a partition) loses the Lease…
    stale.signal("STOP");
    let next = eventually(30, "a new leader", || async {
        holder(&ns).await.filter(|h| h != &leader)
    })
    .await;
    assert_ne!(next, leader);
    // …and the other continues.
    claim(&ns, "second").await;
    allocated(&ns, "second").await;
    logged(&successor, "allocated", 1).await;
    assert_eq!(leader_status(&successor).await, Some(1.0));

    // Work that the stale leader would take up the moment it runs again.
    claim(&ns, "third").await;
    let before = stale.log_text().lines().count();
    stale.signal("CONT");
    let status = stale
        .exited(Duration::from_secs(15))
        .await
        .expect("the stale leader exits once it notices the lost Lease");
    assert!(!status.success(), "a lost Lease is an error exit");
    let log = stale.log_text();
    assert!(log.contains("lost the leader Lease"), "{log}");
    let after: Vec<&str> = log.lines().skip(before).collect();
    for word in ["allocated", "released", "reconcile failed"] {
        assert!(
            !after.iter().any(|l| l.contains(word)),
            "the stale leader acted after losing the Lease:\n{}",
            after.join("\n")
        );
    }
    allocated(&ns, "third").await;
    assert_eq!(holder(&ns).await.as_deref(), Some(next.as_str()));
    drop(successor);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_hands_the_lease_over_at_once() {
    let ns = setup("handover").await;
    // A lease long enough that only a release explains a quick takeover.
    let a = replica(&ns.name, "a", "60");
    let leader = eventually(30, "a leader", || holder(&ns)).await;
    assert_eq!(leader, "a");
    let b = replica(&ns.name, "b", "60");
    claim(&ns, "first").await;
    allocated(&ns, "first").await;

    let mut a = a;
    a.signal("TERM");
    let status = a
        .exited(Duration::from_secs(20))
        .await
        .expect("SIGTERM stops the operator");
    assert!(status.success(), "graceful stop exits 0: {}", a.log_text());
    assert!(a.log_text().contains("released the Lease"));
    let took_over = tokio::time::Instant::now();
    eventually(15, "b leading", || async {
        holder(&ns).await.filter(|h| h == "b")
    })
    .await;
    assert!(took_over.elapsed() < Duration::from_secs(15));
    claim(&ns, "second").await;
    allocated(&ns, "second").await;
    logged(&b, "allocated", 1).await;
    let lease = Api::<Lease>::namespaced(ns.client.clone(), &ns.name)
        .get(LEASE)
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    ns.delete().await;
}
