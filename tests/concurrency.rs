//! Many claims at once against one pool: served by two operator processes running side by
//! side with no leader election, or by one killed in the middle of the burst and another
//! started: every claim gets an address, and no address is handed out twice or left taken.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_in_cluster::api::{AddressAllocation, InClusterIPPool};
use ipam_test_support::{TestNamespace, capi_crds, install_crds, kubeconfig_path};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

const CLAIMS: usize = 500;

/// An operator process; its log goes to target/test-logs/<namespace>-<n>.log.
fn operator_process(ns: &str, n: u32) -> tokio::process::Child {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join(format!("{ns}-{n}.log"))).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ipam-operator"))
        .args([
            "run",
            "--namespace",
            ns,
            "--concurrency",
            "16",
            // Two processes on one machine: no fixed ports.
            "--webhook-port",
            "0",
            "--metrics-port",
            "0",
            "--health-port",
            "0",
        ])
        .env("KUBECONFIG", kubeconfig_path())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start an operator process")
}

/// The pool every test here draws from: a /22 (1,021 addresses once the network, broadcast
/// and gateway are withheld).
async fn big_pool(ns: &TestNamespace) {
    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "big"}, "spec": {"addresses": ["10.40.0.0/22"], "prefix": 22, "gateway": "10.40.0.1"}}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
}

/// Creates claims `m-0` … `m-{count-1}` on the pool, 50 at a time.
async fn create_claims(claims: &Api<IPAddressClaim>, count: usize) {
    futures::stream::iter(0..count)
        .map(|i| {
            let claims = claims.clone();
            async move {
                let claim: IPAddressClaim = serde_json::from_value(json!({
                    "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
                    "metadata": {"name": format!("m-{i}")},
                    "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "big"}}}))
                .unwrap();
                claims.create(&PostParams::default(), &claim).await.expect("create claim");
            }
        })
        .buffer_unordered(50)
        .collect::<Vec<_>>()
        .await;
}

/// How many claims show an address.
async fn allocated(claims: &Api<IPAddressClaim>) -> usize {
    claims
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.status
                .as_ref()
                .and_then(|s| s.address_ref.as_ref())
                .is_some()
        })
        .count()
}

/// Waits until all `count` claims show an address, failing if any of `operators` dies.
async fn all_allocated(
    claims: &Api<IPAddressClaim>,
    count: usize,
    operators: &mut [&mut tokio::process::Child],
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let ready = allocated(claims).await;
        if ready == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {ready} of {count} claims allocated after 300s"
        );
        for operator in operators.iter_mut() {
            assert!(
                operator.try_wait().unwrap().is_none(),
                "an operator process died"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every claim Ready with an address of its own, exactly one allocation record per address,
/// none left over.
async fn each_address_once(ns: &TestNamespace, count: usize) {
    let addresses = ns
        .api::<IPAddress>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(addresses.len(), count);
    let unique: HashSet<_> = addresses.iter().map(|a| a.spec.address.clone()).collect();
    assert_eq!(unique.len(), count, "an address was handed out twice");
    assert!(
        !unique.contains("10.40.0.0") && !unique.contains("10.40.3.255"),
        "reserved addresses handed out"
    );
    assert!(!unique.contains("10.40.0.1"), "the gateway handed out");
    for claim in ns
        .api::<IPAddressClaim>()
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        let name = claim.name_any();
        let ready = claim
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Allocated"),
            "claim {name}"
        );
    }
    // A claim both processes raced for is Ready once the winner writes its status; the
    // loser deletes the record it took in the same reconcile, which may still be in flight.
    // Nothing may be left once that settles.
    let records_of_this_test = || async {
        Api::<AddressAllocation>::all(ns.client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.spec.claim.namespace == ns.name)
            .map(|r| r.spec.address)
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut records = records_of_this_test().await;
    while records.len() != count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        records = records_of_this_test().await;
    }
    let recorded: HashSet<_> = records.iter().cloned().collect();
    assert_eq!(
        (records.len(), &recorded),
        (count, &unique),
        "one allocation record per address, none left over (30 s after the last claim was Ready)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_claims_two_processes_no_duplicate() {
    let ns = TestNamespace::new("concurrency").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let mut first = operator_process(&ns.name, 1);
    let mut second = operator_process(&ns.name, 2);
    big_pool(&ns).await;
    let claims = ns.api::<IPAddressClaim>();
    create_claims(&claims, CLAIMS).await;
    all_allocated(&claims, CLAIMS, &mut [&mut first, &mut second]).await;
    each_address_once(&ns, CLAIMS).await;

    // /22 = 1024 addresses, less network, broadcast and gateway.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts = ns
            .api::<InClusterIPPool>()
            .get("big")
            .await
            .unwrap()
            .status
            .and_then(|s| s.ip_addresses);
        if let Some(c) = counts.filter(|c| c.used == CLAIMS as i64) {
            assert_eq!(
                (c.total, c.used, c.free, c.out_of_range),
                (1021, CLAIMS as i64, 1021 - CLAIMS as i64, 0)
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pool counts never reached {CLAIMS} used: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = first.kill().await;
    let _ = second.kill().await;
    ns.delete().await;
}

/// An operator killed (SIGKILL) in the middle of a burst, with creates of records and
/// IPAddresses in flight, and a new one started: every claim still gets one address, none is
/// handed out twice, no record is left without its address; and once the claims are deleted,
/// nothing at all is left taken.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_mid_burst_loses_and_doubles_nothing() {
    const BURST: usize = 300;
    let ns = TestNamespace::new("killed").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let mut first = operator_process(&ns.name, 1);
    big_pool(&ns).await;
    let claims = ns.api::<IPAddressClaim>();
    let creating = tokio::spawn({
        let claims = claims.clone();
        async move { create_claims(&claims, BURST).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while allocated(&claims).await < BURST / 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first operator never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap();
    let _ = first.wait().await;
    let at_kill = allocated(&claims).await;
    assert!(at_kill < BURST, "the burst was over before the kill");
    creating.await.unwrap();
    let mut second = operator_process(&ns.name, 2);
    all_allocated(&claims, BURST, &mut [&mut second]).await;
    each_address_once(&ns, BURST).await;

    claims
        .delete_collection(&Default::default(), &ListParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = ns
            .api::<IPAddress>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        let records = Api::<AddressAllocation>::all(ns.client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.spec.claim.namespace == ns.name)
            .count();
        if left == 0 && records == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} IPAddresses and {records} records left after every claim was deleted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = second.kill().await;
    ns.delete().await;
}
