//! The `Ready` condition and `addressRef` of a Cluster API IPAddressClaim, written the way
//! every backend must write them.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{EventType, Recorder};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::capi::IPAddressClaim;
use crate::claim_outcome::Outcome;
use crate::conditions::{self, Decision};

/// Writes `decision` (and `address_ref` once allocated) when it differs from what the claim
/// shows; returns whether anything was written.
///
/// A merge patch guarded by the resourceVersion, not server-side apply: claims written at
/// v1alpha1/v1beta1 carry managed fields of those versions, and SSA must convert between
/// them, which fails where Cluster API's conversion webhook is absent. Conditions of other
/// types are kept as read.
pub async fn write_ready(
    client: &kube::Client,
    manager: &str,
    claim: &IPAddressClaim,
    address_ref: Option<&str>,
    decision: &Decision,
) -> kube::Result<bool> {
    let current = claim.status.as_ref();
    let mut conditions_now = current.map(|s| s.conditions.clone()).unwrap_or_default();
    let current_ref = current
        .and_then(|s| s.address_ref.as_ref())
        .map(|r| r.name.as_str());
    let generation = claim.meta().generation;
    let pool = &claim.spec.pool_ref;
    crate::metrics::get().domain.claim(
        claim.meta(),
        &pool.kind,
        &pool.name,
        &conditions_now,
        decision,
    );
    if conditions::matches(&conditions_now, decision, generation)
        && (address_ref.is_none() || current_ref == address_ref)
    {
        return Ok(false);
    }
    conditions::set(&mut conditions_now, decision, generation);
    let mut status = json!({"conditions": conditions_now});
    if let Some(name) = address_ref.or(current_ref) {
        status["addressRef"] = json!({"name": name});
    }
    let patch =
        json!({"metadata": {"resourceVersion": claim.resource_version()}, "status": status});
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    };
    let api =
        Api::<IPAddressClaim>::namespaced(client.clone(), &claim.namespace().unwrap_or_default());
    match api
        .patch_status(&claim.name_any(), &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Shows `outcome` on the claim: its condition and address reference written when they
/// differ from what the claim shows, and its warning told as an event when they did.
/// Returns whether anything was written.
pub async fn show(
    client: &kube::Client,
    manager: &str,
    recorder: &Recorder,
    claim: &IPAddressClaim,
    outcome: &Outcome,
) -> kube::Result<bool> {
    let Some(ready) = &outcome.ready else {
        return Ok(false);
    };
    let changed = write_ready(client, manager, claim, outcome.address.as_deref(), ready).await?;
    if changed && let Some(reason) = outcome.warning {
        let note = &ready.message;
        crate::events::publish(
            recorder,
            claim,
            EventType::Warning,
            reason,
            "Allocate",
            note,
        )
        .await;
    }
    Ok(changed)
}
