//! v1alpha1 InClusterIPPool and GlobalInClusterIPPool, served through the operator's
//! conversion webhook by the real API server. An operator process points the pool CRDs at
//! itself (`--conversion-url`, as `make up` runs it) and serves the claims. A CRD's
//! conversion webhook is cluster-wide, so the parts run one after another in one test.

mod process;

use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_in_cluster::api::{GlobalInClusterIPPool, InClusterIPPool, v1alpha1};
use ipam_in_cluster::conversion::DATA_ANNOTATION;
use ipam_test_support::{TestNamespace, capi_crds, create, install_crds};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use process::{Operator, eventually, free_port};
use serde_json::json;

fn sample(file: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e/fixtures/in-cluster-samples")
        .join(file);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn v1alpha1_pools_are_served_through_the_operators_conversion_webhook() {
    let ns = TestNamespace::new("conversion").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let port = free_port().to_string();
    let certs = std::env::temp_dir().join(format!("{}-webhook-certs", ns.name));
    let url = format!("https://127.0.0.1:{port}");
    let operator = Operator::start(
        &ns.name,
        &[
            "--namespace",
            &ns.name,
            "--controllers",
            "in-cluster",
            "--webhook-port",
            &port,
            "--webhook-cert-dir",
            certs.to_str().unwrap(),
            "--conversion-url",
            &url,
        ],
        &[],
    );

    the_v1alpha1_sample_applies_and_serves_claims(&ns).await;
    a_v1alpha2_pool_written_back_through_v1alpha1_is_unchanged(&ns).await;
    a_global_pool_changed_through_v1alpha2_reads_as_changed(&ns).await;
    bad_v1alpha1_input_is_refused_with_the_field_and_the_reason(&ns).await;

    let log = operator.log_text();
    assert!(
        log.contains("pointed the CRD's conversion webhook at this operator"),
        "{log}"
    );
    drop(operator);
    give_the_crds_back_their_generated_conversion(&ns.client).await;
    let _ = std::fs::remove_dir_all(&certs);
    ns.delete().await;
}

/// Upstream's v1alpha1 sample, as written: the API server stores it as v1alpha2 through the
/// webhook, upstream's sample claim gets an address of it, and v1alpha1 readers see the
/// sample filled in as upstream fills it, with the pool's counts.
async fn the_v1alpha1_sample_applies_and_serves_claims(ns: &TestNamespace) {
    let old_api = ns.api::<v1alpha1::InClusterIPPool>();
    let pool: v1alpha1::InClusterIPPool =
        serde_json::from_value(sample("inclusterippool.yaml")).unwrap();
    // The API server learns of the CRD's new conversion address from a watch; until then
    // the write cannot be converted.
    eventually(60, "a v1alpha1 pool to be accepted", || async {
        old_api.create(&PostParams::default(), &pool).await.ok()
    })
    .await;

    let stored = ns
        .api::<InClusterIPPool>()
        .get("inclusterippool-sample")
        .await
        .unwrap();
    assert_eq!(stored.spec.pool.addresses, ["10.0.0.1-10.0.0.254"]);
    assert_eq!(stored.spec.pool.prefix, 24);
    assert_eq!(stored.spec.pool.gateway.as_deref(), Some("10.0.0.1"));
    let remembered: serde_json::Value =
        serde_json::from_str(&stored.annotations()[DATA_ANNOTATION]).unwrap();
    assert_eq!(remembered["spec"]["subnet"], "10.0.0.0/24");

    let read = old_api.get("inclusterippool-sample").await.unwrap();
    let spec = &read.spec.pool;
    assert_eq!(
        (
            spec.subnet.as_str(),
            spec.start.as_str(),
            spec.end.as_str(),
            spec.prefix,
            spec.gateway.as_str()
        ),
        ("10.0.0.0/24", "10.0.0.1", "10.0.0.254", 24, "10.0.0.1")
    );
    assert!(spec.addresses.is_empty());
    assert!(!read.annotations().contains_key(DATA_ANNOTATION));

    // Upstream's sample claim (IPAddressClaim v1alpha1) names the pool.
    let mut claim = sample("claim.yaml");
    claim["metadata"]["namespace"] = json!(ns.name);
    let claims = ns.api::<IPAddressClaim>();
    create(&claims, claim).await;
    let addresses = ns.api::<IPAddress>();
    let address = eventually(60, "an IPAddress for my-claim", || async {
        let claim = claims.get("my-claim").await.ok()?;
        let name = claim.status?.address_ref?.name;
        addresses.get(&name).await.ok()
    })
    .await;
    assert_eq!(
        (
            address.spec.address.as_str(),
            address.spec.prefix,
            address.spec.gateway.as_deref()
        ),
        ("10.0.0.2", 24, Some("10.0.0.1"))
    );
    // The status the operator writes as v1alpha2 reads through v1alpha1 too: .1-.254 less
    // the gateway.
    let counts = eventually(30, "the sample's counts through v1alpha1", || async {
        let counts = old_api
            .get("inclusterippool-sample")
            .await
            .ok()?
            .status?
            .ip_addresses?;
        (counts.used == 1).then_some(counts)
    })
    .await;
    assert_eq!(
        (counts.total, counts.used, counts.free, counts.out_of_range),
        (253, 1, 252, 0)
    );
}

/// A v1alpha2 pool with what v1alpha1 cannot say (exclusions, reserved addresses handed
/// out) keeps it when written back through v1alpha1 unchanged, and through a label patch.
/// (Upstream loses both fields on either write.)
async fn a_v1alpha2_pool_written_back_through_v1alpha1_is_unchanged(ns: &TestNamespace) {
    let new_api = ns.api::<InClusterIPPool>();
    let created: InClusterIPPool = create(
        &new_api,
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
            "metadata": {"name": "modern"},
            "spec": {"addresses": ["10.1.0.0/24"], "prefix": 24, "gateway": "10.1.0.1",
                "excludedAddresses": ["10.1.0.5"], "allocateReservedIPAddresses": true}}),
    )
    .await;
    let old_api = ns.api::<v1alpha1::InClusterIPPool>();
    let read = old_api.get("modern").await.unwrap();
    assert_eq!(read.spec.pool.addresses, ["10.1.0.0/24"]);
    assert_eq!(
        (read.spec.pool.prefix, read.spec.pool.gateway.as_str()),
        (24, "10.1.0.1")
    );
    assert!(read.spec.pool.subnet.is_empty());

    // Read and written back unchanged, as `kubectl edit` does; the operator's own writes (its
    // finalizer, the status) may come between, so read again on a conflict.
    eventually(
        30,
        "the v1alpha1 view written back as it was read",
        || async {
            let read = old_api.get("modern").await.ok()?;
            old_api
                .replace("modern", &PostParams::default(), &read)
                .await
                .ok()
        },
    )
    .await;
    assert_eq!(
        new_api.get("modern").await.unwrap().spec,
        created.spec,
        "after a write through v1alpha1"
    );
    old_api
        .patch(
            "modern",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "v1alpha1"}}})),
        )
        .await
        .unwrap();
    let after = new_api.get("modern").await.unwrap();
    assert_eq!(
        after.spec, created.spec,
        "after a label patch through v1alpha1"
    );
    assert_eq!(after.labels()["touched"], "v1alpha1");
}

