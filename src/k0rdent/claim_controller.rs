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

use crate::api::{ClusterIPAM, ClusterIPAMClaim, ClusterIPAMPhase, ClusterIPAMStatus};

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
    if claim.meta().deletion_timestamp.is_some() {
        kcm(true, claim.status.as_ref().is_some_and(|s| s.bound));
        return Ok(Action::await_change());
    }
    let ipam = apply_ipam(&ctx.client, &claim)
        .await
        .map_err(fail.at("apply the ClusterIPAM"))?;
    name_ipam(&ctx.client, &claim)
        .await
        .map_err(fail.at("name the ClusterIPAM in the claim"))?;
    let shown = decide(&ns, &name, &ipam.status.unwrap_or_default());
    write_status(&ctx.client, &claim, &shown)
        .await
        .map_err(fail.at("write status"))?;
    kcm(false, shown.bound);
    Ok(Action::await_change())
}

/// Applies the claim's ClusterIPAM (same name, owned by the claim); returns it as stored.
async fn apply_ipam(client: &Client, claim: &ClusterIPAMClaim) -> kube::Result<ClusterIPAM> {
    let name = claim.name_any();
    let ipams =
        Api::<ClusterIPAM>::namespaced(client.clone(), &claim.namespace().unwrap_or_default());
    let owner = claim
        .controller_owner_ref(&())
        .expect("a stored claim has a uid");
    let body = json!({
        "apiVersion": ClusterIPAM::api_version(&()),
        "kind": "ClusterIPAM",
        "metadata": {"name": name, "ownerReferences": [owner]},
        "spec": {"provider": claim.spec.provider, "clusterIPAMClaimRef": name},
    });
    let params = PatchParams::apply(MANAGER).force();
    ipams.patch(&name, &params, &Patch::Apply(&body)).await
}

/// As kcm does: the claim names its ClusterIPAM. Only ever set, never changed (CEL).
async fn name_ipam(client: &Client, claim: &ClusterIPAMClaim) -> kube::Result<()> {
    let named = claim.spec.cluster_ipam_ref.as_deref();
    if named.is_some_and(|n| !n.is_empty()) {
        return Ok(());
    }
    let name = claim.name_any();
    let patch = json!({"spec": {"clusterIPAMRef": name}});
    Api::<ClusterIPAMClaim>::namespaced(client.clone(), &claim.namespace().unwrap_or_default())
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// What a claim shows: whether it is bound, and why (or why not) in its `Ready` condition.
#[derive(Debug, PartialEq)]
pub struct Shown {
    pub bound: bool,
    pub ready: Decision,
}

/// The claim mirrors its ClusterIPAM `ns/name`: bound when it is, with the reason and message
/// of its `Ready` condition; `Pending` until it has one.
pub fn decide(ns: &str, name: &str, ipam: &ClusterIPAMStatus) -> Shown {
    let bound = ipam.phase == Some(ClusterIPAMPhase::Bound);
    let ready = match conditions::find(&ipam.conditions, READY) {
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
    Shown { bound, ready }
}

/// Writes `shown` unless the claim shows it already.
async fn write_status(
    client: &Client,
    claim: &ClusterIPAMClaim,
    shown: &Shown,
) -> kube::Result<()> {
    let current = claim.status.clone().unwrap_or_default();
    let generation = claim.metadata.generation;
    if current.bound == shown.bound
        && conditions::matches(&current.conditions, &shown.ready, generation)
    {
        return Ok(());
    }
    let mut conditions = current.conditions;
    conditions::set(&mut conditions, &shown.ready, generation);
    let api =
        Api::<ClusterIPAMClaim>::namespaced(client.clone(), &claim.namespace().unwrap_or_default());
    let body = json!({"bound": shown.bound, "conditions": conditions});
    status::apply(&api, MANAGER, &claim.name_any(), body).await?;
    Ok(())
}

/// The reasons a ClusterIPAM's `Ready` condition gives, all shown on its claim as they are.
const REASONS: [&str; 8] = [
    "Bound",
    "PoolReady",
    "PoolNotReady",
    "PoolRefused",
    "InsufficientAddresses",
    "InvalidClaim",
    "UnknownProvider",
    "ClaimNotFound",
];

/// Condition reasons are `&'static str` in a [`Decision`]; the ClusterIPAM's come from a
/// closed set, mapped here so an unexpected one still reads sensibly.
fn reason_of(reason: &str) -> &'static str {
    REASONS
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(phase: &str, ready: Option<(&str, &str)>) -> ClusterIPAMStatus {
        let conditions: Vec<_> = ready
            .into_iter()
            .map(|(status, reason)| {
                json!({"type": "Ready", "status": status, "reason": reason,
                       "message": format!("the ClusterIPAM says {reason}"),
                       "lastTransitionTime": "2026-01-01T00:00:00Z"})
            })
            .collect();
        serde_json::from_value(json!({"phase": phase, "conditions": conditions})).unwrap()
    }

    #[test]
    fn pending_until_the_cluster_ipam_reports() {
        let shown = decide("ns", "c", &ClusterIPAMStatus::default());
        assert!(!shown.bound);
        assert_eq!(shown.ready.reason, "Pending");
        assert!(!shown.ready.status);
        assert_eq!(
            shown.ready.message,
            "waiting for ClusterIPAM ns/c to report"
        );
    }

    #[test]
    fn a_bound_cluster_ipam_binds_the_claim_with_its_reason() {
        let shown = decide("ns", "c", &ipam("Bound", Some(("True", "Bound"))));
        assert!(shown.bound && shown.ready.status);
        assert_eq!(shown.ready.reason, "Bound");
        assert_eq!(shown.ready.message, "the ClusterIPAM says Bound");
    }

    #[test]
    fn every_reason_of_the_cluster_ipam_is_shown_as_it_is_while_not_bound() {
        for reason in REASONS.into_iter().filter(|r| *r != "Bound") {
            let shown = decide("ns", "c", &ipam("Pending", Some(("False", reason))));
            assert_eq!(
                (shown.bound, shown.ready.status),
                (false, false),
                "{reason}"
            );
            assert_eq!(shown.ready.reason, reason);
            assert_eq!(
                shown.ready.message,
                format!("the ClusterIPAM says {reason}")
            );
        }
    }

    #[test]
    fn a_reason_this_operator_does_not_know_reads_as_pending() {
        let shown = decide("ns", "c", &ipam("Pending", Some(("False", "Surprise"))));
        assert_eq!(shown.ready.reason, "Pending");
        assert_eq!(shown.ready.message, "the ClusterIPAM says Surprise");
    }
}
