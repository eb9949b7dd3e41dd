//! IPAddressClaim → Infoblox host record (or fixed address) → IPAddress, for claims whose pool is an
//! InfobloxIPPool, following the Cluster API IPAM contract.
//!
//! Per claim: fetch → decide ([`crate::claim_steps`], pure) → apply, one step of the
//! crash-safe order a pass: the claim finalizer, then the host name (recorded on the claim),
//! are persisted before any WAPI write. The host record is then looked up by name and network view before
//! it is ever created, so a crash (or a lost answer) between the Infoblox write and the
//! IPAddress write finds the first record again instead of reserving a second address. Every
//! record is marked with its owner ([`crate::owner`]): the claim, or the Machine whose claims
//! share a host record named after it ([`crate::sharing`]), each adding its own address. One
//! found under the same name that another owner has is neither adopted (`HostnameConflict`)
//! nor freed. Release frees the claim's address, deleting the record with its last one, and
//! keeps the claim finalizer until Infoblox confirms. The
//! instance, network view and kind are recorded on the claim too ([`crate::location`]), and
//! release goes there, so it still frees the claim's address when the pool is gone or was
//! edited since.

use std::sync::Arc;
use std::time::Instant;

use ipam_kube_support::address_metadata::{self, copied_labels};
use ipam_kube_support::capi::keys::*;
use ipam_kube_support::capi::{IPAddress, IPAddressClaim, IPAddressSpec, LocalReference};
use ipam_kube_support::capi_cluster;
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::claim_status;
use ipam_kube_support::conditions::Decision;
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::finalizers;
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{GROUP, InfobloxIPPool};
use crate::claim_release::{self, free_in_infoblox};
use crate::claim_steps::{self, At, Next, Place, Start};
use crate::config::Config;
use crate::hostname::{self, HOSTNAME_ANNOTATION};
use crate::location::Location;
use crate::name_lock;
use crate::release_plan::Freed;
use crate::reserve::{self, Held, RECORD_MARKED};
use crate::reserve_plan::Found;
use crate::sharing::{self, OWNER_ANNOTATION};
use crate::target::{Purpose, Target, target};

pub const MANAGER: &str = "ipam-operator-infoblox-claims";

/// Claims this controller serves: poolRef group and kind both match.
pub fn serves(claim: &IPAddressClaim) -> bool {
    let pool = &claim.spec.pool_ref;
    pool.api_group == GROUP && pool.kind == InfobloxIPPool::kind(&())
}

pub struct Context {
    pub(crate) client: Client,
    pub(crate) config: Config,
    recorder: Recorder,
    /// The Cluster API `Cluster` kind, when its CRD is installed.
    pub(crate) clusters: Option<kube::core::ApiResource>,
}

pub async fn reconcile(
    claim: Arc<IPAddressClaim>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !serves(&claim) {
        return Ok(Action::await_change());
    }
    let fail = Reconciling::new(claim.as_ref());
    if claim.meta().deletion_timestamp.is_some() {
        return claim_release::release(&claim, &ctx)
            .await
            .map_err(fail.at("release"));
    }
    if claim.annotations().contains_key(PAUSED_ANNOTATION) {
        return Ok(Action::await_change());
    }
    let cluster = capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), &claim)
        .await
        .map_err(fail.at("read the Cluster"))?;
    let outcome = match claim_steps::start(&claim, &cluster, ctx.config.retry) {
        Start::Show(outcome) => outcome,
        Start::AddFinalizer => {
            // Persisted before anything is reserved; the update event brings the claim back.
            let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &namespace(&claim));
            finalizers::add(&claims, claim.as_ref(), CLAIM_FINALIZER)
                .await
                .map_err(fail.at("add the finalizer"))?;
            Outcome::quiet()
        }
        Start::ReadPool => allocate(&claim, &ctx, &fail).await?,
    };
    show(&ctx, &claim, &outcome)
        .await
        .map_err(fail.at("write status"))
}

