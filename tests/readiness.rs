//! `/readyz` waits for the caches of the Infoblox and k0rdent controllers too, not only the
//! in-cluster ones: an operator whose account may not list those kinds stays unready, naming
//! exactly their caches, and becomes ready once the chart's RBAC for them is applied.

mod chart;
mod process;

use std::collections::BTreeSet;
use std::time::Duration;

use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use process::{Operator, eventually, http_get};

/// The cache names `/readyz` reports as still waiting, or empty when it answers 200.
async fn waiting(port: u16) -> Option<BTreeSet<String>> {
    let (status, body) = http_get(port, "/readyz").await?;
    if status == 200 {
        return Some(BTreeSet::new());
    }
    assert_eq!(status, 503, "{body}");
    let names = body.strip_prefix("waiting for: ")?;
    Some(names.split(", ").map(str::to_string).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_waits_for_the_caches_of_every_backend_and_face() {
    let ns = TestNamespace::new("readyz").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let without = [
        "backends.infoblox.enabled=false",
        "faces.k0rdent.enabled=false",
    ];
    let user = chart::apply_rbac(&ns.name, &ns.name, &without);
    let operator = Operator::start(
        &ns.name,
        &[
            "--namespace",
            &ns.name,
            "--controllers",
            "in-cluster,infoblox,k0rdent,metal3",
        ],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );

    let unlisted: BTreeSet<String> = [
        "infoblox InfobloxInstance",
        "infoblox InfobloxIPPool",
        "k0rdent ClusterIPAMClaim",
        "k0rdent ClusterIPAM",
        "k0rdent ClusterDeployment",
        "k0rdent ClusterTemplate",
    ]
    .iter()
    .map(|cache| format!("{cache} cache"))
    .collect();
    // The caches it may list sync; those it may not keep it unready, each by name.
    let port = operator.health_port;
    eventually(
        30,
        "/readyz waiting for exactly the unlistable caches",
        || {
            let unlisted = unlisted.clone();
            async move { waiting(port).await.filter(|w| *w == unlisted) }
        },
    )
    .await;
    // Still so a while later: nothing but the missing permission holds it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(waiting(port).await, Some(unlisted));

    chart::apply_rbac(
        &ns.name,
        &ns.name,
        &[
            "backends.infoblox.enabled=true",
            "faces.k0rdent.enabled=true",
        ],
    );
    // Each watch retries with a backoff that has grown to as much as 30 s (plus jitter) while
    // it was forbidden; a 403 is not retried any sooner once the rights exist.
    eventually(120, "/readyz 200", || async {
        waiting(port).await.filter(BTreeSet::is_empty)
    })
    .await;
    drop(operator);
    ns.delete().await;
}
