//! The generated CRDs: committed, current, and accepted by a real API server.

use ipam_operator::api::*;
use ipam_operator::crds;
use ipam_test_support::{TestNamespace, install_crds};
use kube::api::PostParams;

const COMMITTED: &str = include_str!("../crds/ipam-operator.crds.yaml");

#[test]
fn committed_crds_are_current() {
    let generated = crds::to_yaml(&crds::all()).expect("CRDs serialize to YAML");
    assert!(
        generated == COMMITTED,
        "crds/ipam-operator.crds.yaml is stale: regenerate it with `make crds`"
    );
}

#[test]
fn the_charts_crds_are_the_generated_ones() {
    let chart = include_str!("../charts/ipam-operator/crds/ipam-operator.crds.yaml");
    assert!(
        chart == COMMITTED,
        "charts/ipam-operator/crds/ is stale: regenerate it with `make crds`"
    );
}

#[test]
fn every_schema_property_is_structural() {
    // The API server refuses a schema node without a type unless it preserves unknown
    // fields or is int-or-string; catching it here names the field.
    fn walk(path: &str, node: &serde_json::Value, problems: &mut Vec<String>) {
        let Some(obj) = node.as_object() else { return };
        let typed = obj.contains_key("type")
            || obj.get("x-kubernetes-preserve-unknown-fields")
                == Some(&serde_json::Value::Bool(true))
            || obj.get("x-kubernetes-int-or-string") == Some(&serde_json::Value::Bool(true));
        if !typed {
            problems.push(path.to_string());
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for branch in obj
                .get(key)
                .and_then(|b| b.as_array())
                .into_iter()
                .flatten()
            {
                if branch.get("type").is_some() || branch.get("description").is_some() {
                    problems.push(format!("{path}.{key}: type/description inside a branch"));
                }
            }
        }
        if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
            for (name, child) in props {
                walk(&format!("{path}.{name}"), child, problems);
            }
        }
        if let Some(items) = obj.get("items") {
            walk(&format!("{path}[]"), items, problems);
        }
        if let Some(extra) = obj.get("additionalProperties").filter(|a| a.is_object()) {
            walk(&format!("{path}{{}}"), extra, problems);
        }
    }
    let mut problems = Vec::new();
    for crd in crds::all() {
        for version in &crd.spec.versions {
            let schema =
                serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap();
            walk(
                &format!("{}/{}", crd.spec.names.kind, version.name),
                &schema,
                &mut problems,
            );
        }
    }
    assert!(
        problems.is_empty(),
        "schema nodes without a type: {problems:#?}"
    );
}

#[tokio::test]
async fn every_crd_is_accepted_and_serves_its_kind() {
    let ns = TestNamespace::new("crds").await;
    install_crds(&ns.client, &crds::all()).await;

    let template = ClusterTemplate::new(
        "vsphere-standalone-cp-1-0-42",
        serde_json::from_value(serde_json::json!({
            "helm": {"chartSpec": {
                "chart": "vsphere-standalone-cp", "version": "1.0.42", "interval": "10m0s",
                "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}
            }}
        }))
        .unwrap(),
    );
    let claim = ClusterIPAMClaim::new(
        "c1",
        serde_json::from_value(serde_json::json!({
            "provider": "in-cluster",
            "cluster": "c1",
            "nodeNetwork": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "prefix": 24}
        }))
        .unwrap(),
    );
    let ipam = ClusterIPAM::new(
        "c1",
        ClusterIPAMSpec {
            provider: Some(IpamProviderName::InCluster),
            cluster_ipam_claim_ref: Some("c1".into()),
        },
    );
    let deployment = ClusterDeployment::new(
        "c1",
        serde_json::from_value(serde_json::json!({
            "template": "vsphere-standalone-cp-1-0-42",
            "credential": "vsphere-cred",
            "config": {"controlPlaneNumber": 1, "workersNumber": 2},
            "ipamClaim": {"ref": "c1"}
        }))
        .unwrap(),
    );

    let pp = PostParams::default();
    let t = ns
        .api::<ClusterTemplate>()
        .create(&pp, &template)
        .await
        .unwrap();
    ns.api::<ClusterIPAMClaim>()
        .create(&pp, &claim)
        .await
        .unwrap();
    let i = ns.api::<ClusterIPAM>().create(&pp, &ipam).await.unwrap();
    let d = ns
        .api::<ClusterDeployment>()
        .create(&pp, &deployment)
        .await
        .unwrap();

    assert_eq!(
        ns.api::<ClusterTemplate>()
            .get("vsphere-standalone-cp-1-0-42")
            .await
            .unwrap()
            .spec,
        t.spec
    );
    assert_eq!(
        ns.api::<ClusterIPAMClaim>().get("c1").await.unwrap().spec,
        claim.spec
    );
    assert_eq!(
        ns.api::<ClusterIPAM>().get("c1").await.unwrap().spec,
        i.spec
    );
    let read = ns.api::<ClusterDeployment>().get("c1").await.unwrap();
    assert_eq!(read.spec, d.spec);
    // Defaults the schema promises, applied by the API server.
    assert!(read.spec.propagate_credentials);
    assert_eq!(
        t.spec.helm.chart_spec.as_ref().unwrap().reconcile_strategy,
        ipam_operator::api::cluster_template::ReconcileStrategy::ChartVersion
    );
    ns.delete().await;
}
