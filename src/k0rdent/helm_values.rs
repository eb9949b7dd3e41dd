//! The Helm values a deployment's chart gets: the user's `spec.config`, untouched, plus the
//! IPAM values k0rdent templates read (`ipamEnabled`, and each provider-data entry whole
//! under its name). Recomputed on every reconcile, so a new pool or a provider switch reaches
//! the HelmRelease.

use serde_json::{Map, Value, json};

use crate::api::ClusterIPAMProviderData;

/// The IPAM part of the values.
pub fn ipam_values(provider_data: &[ClusterIPAMProviderData]) -> Map<String, Value> {
    let mut values = Map::new();
    values.insert("ipamEnabled".into(), json!(true));
    for entry in provider_data {
        values.insert(
            entry.name.clone(),
            serde_json::to_value(entry).expect("provider data serializes"),
        );
    }
    values
}

/// `config` with the IPAM values laid over it. A user value under an IPAM key is replaced:
/// the pool that was actually bound wins over a stale or hand-written one.
pub fn with_ipam(config: Option<&Value>, ipam: Map<String, Value>) -> Value {
    let mut values = match config {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    values.extend(ipam);
    Value::Object(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_kept_and_ipam_values_are_added_in_the_shape_templates_read() {
        let config =
            json!({"controlPlaneNumber": 1, "ipamEnabled": false, "vsphere": {"datacenter": "dc"}});
        let data = vec![ClusterIPAMProviderData {
            name: "ipPool".into(),
            config: Some(
                json!({"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "c-ipam"}),
            ),
            ready: true,
        }];
        let values = with_ipam(Some(&config), ipam_values(&data));
        assert_eq!(
            values,
            json!({
                "controlPlaneNumber": 1,
                "vsphere": {"datacenter": "dc"},
                "ipamEnabled": true,
                "ipPool": {"name": "ipPool", "ready": true,
                           "config": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "c-ipam"}}
            })
        );
        assert_eq!(
            config["ipamEnabled"],
            json!(false),
            "the user's config itself is not rewritten"
        );
    }

    #[test]
    fn no_config_still_gets_the_ipam_values() {
        assert_eq!(
            with_ipam(None, ipam_values(&[])),
            json!({"ipamEnabled": true})
        );
    }
}
