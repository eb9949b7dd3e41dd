//! The generated CRDs keep every field, default and required list of telekom's v1alpha1
//! CRDs (infoblox-wapi.md §1), so manifests written for that provider apply unchanged.

use ipam_infoblox::api::{InfobloxIPPool, InfobloxInstance};
use kube::CustomResourceExt;
use serde_json::Value;

fn spec_schema(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Value {
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    let schema = serde_json::to_value(
        version
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    schema["properties"]["spec"].clone()
}

fn required(schema: &Value) -> Vec<String> {
    serde_json::from_value(schema["required"].clone()).unwrap_or_default()
}

#[test]
fn infoblox_instance_keeps_the_upstream_schema() {
    let crd = InfobloxInstance::crd();
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.group, "ipam.cluster.x-k8s.io");
    let spec = spec_schema(&crd);
    for (field, type_) in [
        ("host", "string"),
        ("port", "string"),
        ("wapiVersion", "string"),
        ("credentialsSecretRef", "object"),
        ("defaultNetworkView", "string"),
        ("defaultDNSView", "string"),
        ("disableTLSVerification", "boolean"),
        ("customCAPath", "string"),
    ] {
        assert_eq!(spec["properties"][field]["type"], type_, "spec.{field}");
    }
    assert_eq!(spec["properties"]["port"]["default"], "443");
    assert_eq!(
        spec["properties"]["credentialsSecretRef"]["properties"]["name"]["type"],
        "string"
    );
    let mut req = required(&spec);
    req.sort();
    for field in ["credentialsSecretRef", "host", "wapiVersion"] {
        assert!(
            req.contains(&field.to_string()),
            "{field} required: {req:?}"
        );
    }
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .unwrap()
            .status
            .is_some()
    );
}

#[test]
fn infoblox_ip_pool_keeps_the_upstream_schema() {
    let crd = InfobloxIPPool::crd();
    assert_eq!(crd.spec.scope, "Namespaced");
    let spec = spec_schema(&crd);
    for (field, type_) in [
        ("instance", "object"),
        ("subnets", "array"),
        ("networkView", "string"),
        ("dnsView", "string"),
        ("dnsZone", "string"),
    ] {
        assert_eq!(spec["properties"][field]["type"], type_, "spec.{field}");
    }
    let subnet = &spec["properties"]["subnets"]["items"];
    assert_eq!(subnet["properties"]["cidr"]["type"], "string");
    assert_eq!(subnet["properties"]["gateway"]["type"], "string");
    assert_eq!(required(subnet), vec!["cidr".to_string()]);
    let mut req = required(&spec);
    req.sort();
    assert_eq!(req, vec!["instance".to_string(), "subnets".to_string()]);
    let columns: Vec<_> = crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(columns, vec!["Network view", "Subnets"]);
}
