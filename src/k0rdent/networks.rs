//! What a ClusterIPAMClaim asks for, worked out without I/O: the networks it requests, whether
//! they are valid, and how many addresses the deployment needs from each.

use ipam_provider::NetworkRequest;

use crate::api::{AddressSpaceSpec, ClusterIPAMClaimSpec};

/// Provider-data and Helm-values keys. The node network's key and pool name are k0rdent's
/// (`ipPool`, the claim's name), which vSphere templates read; the others are this operator's.
pub const NODE_NETWORK_KEY: &str = "ipPool";
pub const CLUSTER_NETWORK_KEY: &str = "clusterNetworkIPPool";
pub const EXTERNAL_NETWORK_KEY: &str = "externalNetworkIPPool";

/// The networks a claim requests, in a stable order, or every reason it cannot be served.
pub fn requested(
    claim_name: &str,
    spec: &ClusterIPAMClaimSpec,
    nodes: u64,
) -> Result<Vec<NetworkRequest>, Vec<String>> {
    let mut errors = Vec::new();
    let mut networks = Vec::new();
    let candidates = [
        (
            "spec.nodeNetwork",
            NODE_NETWORK_KEY,
            claim_name.to_string(),
            &spec.node_network,
            nodes,
        ),
        (
            "spec.clusterNetwork",
            CLUSTER_NETWORK_KEY,
            format!("{claim_name}-cluster-network"),
            &spec.cluster_network,
            1,
        ),
        (
            "spec.externalNetwork",
            EXTERNAL_NETWORK_KEY,
            format!("{claim_name}-external-network"),
            &spec.external_network,
            1,
        ),
    ];
    for (field, key, pool_name, space, needed) in candidates {
        let Some(space) = space.as_ref().filter(|s| s.is_requested()) else {
            continue;
        };
        errors.extend(check(field, space));
        networks.push(NetworkRequest {
            key,
            pool_name,
            cidr: space.cidr.clone().filter(|c| !c.is_empty()),
            ip_addresses: space.ip_addresses.clone().unwrap_or_default(),
            gateway: space.gateway.clone().filter(|g| !g.is_empty()),
            prefix: space.prefix,
            addresses_needed: needed,
        });
    }
    if !networks.iter().any(|n| n.key == NODE_NETWORK_KEY) {
        errors.insert(
            0,
            "spec.nodeNetwork: is required: set cidr or ipAddresses for the cluster's nodes".into(),
        );
    }
    if errors.is_empty() {
        Ok(networks)
    } else {
        Err(errors)
    }
}

/// The pool syntax is the in-cluster pool's (IP, `a-b` range, CIDR) for every provider, so a
/// claim is refused here, with the field named, rather than by a pool webhook later.
fn check(field: &str, space: &AddressSpaceSpec) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(cidr) = space.cidr.as_deref().filter(|c| !c.is_empty())
        && let Err(e) = ipam_engine::Cidr::parse_lenient(cidr)
    {
        errors.push(format!("{field}.cidr: {cidr:?} is not a CIDR: {e}"));
    }
    for (i, entry) in space.ip_addresses.iter().flatten().enumerate() {
        if let Err(e) = ipam_engine::AddressEntry::parse(entry) {
            errors.push(format!(
                "{field}.ipAddresses[{i}]: {entry:?} is not an IP, a range or a CIDR: {e}"
            ));
        }
    }
    if let Some(gateway) = space.gateway.as_deref().filter(|g| !g.is_empty())
        && let Err(e) = ipam_engine::parse_address(gateway)
    {
        errors.push(format!(
            "{field}.gateway: {gateway:?} is not an IP address: {e}"
        ));
    }
    if space.cidr.as_deref().is_none_or(str::is_empty) && space.prefix.is_none() {
        errors.push(format!("{field}.prefix: is required with ipAddresses: it is the netmask machines are configured with"));
    }
    errors
}

/// Machines of a deployment, from the values k0rdent's cluster templates take: one address
/// each for the control plane and the workers. At least one, so a claim with no deployment
/// (yet) still needs a usable pool.
pub fn nodes_needed(config: Option<&serde_json::Value>) -> u64 {
    let count = |key: &str| {
        config
            .and_then(|c| c.get(key))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    (count("controlPlaneNumber") + count("workersNumber")).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::IpamProviderName;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> ClusterIPAMClaimSpec {
        let mut value = value;
        value["provider"] = json!("in-cluster");
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_node_network_is_ip_pool_named_like_the_claim_and_needs_every_node() {
        let networks = requested(
            "c-ipam",
            &spec(json!({
                "nodeNetwork": {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"},
                "clusterNetwork": {"ipAddresses": ["10.1.0.1-10.1.0.9"], "prefix": 16},
                "externalNetwork": {}
            })),
            5,
        )
        .unwrap();
        let summary: Vec<_> = networks
            .iter()
            .map(|n| (n.key, n.pool_name.as_str(), n.addresses_needed))
            .collect();
        assert_eq!(
            summary,
            [
                ("ipPool", "c-ipam", 5),
                ("clusterNetworkIPPool", "c-ipam-cluster-network", 1)
            ]
        );
        assert_eq!(networks[0].cidr.as_deref(), Some("10.0.0.0/24"));
        assert_eq!(networks[1].ip_addresses, ["10.1.0.1-10.1.0.9"]);
        assert_eq!(spec(json!({})).provider, IpamProviderName::InCluster);
    }

    #[test]
    fn every_problem_is_named_with_its_field() {
        let errors = requested("c", &spec(json!({
            "clusterNetwork": {"ipAddresses": ["10.0.0.1", "nope", "10.0.0.9-10.0.0.2"], "gateway": "gw"}
        })), 1)
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("spec.nodeNetwork: is required"));
        assert!(errors[1].starts_with("spec.clusterNetwork.ipAddresses[1]: \"nope\""));
        assert!(errors[2].starts_with("spec.clusterNetwork.ipAddresses[2]: \"10.0.0.9-10.0.0.2\""));
        assert!(errors[3].starts_with("spec.clusterNetwork.gateway: \"gw\""));
        assert!(errors[4].starts_with("spec.clusterNetwork.prefix: is required"));
    }

    #[test]
    fn nodes_come_from_the_template_values() {
        assert_eq!(
            nodes_needed(Some(&json!({"controlPlaneNumber": 3, "workersNumber": 2}))),
            5
        );
        assert_eq!(nodes_needed(Some(&json!({"workersNumber": 4}))), 4);
        assert_eq!(nodes_needed(None), 1);
        assert_eq!(
            nodes_needed(Some(&json!({"controlPlaneNumber": "three"}))),
            1
        );
    }
}