/// A global pool written as v1alpha1 and then changed through v1alpha2 reads through
/// v1alpha1 as it now is, not as it was first written (upstream gives the stale spec back).
async fn a_global_pool_changed_through_v1alpha2_reads_as_changed(ns: &TestNamespace) {
    let name = format!("{}-global", ns.name);
    let old_api = Api::<v1alpha1::GlobalInClusterIPPool>::all(ns.client.clone());
    let pool: v1alpha1::GlobalInClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "GlobalInClusterIPPool",
        "metadata": {"name": name}, "spec": {"subnet": "10.2.0.0/24"}}))
    .unwrap();
    old_api.create(&PostParams::default(), &pool).await.unwrap();
    let read = old_api.get(&name).await.unwrap();
    assert_eq!(read.spec.pool.subnet, "10.2.0.0/24");

    let new_api = Api::<GlobalInClusterIPPool>::all(ns.client.clone());
    new_api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"addresses": ["10.2.0.10-10.2.0.20"]}})),
        )
        .await
        .unwrap();
    let read = old_api.get(&name).await.unwrap();
    assert_eq!(read.spec.pool.addresses, ["10.2.0.10-10.2.0.20"]);
    assert_eq!(
        (
            read.spec.pool.subnet.as_str(),
            read.spec.pool.start.as_str()
        ),
        ("", "")
    );
    new_api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
}

/// Bad v1alpha1 input is refused with the field and the reason: the schema's rules catch
/// what is not an address or a CIDR, the conversion what only it can see.
async fn bad_v1alpha1_input_is_refused_with_the_field_and_the_reason(ns: &TestNamespace) {
    let old_api = ns.api::<v1alpha1::InClusterIPPool>();
    let refused = |spec: serde_json::Value| {
        let old_api = old_api.clone();
        async move {
            let pool: v1alpha1::InClusterIPPool = serde_json::from_value(json!({
                "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InClusterIPPool",
                "metadata": {"name": "bad"}, "spec": spec}))
            .unwrap();
            match old_api.create(&PostParams::default(), &pool).await {
                Err(kube::Error::Api(status)) => *status,
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let status = refused(json!({"subnet": "10.0.0.0/33"})).await;
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains(
            "spec.subnet: Invalid value: \"10.0.0.0/33\": subnet must be a CIDR such as 10.0.0.0/24"
        ),
        "{status:?}"
    );
    let status = refused(json!({"subnet": "10.0.0.0/24", "start": "10.0.0.x"})).await;
    assert!(
        status
            .message
            .contains("spec.start: Invalid value: \"10.0.0.x\": start must be an IP address"),
        "{status:?}"
    );
    // A CIDR with no address between its first and its last: only the conversion knows.
    let status = refused(json!({"subnet": "0.0.0.0/32"})).await;
    assert!(
        status.message.contains(
            "spec.subnet: Invalid value: \"0.0.0.0/32\": the subnet has no address after its first or before its last; set start and end"
        ),
        "{status:?}"
    );
    assert!(
        old_api.get_opt("bad").await.unwrap().is_none(),
        "nothing refused was stored"
    );
}

/// The CRDs name the generated Service again, so no later run finds them pointing at this
/// test's stopped operator.
async fn give_the_crds_back_their_generated_conversion(client: &kube::Client) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in ipam_operator::crds::all() {
        let Some(conversion) = crd.spec.conversion.filter(|c| c.strategy == "Webhook") else {
            continue;
        };
        let mut conversion = serde_json::to_value(conversion).unwrap();
        conversion["webhook"]["clientConfig"]["url"] = serde_json::Value::Null;
        conversion["webhook"]["clientConfig"]["caBundle"] = serde_json::Value::Null;
        api.patch(
            &crd.metadata.name.unwrap(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"conversion": conversion}})),
        )
        .await
        .unwrap();
    }
}
