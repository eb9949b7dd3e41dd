//! The in-cluster backend behind k0rdent's ClusterIPAM: one InClusterIPPool per requested
//! network, in the claim's namespace, owned by the claim.

use ipam_provider::{
    Backend, ClaimRef, NetworkRequest, PoolRef, PoolState, ProviderError, Retired,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::addresses::address_in_pool;
use crate::api::capi::IPAddress;
use crate::api::{GROUP, InClusterIPPool};
use crate::pool_object::PoolObject;

/// Field manager of the pool specs written for claims. Fields other managers set (say a
/// user's `excludedAddresses` keeping the control-plane VIP out) are left alone.
const MANAGER: &str = "ipam-operator-k0rdent";

/// The in-cluster backend, as claims name it (`provider: in-cluster`).
pub fn provider() -> Backend {
    Backend {
        name: "in-cluster",
        pool_resource: || kube::core::ApiResource::erase::<InClusterIPPool>(&()),
        ensure_pool: |client, claim, network| Box::pin(ensure(client, claim, network)),
        retire_pool: |client, claim, pool| Box::pin(retire(client, claim, pool)),
    }
}

fn pool_spec(network: &NetworkRequest) -> Result<serde_json::Value, ProviderError> {
    let cidr = network.cidr.as_deref().filter(|c| !c.is_empty());
    let addresses = match cidr {
        Some(cidr) => vec![cidr.to_string()],
        None => network.ip_addresses.clone(),
    };
    // k0rdent writes prefix 0 when it is omitted, which would give every machine a /0
    // netmask: take it from the CIDR, and ask for it otherwise.
    let prefix = match (network.prefix, cidr) {
        (Some(prefix), _) => prefix,
        (None, Some(cidr)) => ipam_engine::Cidr::parse_lenient(cidr)
            .map(|c| i32::from(c.prefix_len()))
            .map_err(|e| ProviderError::Invalid(format!("{}: cidr {cidr:?}: {e}", network.key)))?,
        (None, None) => {
            return Err(ProviderError::Invalid(format!(
                "{}: prefix is required with ipAddresses: it is the netmask machines are configured with",
                network.key
            )));
        }
    };
    let mut spec = json!({"addresses": addresses, "prefix": prefix});
    if let Some(gateway) = network.gateway.as_deref().filter(|g| !g.is_empty()) {
        spec["gateway"] = json!(gateway);
    }
    Ok(spec)
}

async fn ensure(
    client: &Client,
    claim: &ClaimRef,
    network: &NetworkRequest,
) -> Result<PoolState, ProviderError> {
    let pools = Api::<InClusterIPPool>::namespaced(client.clone(), &claim.namespace);
    let body = json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2",
        "kind": "InClusterIPPool",
        "metadata": {"name": network.pool_name, "ownerReferences": [claim.owner]},
        "spec": pool_spec(network)?,
    });
    let params = PatchParams::apply(MANAGER).force();
    let pool = match pools
        .patch(&network.pool_name, &params, &Patch::Apply(&body))
        .await
    {
        Ok(pool) => pool,
        // Refused at admission (bad addresses, an overlap...): the webhook's message says why.
        Err(kube::Error::Api(e)) if e.code == 400 || e.code == 422 || e.code == 403 => {
            return Err(ProviderError::Invalid(format!(
                "InClusterIPPool {}/{} was refused: {}",
                claim.namespace, network.pool_name, e.message
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(state(&pool, network))
}

/// Usable means: the pool controller has seen this spec, found it valid, and counted at least
/// as many addresses as the deployment needs.
fn state(pool: &InClusterIPPool, network: &NetworkRequest) -> PoolState {
    let reference = PoolRef {
        api_group: GROUP.into(),
        kind: InClusterIPPool::KIND.into(),
        name: pool.name_any(),
    };
    let name = format!(
        "InClusterIPPool {}/{}",
        pool.namespace().unwrap_or_default(),
        pool.name_any()
    );
    let status = pool.status.as_ref();
    let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    let observed = ready.is_some_and(|c| c.observed_generation == pool.metadata.generation);
    let (usable, reason, message) = match (ready, status.and_then(|s| s.ip_addresses)) {
        (Some(ready), Some(counts)) if observed && ready.status == "True" => {
            let total = u64::try_from(counts.total).unwrap_or(0);
            if total >= network.addresses_needed {
                (
                    true,
                    "PoolReady",
                    format!(
                        "{name} can hand out {total} addresses; {} needed",
                        network.addresses_needed
                    ),
                )
            } else {
                (
                    false,
                    "InsufficientAddresses",
                    format!(
                        "{name} can hand out only {} but the deployment needs {} (control plane + workers): widen {}",
                        addresses(total),
                        network.addresses_needed,
                        network.key
                    ),
                )
            }
        }
        (Some(ready), _) if observed => (
            false,
            "PoolNotReady",
            format!("{name} is not ready: {}", ready.message),
        ),
        _ => (false, "PoolNotReady", format!("{name} is not counted yet")),
    };
    PoolState {
        pool: reference,
        usable,
        reason,
        message,
    }
}

fn addresses(count: u64) -> String {
    if count == 1 {
        "1 address".into()
    } else {
        format!("{count} addresses")
    }
}

async fn retire(
    client: &Client,
    claim: &ClaimRef,
    pool_name: &str,
) -> Result<Retired, ProviderError> {
    let pools = Api::<InClusterIPPool>::namespaced(client.clone(), &claim.namespace);
    let Some(pool) = pools.get_opt(pool_name).await? else {
        return Ok(Retired::Gone);
    };
    let key = pool.key();
    let in_use: Vec<String> = Api::<IPAddress>::namespaced(client.clone(), &claim.namespace)
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|a| address_in_pool(a, &key))
        .map(|a| format!("{} ({})", a.name_any(), a.spec.address))
        .collect();
    if !in_use.is_empty() {
        return Ok(Retired::InUse(format!(
            "{key} still has {} addresses in use: {}",
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
