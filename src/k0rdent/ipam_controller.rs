//! ClusterIPAM: asks the claim's provider for one pool per requested network, and records
//! whether they are usable (`phase: Bound`) and how templates find them (`providerData`).
//!
//! Event-driven: a change of the claim, of its deployment (node count) or of any provider's
//! pools brings the ClusterIPAM back, so it binds as soon as its pools are ready.

use std::sync::Arc;
use std::time::Duration;

use ipam_kube_support::conditions::{self, Decision, READY};
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use ipam_kube_support::{scope, status};
use ipam_provider::{ClaimRef, NetworkRequest, ProviderError, Retired};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::networks::{self, CLUSTER_NETWORK_KEY, EXTERNAL_NETWORK_KEY, NODE_NETWORK_KEY};
use super::pool_cache::PoolCache;
use super::registry::Providers;
use crate::api::{
    ClusterDeployment, ClusterIPAM, ClusterIPAMClaim, ClusterIPAMPhase, ClusterIPAMProviderData,
};

pub const MANAGER: &str = "ipam-operator-clusteripam";
/// Condition saying whether pools of an earlier provider are gone.
pub const PREVIOUS_POOLS_RELEASED: &str = "PreviousPoolsReleased";

pub struct Context {
    pub client: Client,
    pub providers: Providers,
    /// Every provider's pools, kept by this controller's watches of them.
    pub pools: PoolCache,
}

/// The deployment a claim serves: `spec.cluster`, else the deployment owning an inline claim.
pub fn deployment_name(claim: &ClusterIPAMClaim) -> Option<String> {
    claim
        .spec
        .cluster
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            claim
                .owner_references()
                .iter()
                .find(|o| o.kind == "ClusterDeployment")
                .map(|o| o.name.clone())
        })
}

pub async fn reconcile(
    ipam: Arc<ClusterIPAM>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = ipam.namespace().unwrap_or_default();
    let name = ipam.name_any();
    let fail = Reconciling::new(ipam.as_ref());
    let claim_name = ipam
        .spec
        .cluster_ipam_claim_ref
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or(name.clone());
    let Some(claim) = Api::<ClusterIPAMClaim>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&claim_name)
        .await
        .map_err(fail.at("read the claim"))?
    else {
        let d = Decision::new(
            READY,
            false,
            "ClaimNotFound",
            format!("ClusterIPAMClaim {ns}/{claim_name} does not exist"),
        );
        write(&ctx, &ipam, ClusterIPAMPhase::Pending, vec![], &[d])
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::await_change());
    };
    let provider_name = claim.spec.provider.as_str();
    let Some(provider) = ctx.providers.get(provider_name) else {
        let d = Decision::new(
            READY,
            false,
            "UnknownProvider",
            format!("no backend named {provider_name:?} is enabled in this operator"),
        );
        write(&ctx, &ipam, ClusterIPAMPhase::Pending, vec![], &[d])
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::await_change());
    };

    let nodes = match deployment_name(&claim) {
        Some(cd) => Api::<ClusterDeployment>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&cd)
            .await
            .map_err(fail.at("read the ClusterDeployment"))?
            .map(|cd| networks::nodes_needed(cd.spec.config.as_ref()))
            .unwrap_or(1),
        None => 1,
    };
    let requested = match networks::requested(&claim_name, &claim.spec, nodes) {
        Ok(requested) => requested,
        Err(errors) => {
            let d = Decision::new(
                READY,
                false,
                "InvalidClaim",
                format!(
                    "ClusterIPAMClaim {ns}/{claim_name} is invalid: {}",
                    errors.join("; ")
                ),
            );
            write(&ctx, &ipam, ClusterIPAMPhase::Pending, vec![], &[d])
                .await
                .map_err(fail.at("write status"))?;
            return Ok(Action::await_change());
        }
    };
    let owner = claim_owner(&claim);
    let claim_ref = ClaimRef {
        namespace: ns.clone(),
        name: claim_name.clone(),
        owner,
        annotations: claim.annotations().clone(),
    };

    let mut provider_data = Vec::new();
    let mut not_usable = Vec::new();
    for network in &requested {
        match provider.ensure_pool(&ctx.client, &claim_ref, network).await {
            Ok(state) => {
                provider_data.push(ClusterIPAMProviderData {
                    name: network.key.to_string(),
                    config: Some(
                        serde_json::to_value(&state.pool).expect("pool reference serializes"),
                    ),
                    ready: state.usable,
                });
                if !state.usable {
                    not_usable.push((state.reason, state.message));
                }
            }
            Err(ProviderError::Invalid(message)) => not_usable.push(("PoolRefused", message)),
            Err(ProviderError::Kube(e)) => return Err(fail.at("ensure a pool")(e)),
        }
    }

    // Pools no longer wanted: every other provider's, and this provider's for networks the
    // claim stopped requesting. Each goes once nothing uses it.
    let mut lingering = Vec::new();
    for other in ctx.providers.all() {
        for (key, pool_name) in pool_names(&claim_name) {
            let wanted = other.name() == provider_name
                && requested.iter().any(|n: &NetworkRequest| n.key == key);
            // A pool never created (the usual case) needs no request to be gone.
            if wanted || !ctx.pools.holds(other.name(), &ns, &pool_name) {
                continue;
            }
            match other.retire_pool(&ctx.client, &claim_ref, &pool_name).await {
                Ok(Retired::Gone) => {}
                Ok(Retired::InUse(message)) => lingering.push(message),
                Err(ProviderError::Invalid(message)) => lingering.push(message),
                Err(ProviderError::Kube(e)) => return Err(fail.at("retire a pool")(e)),
            }
        }
    }

    let bound = not_usable.is_empty();
    let ready = if bound {
        let pools: Vec<_> = provider_data.iter().map(|d| d.name.as_str()).collect();
        Decision::new(
            READY,
            true,
            "Bound",
            format!(
                "every requested network has a usable {provider_name} pool: {}",
                pools.join(", ")
            ),
        )
    } else {
        let reason = not_usable[0].0;
        let messages: Vec<_> = not_usable.into_iter().map(|(_, m)| m).collect();
        Decision::new(READY, false, reason, messages.join("; "))
    };
    let released = if lingering.is_empty() {
        Decision::new(
            PREVIOUS_POOLS_RELEASED,
            true,
            "NothingLingers",
            "no pool of an earlier provider or network remains",
        )
    } else {
        Decision::new(
            PREVIOUS_POOLS_RELEASED,
            false,
            "PoolInUse",
            format!(
                "kept until their addresses are released: {}",
                lingering.join("; ")
            ),
        )
    };
    let phase = if bound {
        ClusterIPAMPhase::Bound
    } else {
        ClusterIPAMPhase::Pending
    };
    write(&ctx, &ipam, phase, provider_data, &[ready, released])
        .await
        .map_err(fail.at("write status"))?;
    ipam_kube_support::metrics::get().domain.cluster_ipam_bound(
        &ipam.namespace().unwrap_or_default(),
        &ipam.name_any(),
        ipam.metadata.uid.as_deref(),
        bound,
    );
    // A lingering pool is released by its addresses going, which no watch here announces
    // for every backend: look again in a while.
    Ok(if lingering.is_empty() {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(30))
    })
}

