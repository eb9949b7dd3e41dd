//! Each user story under examples/ does what its comment says once applied with the operator
//! running: the in-cluster pool answers its claim, the prefix pools hand out the blocks their
//! comments name, the Metal3 pool answers its IPClaim, the Infoblox pool its claim through a
//! WAPI (wapi-sim, as `make demo` runs it).

mod process;

use std::path::{Path, PathBuf};

use ipam_test_support::manifests::{Applied, apply, objects};
use ipam_test_support::wapi_sim::Sim;
use ipam_test_support::{TestNamespace, capi_crds, create, flux_crds, install_crds};
use kube::api::{DeleteParams, DynamicObject};
use kube::discovery::Discovery;
use process::{Operator, eventually};
use serde_json::{Value, json};

fn story(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A namespace with every CRD, an operator serving it, and the discovery to apply with.
async fn setup(prefix: &str) -> (TestNamespace, Operator, Discovery) {
    let ns = TestNamespace::new(prefix).await;
    let mut crds = capi_crds();
    crds.extend(flux_crds());
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let operator = Operator::start(&ns.name, &["--namespace", &ns.name], &[]);
    let discovery = Discovery::new(ns.client.clone()).run().await.unwrap();
    (ns, operator, discovery)
}

/// Applies every manifest of `dir` into `ns`, letting `edit` adjust each object first.
async fn apply_story(
    ns: &TestNamespace,
    discovery: &Discovery,
    dir: &Path,
    edit: impl Fn(&mut DynamicObject),
) -> Vec<Applied> {
    let mut applied = Vec::new();
    for file in ipam_test_support::manifests::yaml_files(dir) {
        for mut obj in objects(&file) {
            edit(&mut obj);
            applied.push(apply(&ns.client, discovery, &ns.name, &file, obj).await);
        }
    }
    applied
}

/// `field` (a JSON pointer) of object `name` of the applied kind `kind`, once it is set.
async fn field_of(applied: &[Applied], kind: &str, name: &str, field: &str) -> Value {
    let object = applied
        .iter()
        .find(|a| a.name == name && a.api.resource_url().contains(kind))
        .unwrap_or_else(|| panic!("the story has no {kind} {name}"));
    eventually(90, &format!("{kind} {name} {field}"), || async {
        let obj = object.api.get(name).await.ok()?;
        let value = serde_json::to_value(&obj).ok()?.pointer(field)?.clone();
        (!value.is_null()).then_some(value)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn in_cluster_pool_answers_its_claim() {
    let (ns, _operator, discovery) = setup("story-in-cluster").await;
    let applied = apply_story(&ns, &discovery, &story("in-cluster"), |_| {}).await;
    let address = field_of(
        &applied,
        "ipaddressclaims",
        "machine-0",
        "/status/addressRef/name",
    )
    .await;
    assert_eq!(address, "machine-0");
    let addresses = ns.api::<ipam_in_cluster::api::capi::IPAddress>();
    let address = addresses.get("machine-0").await.unwrap();
    // The lowest address of the range, with the pool's prefix and gateway.
    assert_eq!(address.spec.address, "10.40.0.10");
    assert_eq!(address.spec.prefix, 24);
    assert_eq!(address.spec.gateway.as_deref(), Some("10.40.0.1"));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_pools_hand_out_the_blocks_their_comments_name() {
    let (ns, _operator, discovery) = setup("story-prefix").await;
    apply_story(&ns, &discovery, &story("prefix-pool"), |_| {}).await;
    let addresses = ns.api::<ipam_in_cluster::api::capi::IPAddress>();
    for (claim, address, prefix, gateway) in [
        ("tenant-a-lb", "10.80.0.16", 28, Some("10.80.0.1")),
        ("tenant-a-nodes", "fd80:0:1::", 64, None),
    ] {
        let got = eventually(60, &format!("{claim}'s IPAddress"), || async {
            addresses.get_opt(claim).await.ok().flatten()
        })
        .await;
        assert_eq!(
            (
                got.spec.address.as_str(),
                got.spec.prefix,
                got.spec.gateway.as_deref()
            ),
            (address, prefix, gateway),
            "{claim}"
        );
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metal3_pool_answers_its_ipclaim() {
    let (ns, _operator, discovery) = setup("story-metal3").await;
    let applied = apply_story(&ns, &discovery, &story("metal3"), |_| {}).await;
    let name = field_of(&applied, "ipclaims", "node-0", "/status/address/name").await;
    let addresses = ns.api::<ipam_in_cluster::metal3::api::IPAddress>();
    let address = addresses.get(name.as_str().unwrap()).await.unwrap();
    assert_eq!(address.spec.address, "192.168.111.20");
    assert_eq!(address.spec.gateway.as_deref(), Some("192.168.111.1"));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn infoblox_pool_answers_its_claim_from_the_wapi() {
    let (ns, _operator, discovery) = setup("story-infoblox").await;
    // What `make demo` provides: the simulator with the example's user and network, and its
    // CA in the Secret the instance names.
    let sim = Sim::start("admin", "infoblox").await;
    sim.seed(json!({"networks": ["10.60.0.0/24"]})).await;
    let secrets = ns.api::<k8s_openapi::api::core::v1::Secret>();
    create(
        &secrets,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wapi-sim-ca"},
        "stringData": {"ca.crt": String::from_utf8(sim.ca_pem.clone()).unwrap()}}),
    )
    .await;
    // The example names `default` and the demo's port; here the test's namespace and sim.
    let (namespace, port) = (ns.name.clone(), sim.port());
    let applied = apply_story(&ns, &discovery, &story("infoblox"), |obj| {
        if let Some(spec) = obj.data.get_mut("spec")
            && spec.get("host").is_some()
        {
            spec["port"] = json!(port);
            spec["credentialsSecretRef"]["namespace"] = json!(namespace);
            spec["caBundleRef"]["namespace"] = json!(namespace);
        }
    })
    .await;
    field_of(
        &applied,
        "ipaddressclaims",
        "node-1",
        "/status/addressRef/name",
    )
    .await;
    let addresses = ns.api::<ipam_in_cluster::api::capi::IPAddress>();
    let address = addresses.get("node-1").await.unwrap();
    assert!(
        address.spec.address.starts_with("10.60.0."),
        "{}",
        address.spec.address
    );
    assert_eq!(address.spec.gateway.as_deref(), Some("10.60.0.1"));
    // Reserved in Infoblox itself, not only in the cluster.
    let hosts = sim.hosts().await;
    assert!(
        hosts
            .iter()
            .any(|h| h.to_string().contains(&address.spec.address)),
        "no host record holds {}: {hosts:?}",
        address.spec.address
    );
    // The claim goes, the reservation goes with it; then the instance can go.
    for a in applied.iter().rev() {
        let _ = a.api.delete(&a.name, &DeleteParams::default()).await;
        if a.name == "node-1" {
            eventually(60, "the host record released", || async {
                let held = sim
                    .hosts()
                    .await
                    .iter()
                    .any(|h| h.to_string().contains(&address.spec.address));
                (!held).then_some(())
            })
            .await;
        }
    }
    ns.delete().await;
}
