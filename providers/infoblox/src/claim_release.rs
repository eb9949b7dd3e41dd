//! Release of an Infoblox claim: the reservation freed in Infoblox where it was made (the
//! location recorded on the claim), then the IPAddress, then the claim's finalizer. A WAPI
//! failure keeps the finalizer and retries, so a record is never left behind silently.

use ipam_kube_support::capi::keys::{ADDRESS_FINALIZER, CLAIM_FINALIZER, PAUSED_ANNOTATION};
use ipam_kube_support::capi::{IPAddress, IPAddressClaim};
use ipam_kube_support::capi_cluster::{self, ClusterState};
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::claim_status;
use ipam_kube_support::finalizers;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use crate::api::{InfobloxIPPool, InfobloxInstance};
use crate::claim_controller::{Context, MANAGER, publish};
use crate::hostname;
use crate::location::Location;
use crate::orphan_release;
use crate::release_plan::Freed;
use crate::reserve::holders_at;
use crate::target::{Purpose, target};
use crate::wapi::{Kind, WapiError};
use crate::{claim_steps, holders, name_lock, release_plan, sharing};

/// Frees the reservation in Infoblox, then the IPAddress, then the claim finalizer. A WAPI
/// failure keeps the finalizer and retries: a record is never left behind silently.
pub async fn release(claim: &IPAddressClaim, ctx: &Context) -> Result<Action, kube::Error> {
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    // A paused Cluster holds the release (clusterctl move); a missing one never does.
    if let ClusterState::Paused(_) =
        capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), claim).await?
    {
        return Ok(Action::requeue(ctx.config.retry));
    }
    let pool = Api::<InfobloxIPPool>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&claim.spec.pool_ref.name)
        .await?;
    if pool
        .as_ref()
        .is_some_and(|p| p.annotations().contains_key(PAUSED_ANNOTATION))
    {
        return Ok(Action::await_change());
    }
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    if let Some(why) = free_recorded(ctx, claim, pool, &addresses).await? {
        let failed = claim_steps::release_failed(why, ctx.config.retry);
        show_failed(ctx, claim, &failed).await?;
        return Ok(failed.action());
    }
    if let Some(address) = addresses.get_opt(&claim.name_any()).await?
        && address.spec.claim_ref.name == claim.name_any()
    {
        finalizers::remove_and_delete(&addresses, &address, ADDRESS_FINALIZER).await?;
        let note = format!("{} released", address.spec.address);
        ipam_kube_support::metrics::get().release("infoblox");
        publish(ctx, claim, EventType::Normal, "AddressReleased", &note).await;
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    finalizers::remove(&claims, claim, CLAIM_FINALIZER).await?;
    Ok(Action::await_change())
}

/// Shows a failed release on every pass, its warning too: each is a retry that failed again.
async fn show_failed(ctx: &Context, claim: &IPAddressClaim, failed: &Outcome) -> kube::Result<()> {
    let Some(decision) = &failed.ready else {
        return Ok(());
    };
    claim_status::write_ready(&ctx.client, MANAGER, claim, None, decision).await?;
    let ns = claim.namespace().unwrap_or_default();
    tracing::warn!(claim = %format!("{ns}/{}", claim.name_any()), message = %decision.message, "release failed; retrying");
    if let Some(reason) = failed.warning {
        publish(ctx, claim, EventType::Warning, reason, &decision.message).await;
    }
    Ok(())
}

/// Frees the reservation under the host name the claim records, if any: through the pool,
/// else through the location recorded. `Some` says why Infoblox could not confirm.
async fn free_recorded(
    ctx: &Context,
    claim: &IPAddressClaim,
    pool: Option<InfobloxIPPool>,
    addresses: &Api<IPAddress>,
) -> Result<Option<String>, kube::Error> {
    let Some(host) = hostname::recorded(claim) else {
        return Ok(None);
    };
    let own_address = addresses
        .get_opt(&claim.name_any())
        .await?
        .filter(|a| a.spec.claim_ref.name == claim.name_any())
        .map(|a| a.spec.address);
    let own_address = own_address.as_deref();
    let freed = match pool {
        Some(pool) => free_in_infoblox(ctx, claim, pool, &host, own_address).await?,
        None => without_pool(ctx, claim, &host, own_address).await?,
    };
    Ok(match freed {
        Freed::Done => None,
        Freed::Skipped(note) => {
            publish(ctx, claim, EventType::Warning, "ReleaseSkipped", &note).await;
            None
        }
        Freed::Failed(message) => Some(message),
    })
}