/// The step after the finalizer that the claim is at, carried out.
async fn allocate(
    claim: &IPAddressClaim,
    ctx: &Context,
    fail: &Reconciling,
) -> Result<Outcome, ReconcileError> {
    let ns = namespace(claim);
    let pool = Api::<InfobloxIPPool>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&claim.spec.pool_ref.name)
        .await
        .map_err(fail.at("read the pool"))?;
    if let Some(closed) = claim_steps::pool_closed(claim, pool.as_ref()) {
        return Ok(warned(closed));
    }
    let pool = pool.expect("the gate lets no missing pool through");
    // An IPAddress named after the claim is the finished allocation.
    let finished = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&claim.name_any())
        .await
        .map_err(fail.at("read the IPAddress"))?;
    match claim_steps::next(claim, finished.as_ref()) {
        Next::RecordHostname { recorded } => record_hostname(claim, ctx, &pool, recorded)
            .await
            .map_err(fail.at("record the host name")),
        Next::MarkHeld { host, existing } => mark_then_adopt(claim, ctx, &pool, &host, existing)
            .await
            .map_err(fail.at("mark the claim's record")),
        Next::Reserve { host } => reserve(claim, ctx, pool, &host, fail).await,
        Next::Adopt(existing) => adopt(claim, ctx, &pool, existing)
            .await
            .map_err(fail.at("adopt the IPAddress")),
    }
}

/// Step 2: the host name, and whether the claim shares its Machine's host record, recorded
/// before any WAPI write: the name is the key that finds the record again after a crash and
/// at release, even once the Machine is gone.
async fn record_hostname(
    claim: &IPAddressClaim,
    ctx: &Context,
    pool: &InfobloxIPPool,
    recorded: Option<String>,
) -> Result<Outcome, kube::Error> {
    let zone = pool.spec.zone();
    let machine = match sharing::names_after_machine(zone, claim_steps::kind(pool)) {
        true => hostname::machine(&ctx.client, claim).await?,
        false => None,
    };
    let name = recorded.unwrap_or_else(|| hostname::resolve(claim, zone, machine.as_deref()));
    let owner = sharing::decide(claim, &name, zone, machine.as_deref());
    let annotations = json!({HOSTNAME_ANNOTATION: name, OWNER_ANNOTATION: owner});
    annotate(ctx, claim, annotations).await?;
    Ok(Outcome::quiet())
}

/// Marks the record of a claim allocated before records were marked, then records its
/// location; a record another claim's IPAddress also holds is left unmarked and said so
/// beside Ready (the claim keeps its address), and retried: the other claim may release, or
/// a person fix the record.
async fn mark_then_adopt(
    claim: &IPAddressClaim,
    ctx: &Context,
    pool: &InfobloxIPPool,
    host: &str,
    existing: &IPAddress,
) -> Result<Outcome, kube::Error> {
    let address = &existing.spec.address;
    let marked = reserve::mark_held(&ctx.client, &ctx.config, claim, pool.clone(), host, address);
    let later = Outcome::quiet().retry_after(ctx.config.retry);
    let claim_name = format!("{}/{}", namespace(claim), claim.name_any());
    match marked.await? {
        Held::Marked(location) => {
            annotate(ctx, claim, json!(location.annotations())).await?;
            Ok(Outcome::quiet())
        }
        Held::NotFound => adopt(claim, ctx, pool, existing).await,
        Held::Refused(message) => {
            let shown = Decision::new(RECORD_MARKED, false, "HeldByAnotherClaim", message.clone());
            let name = existing.name_any();
            let changed =
                claim_status::write_ready(&ctx.client, MANAGER, claim, Some(&name), &shown).await?;
            if changed {
                tracing::warn!(claim = %claim_name, %message, "the claim's record is not marked");
                publish(
                    ctx,
                    claim,
                    EventType::Warning,
                    "HeldByAnotherClaim",
                    &message,
                )
                .await;
            } else {
                show(ctx, claim, &adopt(claim, ctx, pool, existing).await?).await?;
            }
            Ok(later)
        }
        Held::Failed(message) => {
            tracing::warn!(claim = %claim_name, %message, "cannot mark the claim's record yet; retrying");
            show(ctx, claim, &adopt(claim, ctx, pool, existing).await?).await?;
            Ok(later)
        }
    }
}

