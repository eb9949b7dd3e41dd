//! The Infoblox backend behind k0rdent's ClusterIPAM: one InfobloxIPPool per requested
//! network, complete (instance, subnet, gateway, views) and owned by the claim.
//!
//! Which InfobloxInstance: the claim's `ipam-operator.io/infoblox-instance` annotation, else
//! the only InfobloxInstance in the cluster. Views: the claim's
//! `ipam-operator.io/infoblox-network-view` and `ipam-operator.io/infoblox-dns-zone`
//! annotations, else the instance's defaults.

use ipam_engine::{Cidr, InClusterSpec, Pool};
use ipam_provider::{
    Backend, ClaimRef, NetworkRequest, PoolRef, PoolState, ProviderError, Retired,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::api::{InfobloxIPPool, InfobloxInstance};

use crate::location::{INSTANCE_ANNOTATION, NETWORK_VIEW_ANNOTATION};
pub const DNS_ZONE_ANNOTATION: &str = "ipam-operator.io/infoblox-dns-zone";

const MANAGER: &str = "ipam-operator-k0rdent";
const GROUP: &str = "ipam.cluster.x-k8s.io";

/// The Infoblox backend, as claims name it (`provider: ipam-infoblox`).
pub fn provider() -> Backend {
    Backend {
        name: "ipam-infoblox",
        pool_resource: || kube::core::ApiResource::erase::<InfobloxIPPool>(&()),
        ensure_pool: |client, claim, network| Box::pin(ensure(client, claim, network)),
        retire_pool: |client, claim, pool| Box::pin(retire(client, claim, pool)),
    }
}

async fn instance(client: &Client, claim: &ClaimRef) -> Result<String, ProviderError> {
    if let Some(name) = claim
        .annotations
        .get(INSTANCE_ANNOTATION)
        .filter(|n| !n.is_empty())
    {
        return Ok(name.clone());
    }
    let instances = Api::<InfobloxInstance>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    match instances.items.as_slice() {
        [only] => Ok(only.name_any()),
        [] => Err(ProviderError::Invalid(
            "no InfobloxInstance exists: create one, or name one with the annotation ipam-operator.io/infoblox-instance".into(),
        )),
        many => Err(ProviderError::Invalid(format!(
            "{} InfobloxInstances exist ({}): name the one to use with the annotation {INSTANCE_ANNOTATION}",
            many.len(),
            many.iter().map(|i| i.name_any()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

async fn ensure(
    client: &Client,
    claim: &ClaimRef,
    network: &NetworkRequest,
) -> Result<PoolState, ProviderError> {
    // Infoblox hands out addresses from whole networks, so the network must be a CIDR.
    let cidr = match (network.cidr.as_deref(), network.ip_addresses.as_slice()) {
        (Some(cidr), _) => cidr.to_string(),
        (None, [only]) if only.contains('/') => only.clone(),
        _ => {
            return Err(ProviderError::Invalid(format!(
                "{}: ipam-infoblox serves whole Infoblox networks: give cidr (or a single CIDR in ipAddresses)",
                network.key
            )));
        }
    };
    let Some(gateway) = network.gateway.clone() else {
        return Err(ProviderError::Invalid(format!(
            "{}: gateway is required with ipam-infoblox: it is written to every address handed out",
            network.key
        )));
    };
    let instance = instance(client, claim).await?;
    let mut spec =
        json!({"instance": {"name": instance}, "subnets": [{"cidr": cidr, "gateway": gateway}]});
    if let Some(view) = claim
        .annotations
        .get(NETWORK_VIEW_ANNOTATION)
        .filter(|v| !v.is_empty())
    {
        spec["networkView"] = json!(view);
    }
    if let Some(zone) = claim
        .annotations
        .get(DNS_ZONE_ANNOTATION)
        .filter(|z| !z.is_empty())
    {
        spec["dnsZone"] = json!(zone);
    }
    let body = json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1",
        "kind": "InfobloxIPPool",
        "metadata": {"name": network.pool_name, "ownerReferences": [claim.owner]},
        "spec": spec,
    });
    let pools = Api::<InfobloxIPPool>::namespaced(client.clone(), &claim.namespace);
    let pool = match pools
        .patch(
            &network.pool_name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(pool) => pool,
        Err(kube::Error::Api(e)) if e.code == 400 || e.code == 422 => {
            return Err(ProviderError::Invalid(format!(
                "InfobloxIPPool {}/{} was refused: {}",
                claim.namespace, network.pool_name, e.message
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(state(&pool, &cidr, &gateway, network))
}

fn state(pool: &InfobloxIPPool, cidr: &str, gateway: &str, network: &NetworkRequest) -> PoolState {
    let name = format!(
        "InfobloxIPPool {}/{}",
        pool.namespace().unwrap_or_default(),
        pool.name_any()
    );
    let reference = PoolRef {
        api_group: GROUP.into(),
        kind: "InfobloxIPPool".into(),
        name: pool.name_any(),
    };
    let ready = pool
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let observed = ready.is_some_and(|c| c.observed_generation == pool.metadata.generation);
    let (usable, reason, message) = match ready {
        Some(ready) if observed && ready.status == "True" => {
            let capacity = capacity(cidr, gateway);
            if capacity >= u128::from(network.addresses_needed) {
                (
                    true,
                    "PoolReady",
                    format!(
                        "{name} is ready; its network {cidr} has room for {} addresses",
                        network.addresses_needed
                    ),
                )
            } else {
                (
                    false,
                    "InsufficientAddresses",
                    format!(
                        "{name}: network {cidr} holds at most {capacity} addresses but the deployment needs {} (control plane + workers)",
                        network.addresses_needed
                    ),
                )
            }
        }
        Some(ready) if observed => (
            false,
            "PoolNotReady",
            format!("{name} is not ready: {}", ready.message),
        ),
        _ => (
            false,
            "PoolNotReady",
            format!("{name} has not been checked against Infoblox yet"),
        ),
    };
    PoolState {
        pool: reference,
        usable,
        reason,
        message,
    }
}

/// Addresses a network can hold, less its network, broadcast and gateway addresses: an upper
/// bound, since Infoblox may hold others already.
fn capacity(cidr: &str, gateway: &str) -> u128 {
    let Ok(parsed) = Cidr::parse_lenient(cidr) else {
        return 0;
    };
    let spec = InClusterSpec {
        addresses: vec![cidr.to_string()],
        prefix: i64::from(parsed.prefix_len()),
        gateway: Some(gateway.to_string()),
        ..Default::default()
    };
    Pool::in_cluster(&spec).map(|p| p.total()).unwrap_or(0)
}

async fn retire(
    client: &Client,
    claim: &ClaimRef,
    pool_name: &str,
) -> Result<Retired, ProviderError> {
    let pools = Api::<InfobloxIPPool>::namespaced(client.clone(), &claim.namespace);
    if pools.get_opt(pool_name).await?.is_none() {
        return Ok(Retired::Gone);
    }
    let addresses =
        Api::<ipam_kube_support::capi::IPAddress>::namespaced(client.clone(), &claim.namespace);
    let in_use: Vec<String> = addresses
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|a| {
            a.spec.pool_ref.kind == "InfobloxIPPool"
                && a.spec.pool_ref.api_group == GROUP
                && a.spec.pool_ref.name == pool_name
        })
        .map(|a| format!("{} ({})", a.name_any(), a.spec.address))
        .collect();
    if !in_use.is_empty() {
        return Ok(Retired::InUse(format!(
            "InfobloxIPPool {}/{pool_name} still has {} addresses in use: {}",
            claim.namespace,
            in_use.len(),
            in_use.join(", ")
        )));
    }
    match pools.delete(pool_name, &DeleteParams::default()).await {
        Ok(_) => Ok(Retired::Gone),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Retired::Gone),
        Err(e) => Err(e.into()),
    }
}