/// Release once the pool is gone: through the location recorded on the claim, else nothing
/// but a warning, since a missing pool must not block teardown (CAPI contract §5.3).
/// `own_address` is the claim's IPAddress's.
async fn without_pool(
    ctx: &Context,
    claim: &IPAddressClaim,
    host: &str,
    own_address: Option<&str>,
) -> Result<Freed, kube::Error> {
    let Some(location) = Location::recorded(claim) else {
        let ns = claim.namespace().unwrap_or_default();
        return Ok(Freed::Skipped(format!(
            "InfobloxIPPool {ns}/{} is gone and the claim records no Infoblox location, so the reservation {host} could not be looked up; delete its host record or fixed address in Infoblox if it remains",
            claim.spec.pool_ref.name
        )));
    };
    let namespace = &ctx.config.secret_namespace;
    orphan_release::release(&ctx.client, namespace, &location, claim, host, own_address).await
}

/// Deletes the claim's reservation(s) where it was made: at the location recorded on the claim,
/// else (claims allocated before locations were recorded) at the pool's. A host record that
/// also holds addresses outside the pool's subnets keeps those, and one another claim owns is
/// left alone ([`release_plan`]).
pub async fn free_in_infoblox(
    ctx: &Context,
    claim: &IPAddressClaim,
    mut pool: InfobloxIPPool,
    host: &str,
    own_address: Option<&str>,
) -> Result<Freed, kube::Error> {
    // The pool may have been pointed at another instance or network view since allocation.
    if let Some(location) = Location::recorded(claim) {
        location.applied_to(&mut pool.spec);
    }
    // Without its instance nothing tells where the grid is, and no retry brings it back: as
    // without the pool (orphan_release), a warning says what may remain, and the claim goes on.
    let instances = Api::<InfobloxInstance>::all(ctx.client.clone());
    if instances.get_opt(&pool.spec.instance.name).await?.is_none() {
        return Ok(Freed::Skipped(instance_gone(&pool, host)));
    }
    let target = match target(&ctx.client, &ctx.config, pool, Purpose::Release).await? {
        Ok(t) => t,
        Err(outcome) => {
            let why = outcome.ready.map(|d| d.message).unwrap_or_default();
            let message = format!("cannot release the reservation {host}: {why}");
            return Ok(Freed::Failed(message));
        }
    };
    let nv = &target.views.network_view;
    let what = target.kind.describe();
    let failed = |e: WapiError| {
        Freed::Failed(format!(
            "cannot release {what} {host} in network view {nv}: {e}; retrying"
        ))
    };
    // A PUT replaces the address lists: no other claim of the Machine may add its address
    // between this read and that write.
    let _deciding = name_lock::lock(target.wapi.endpoint(), nv, host).await;
    let me = sharing::load(&ctx.client, claim, target.kind).await?;
    let records = match target.wapi.find_reservations(target.kind, host, nv).await {
        Ok(r) => r,
        Err(e) => return Ok(failed(e)),
    };
    let taken = match records.is_empty() {
        true => Vec::new(),
        false => holders::taken(&holders_at(&ctx.client, &target).await?, &me.claim),
    };
    let subnets: Vec<ipnet::IpNet> = target.subnets.iter().map(|(n, _)| *n).collect();
    for record in &records {
        let Some(keep) = release_plan::keep(record, &me, own_address, &subnets, &taken) else {
            tracing::info!(host, network_view = %nv, kind = what, comment = ?record.comment, "not this claim's; left in Infoblox");
            continue;
        };
        if let Err(e) = target.wapi.release(record, &keep).await {
            return Ok(failed(e));
        }
        tracing::info!(host, network_view = %nv, kind = what, "released in Infoblox");
    }
    Ok(Freed::Done)
}

/// What may remain in Infoblox when the pool's instance is gone.
fn instance_gone(pool: &InfobloxIPPool, host: &str) -> String {
    let kind = Kind::from(pool.spec.reservation.unwrap_or_default());
    let nv = pool
        .spec
        .network_view
        .as_deref()
        .unwrap_or("(the instance's default)");
    format!(
        "InfobloxInstance {} is gone, so {} {host} in network view {nv} could not be freed; delete it in Infoblox if it remains",
        pool.spec.instance.name,
        kind.describe()
    )
}