fn pool_names(claim: &str) -> [(&'static str, String); 3] {
    [
        (NODE_NETWORK_KEY, claim.to_string()),
        (CLUSTER_NETWORK_KEY, format!("{claim}-cluster-network")),
        (EXTERNAL_NETWORK_KEY, format!("{claim}-external-network")),
    ]
}

/// Pools are owned by the claim (as in k0rdent), without controller: the garbage collector
/// removes them with the claim, and their own finalizers hold them while addresses are used.
fn claim_owner(claim: &ClusterIPAMClaim) -> OwnerReference {
    OwnerReference {
        api_version: ClusterIPAMClaim::api_version(&()).into(),
        kind: ClusterIPAMClaim::kind(&()).into(),
        name: claim.name_any(),
        uid: claim.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: Some(true),
    }
}

async fn write(
    ctx: &Context,
    ipam: &ClusterIPAM,
    phase: ClusterIPAMPhase,
    provider_data: Vec<ClusterIPAMProviderData>,
    decisions: &[Decision],
) -> Result<(), kube::Error> {
    let current = ipam.status.clone().unwrap_or_default();
    let generation = ipam.metadata.generation;
    let unchanged = current.phase == Some(phase)
        && current.provider_data == provider_data
        && decisions
            .iter()
            .all(|d| conditions::matches(&current.conditions, d, generation));
    if unchanged {
        return Ok(());
    }
    let mut conditions = current.conditions.clone();
    for decision in decisions {
        conditions::set(&mut conditions, decision, generation);
    }
    let api =
        Api::<ClusterIPAM>::namespaced(ctx.client.clone(), &ipam.namespace().unwrap_or_default());
    let body = json!({"phase": phase, "providerData": provider_data, "conditions": conditions});
    status::apply(&api, MANAGER, &ipam.name_any(), body)
        .await
        .map(|_| ())
}

/// The ClusterIPAM controller, to be driven by [`super::run`].
pub fn controller(ctx: &Context, namespace: Option<&str>) -> Controller<ClusterIPAM> {
    let client = ctx.client.clone();
    let ipams: Api<ClusterIPAM> = scope::api(&client, namespace);
    let deployments: Api<ClusterDeployment> = scope::api(&client, namespace);
    let mut controller = ipam_kube_support::readiness::controller(
        "k0rdent",
        ipams,
        watcher::Config::default().any_semantic(),
    )
    .watches(
        scope::api::<ClusterIPAMClaim>(&client, namespace),
        watcher::Config::default(),
        |claim: ClusterIPAMClaim| {
            Some(ObjectRef::new(&claim.name_any()).within(&claim.namespace().unwrap_or_default()))
        },
    )
    .watches(
        deployments,
        watcher::Config::default(),
        |cd: ClusterDeployment| {
            // The claim a deployment uses is named `<cd>-ipam` inline, or by `ipamClaim.ref`.
            let claim = cd.spec.ipam_claim.as_ref().and_then(|c| {
                c.reference
                    .clone()
                    .filter(|r| !r.is_empty())
                    .or_else(|| c.spec.as_ref().map(|_| format!("{}-ipam", cd.name_any())))
            });
            claim.map(|c| ObjectRef::new(&c).within(&cd.namespace().unwrap_or_default()))
        },
    );
    for provider in ctx.providers.all() {
        let resource = provider.pool_resource();
        let pools = match namespace {
            Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            None => Api::<DynamicObject>::all_with(client.clone(), &resource),
        };
        let changes = ctx.pools.watch(provider.name(), pools, &resource);
        controller = controller.watches_stream_with(
            changes,
            |pool: DynamicObject| {
                let ns = pool.namespace().unwrap_or_default();
                pool.owner_references()
                    .iter()
                    .filter(|o| o.kind == "ClusterIPAMClaim")
                    .map(|o| ObjectRef::new(&o.name).within(&ns))
                    .collect::<Vec<_>>()
            },
            resource,
        );
    }
    controller
}