/// Steps 3 to 5: the location recorded, the reservation made (or found again) in Infoblox,
/// the IPAddress written. The name lock is held until the IPAddress is written (see
/// name_lock): another claim of the Machine then finds the address this one took either held
/// by its IPAddress, or not yet in Infoblox.
async fn reserve(
    claim: &IPAddressClaim,
    ctx: &Context,
    pool: InfobloxIPPool,
    host: &str,
    fail: &Reconciling,
) -> Result<Outcome, ReconcileError> {
    let target = match target(&ctx.client, &ctx.config, pool, Purpose::Allocate).await {
        Ok(Ok(target)) => target,
        Ok(Err(outcome)) => return Ok(warned(outcome)),
        Err(e) => return Err(fail.at("read the pool's instance")(e)),
    };
    let wanted = Location {
        instance: target.pool.spec.instance.name.clone(),
        network_view: target.views.network_view.clone(),
        kind: target.kind,
    };
    if let Place::Record { free_first } = claim_steps::place(Location::recorded(claim), &wanted) {
        return record_location(claim, ctx, &target, host, &wanted, free_first)
            .await
            .map_err(fail.at("record the location"));
    }
    let nv = &target.views.network_view;
    let _deciding = name_lock::lock(target.wapi.endpoint(), nv, host).await;
    let me = sharing::load(&ctx.client, claim, target.kind)
        .await
        .map_err(fail.at("read the Machine's claims"))?;
    let allocating = Instant::now();
    let found = match reserve::reserve(&ctx.client, &target, host, &me).await {
        Ok(found) => found,
        Err(refused) => return Ok(warned(refused.retried(ctx.config.retry))),
    };
    write_address(claim, ctx, &target, host, &found, allocating)
        .await
        .map_err(fail.at("write the IPAddress"))
}

/// Step 3: records where the claim reserves. Another location recorded and no IPAddress: an
/// earlier pass may have reserved there before the IPAddress write failed and the pool was
/// pointed elsewhere, so that is freed first, by the rules of release.
async fn record_location(
    claim: &IPAddressClaim,
    ctx: &Context,
    target: &Target,
    host: &str,
    wanted: &Location,
    free_first: Option<Location>,
) -> Result<Outcome, kube::Error> {
    if let Some(old) = free_first {
        match free_in_infoblox(ctx, claim, target.pool.clone(), host, None).await? {
            Freed::Done => {}
            Freed::Skipped(note) => {
                publish(ctx, claim, EventType::Warning, "ReleaseSkipped", &note).await;
            }
            Freed::Failed(why) => {
                let retry = ctx.config.retry;
                return Ok(warned(claim_steps::moved_and_not_freed(
                    wanted, &old, &why, retry,
                )));
            }
        }
    }
    annotate(ctx, claim, json!(wanted.annotations())).await?;
    Ok(Outcome::quiet())
}

/// Step 5: the IPAddress that hands `found` to the claim. It is shown and told here, not by
/// the caller: the allocation's event follows its status.
async fn write_address(
    claim: &IPAddressClaim,
    ctx: &Context,
    target: &Target,
    host: &str,
    found: &Found,
    allocating: Instant,
) -> Result<Outcome, kube::Error> {
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &namespace(claim));
    let ip = IPAddress {
        metadata: kube::api::ObjectMeta {
            name: Some(claim.name_any()),
            namespace: claim.namespace(),
            labels: Some(copied_labels(claim)),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(owner_references(claim, &target.pool)),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim_ref: LocalReference {
                name: claim.name_any(),
            },
            pool_ref: claim.spec.pool_ref.clone(),
            address: found.address.clone(),
            prefix: i32::from(found.subnet.prefix_len()),
            gateway: found.gateway.clone().filter(|g| !g.is_empty()),
        },
    };
    match addresses.create(&PostParams::default(), &ip).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = addresses.get(&claim.name_any()).await?;
            return adopt(claim, ctx, &target.pool, &existing).await;
        }
        Err(e) => return Err(e),
    }
    ipam_kube_support::metrics::get().allocation("infoblox", allocating.elapsed());
    let at = At {
        what: target.kind.describe(),
        host,
        network_view: &target.views.network_view,
    };
    let outcome = claim_steps::allocated(claim, found, &at);
    show(ctx, claim, &outcome).await?;
    let message = outcome.ready.map(|d| d.message).unwrap_or_default();
    tracing::info!(claim = %format!("{}/{}", namespace(claim), claim.name_any()), address = %found.address, host, "allocated");
    publish(ctx, claim, EventType::Normal, "AddressAllocated", &message).await;
    Ok(Outcome::quiet())
}

