//! The in-cluster provider's own sample manifests, applied as written, behave as they do
//! upstream. In a test binary of its own: it runs an operator that serves every namespace.

mod common;

use common::*;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};

use kube::ResourceExt;
use kube::api::DeleteParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn upstream_samples_apply_unchanged_and_allocate_as_upstream() {
    let ns = setup("samples").await;
    let _operator = operator_with(
        &ns,
        ipam_in_cluster::Config {
            concurrency: 8,
            ..Default::default()
        },
    );
    // The global sample is cluster-scoped: clear what an interrupted earlier run left.
    if global_pools(&ns)
        .get_opt("globalinclusterippool-sample")
        .await
        .unwrap()
        .is_some()
    {
        let _ = global_pools(&ns)
            .delete("globalinclusterippool-sample", &DeleteParams::default())
            .await;
        gone(&global_pools(&ns), "globalinclusterippool-sample").await;
    }
    apply(&ns.client, &ns.name, "ipam_v1alpha2_inclusterippool.yaml").await;
    apply(
        &ns.client,
        &ns.name,
        "ipam_v1alpha2_globalinclusterippool.yaml",
    )
    .await;
    // The sample claim is written against IPAddressClaim v1alpha1.
    apply(&ns.client, &ns.name, "claim.yaml").await;

    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let address = allocated(&addresses, &claims, "my-claim").await;
    assert_eq!(address.spec.address, "10.0.0.2");
    assert_eq!(address.spec.gateway.as_deref(), Some("10.0.0.1"));
    assert_eq!(address.spec.prefix, 24);
    let counts = eventually(30, "sample pool counts", || async {
        let c = pools(&ns)
            .get("inclusterippool-sample")
            .await
            .ok()?
            .status?
            .ip_addresses?;
        (c.used == 1).then_some(c)
    })
    .await;
    // .2-.254 is 253 addresses; the gateway and the subnet's network and broadcast lie outside.
    assert_eq!(
        (counts.total, counts.used, counts.free, counts.out_of_range),
        (253, 1, 252, 0)
    );

    // The global sample excludes all but 10.0.0.2.
    let global = eventually(30, "global sample counts", || async {
        global_pools(&ns)
            .get("globalinclusterippool-sample")
            .await
            .ok()?
            .status?
            .ip_addresses
    })
    .await;
    assert_eq!((global.total, global.used, global.free), (1, 0, 1));
    let mut to_global = claim(
        "to-global",
        "GlobalInClusterIPPool",
        "globalinclusterippool-sample",
    );
    to_global["metadata"]["namespace"] = json!(ns.name);
    create(&claims, to_global).await;
    assert_eq!(
        allocated(&addresses, &claims, "to-global")
            .await
            .spec
            .address,
        "10.0.0.2"
    );

    for claim in ["my-claim", "to-global"] {
        claims
            .delete(claim, &DeleteParams::default())
            .await
            .unwrap();
        gone(&claims, claim).await;
    }
    global_pools(&ns)
        .delete("globalinclusterippool-sample", &DeleteParams::default())
        .await
        .unwrap();
    gone(&global_pools(&ns), "globalinclusterippool-sample").await;
    assert!(
        addresses
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|a| a.name_any() != "to-global")
    );
    ns.delete().await;
}
