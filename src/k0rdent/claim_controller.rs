//! ClusterIPAMClaim: keeps its ClusterIPAM (same name, owned by the claim) and reports what it
//! says: `status.bound` and a `Ready` condition with its reason, so a claim that cannot be
//! served says why instead of being ignored.

use std::sync::Arc;

use ipam_kube_support::conditions::{self, Decision, READY};
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use ipam_kube_support::{scope, status};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{ClusterIPAM, ClusterIPAMClaim, ClusterIPAMPhase};

pub const MANAGER: &str = "ipam-operator-clusteripamclaim";

pub struct Context {
    pub client: Client,
}

pub async fn reconcile(
    claim: Arc<ClusterIPAMClaim>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let fail = Reconciling::new(claim.as_ref());
    let kcm = |deleting, bound| {
        ipam_kube_support::metrics::get()
            .kcm
            .claim(&ns, &name, deleting, bound);
    };
    let bound_now = claim.status.as_ref().is_some_and(|s| s.bound);
    if claim.meta().deletion_timestamp.is_some() {
        kcm(true, bound_now);
        return Ok(Action::await_change());
    }
    let ipams = Api::<ClusterIPAM>::namespaced(ctx.client.clone(), &ns);
    let owner = claim
        .controller_owner_ref(&())
        .expect("a stored claim has a uid");
    let body = json!({
        "apiVersion": ClusterIPAM::api_version(&()),
        "kind": "ClusterIPAM",
        "metadata": {"name": name, "ownerReferences": [owner]},
        "spec": {"provider": claim.spec.provider, "clusterIPAMClaimRef": name},
    });
    let ipam = ipams
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(fail.at("apply the ClusterIPAM"))?;

    // As kcm does: the claim names its ClusterIPAM. Only ever set, never changed (CEL).
    if claim
        .spec
        .cluster_ipam_ref
        .as_deref()
        .is_none_or(str::is_empty)
    {
        let patch = json!({"spec": {"clusterIPAMRef": name}});
        Api::<ClusterIPAMClaim>::namespaced(ctx.client.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(fail.at("name the ClusterIPAM in the claim"))?;
    }

    let status = ipam.status.unwrap_or_default();
    let bound = status.phase == Some(ClusterIPAMPhase::Bound);
    let decision = match conditions::find(&status.conditions, READY) {
        Some(ready) => Decision::new(
            READY,
            bound,
            reason_of(&ready.reason),
            ready.message.clone(),
        ),
        None => Decision::new(
            READY,
            false,
            "Pending",
            format!("waiting for ClusterIPAM {ns}/{name} to report"),
        ),
    };
    let current = claim.status.clone().unwrap_or_default();
    let generation = claim.metadata.generation;
    if current.bound != bound || !conditions::matches(&current.conditions, &decision, generation) {
        let mut conditions = current.conditions.clone();
        conditions::set(&mut conditions, &decision, generation);
        let api = Api::<ClusterIPAMClaim>::namespaced(ctx.client.clone(), &ns);
        status::apply(
            &api,
            MANAGER,
            &name,
            json!({"bound": bound, "conditions": conditions}),
        )
        .await
        .map_err(fail.at("write status"))?;
    }
    kcm(false, bound);
    Ok(Action::await_change())
}

/// Condition reasons are `&'static str` in a [`Decision`]; the ClusterIPAM's come from a
/// closed set, mapped here so an unexpected one still reads sensibly.
fn reason_of(reason: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "Bound",
        "PoolReady",
        "PoolNotReady",
        "PoolRefused",
        "InsufficientAddresses",
        "InvalidClaim",
        "UnknownProvider",
        "ClaimNotFound",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == reason)
        .unwrap_or("Pending")
}

/// The ClusterIPAMClaim controller, to be driven by [`super::run`].
pub fn controller(ctx: &Context, namespace: Option<&str>) -> Controller<ClusterIPAMClaim> {
    let (claims, ipams) = (
        scope::api(&ctx.client, namespace),
        scope::api(&ctx.client, namespace),
    );
    ipam_kube_support::readiness::controller::<ClusterIPAMClaim>(
        "k0rdent",
        claims,
        watcher::Config::default().any_semantic(),
    )
    .owns::<ClusterIPAM>(ipams, watcher::Config::default())
}