/// Merges `annotations` into the claim, on the version this pass read (a newer one means
/// another pass decides); the update event brings the claim back.
async fn annotate(
    ctx: &Context,
    claim: &IPAddressClaim,
    annotations: serde_json::Value,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "resourceVersion": claim.resource_version(),
        "annotations": annotations,
    }});
    Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &namespace(claim))
        .patch(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// Makes the claim's IPAddress its own (owners and labels as this controller writes them),
/// and says what the claim shows for it.
async fn adopt(
    claim: &IPAddressClaim,
    ctx: &Context,
    pool: &InfobloxIPPool,
    existing: &IPAddress,
) -> Result<Outcome, kube::Error> {
    let owners = owner_references(claim, pool);
    address_metadata::adopt(&ctx.client, existing, owners, copied_labels(claim)).await?;
    Ok(claim_steps::adopted(claim, existing, &pool.name_any()))
}

/// A refusal of allocation, told as a Warning event too when the claim's condition changes.
fn warned(outcome: Outcome) -> Outcome {
    match outcome.reason() {
        Some(reason) => outcome.warn(reason),
        None => outcome,
    }
}

/// Writes what `outcome` says, once and only when it changed, and says when to look again.
pub(crate) async fn show(
    ctx: &Context,
    claim: &IPAddressClaim,
    outcome: &Outcome,
) -> Result<Action, kube::Error> {
    let changed = claim_status::show(&ctx.client, MANAGER, &ctx.recorder, claim, outcome).await?;
    if changed
        && outcome.warning.is_some()
        && let Some(d) = &outcome.ready
    {
        tracing::info!(claim = %format!("{}/{}", namespace(claim), claim.name_any()), reason = d.reason, message = %d.message, "claim not allocated");
    }
    Ok(outcome.action())
}

fn namespace(claim: &IPAddressClaim) -> String {
    claim.namespace().unwrap_or_default()
}

fn owner_references(claim: &IPAddressClaim, pool: &InfobloxIPPool) -> Vec<OwnerReference> {
    address_metadata::owner_references(claim, pool.controller_owner_ref(&()))
}

pub(crate) async fn publish(
    ctx: &Context,
    claim: &IPAddressClaim,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    ipam_kube_support::events::publish(&ctx.recorder, claim, type_, reason, "Allocate", note).await;
}

pub fn run(
    client: Client,
    config: &Config,
    recorder: Recorder,
    clusters: Option<kube::core::ApiResource>,
    stop: Shutdown,
) -> impl std::future::Future<Output = ()> + use<> {
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        recorder,
        clusters,
    });
    let controller = config.controller(
        "infoblox",
        config.api::<IPAddressClaim>(&client),
        config.concurrency,
    );
    let claims = controller.store();
    let controller = controller
        // A pool that appears or changes is a chance for the claims waiting on it.
        .watches(
            config.api::<InfobloxIPPool>(&client),
            config.watcher(),
            move |pool: InfobloxIPPool| {
                let (ns, name) = (pool.namespace(), pool.name_any());
                claims
                    .state()
                    .into_iter()
                    .filter(|c| serves(c) && c.namespace() == ns && c.spec.pool_ref.name == name)
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            config.api::<IPAddress>(&client),
            Default::default(),
            |address: IPAddress| {
                Some(
                    ObjectRef::new(&address.spec.claim_ref.name)
                        .within(&address.namespace().unwrap_or_default()),
                )
            },
        );
    drive(controller, MANAGER, reconcile, ctx, config.retry, stop)
}
