//! The WAPI side of an allocation: the reservation made (or found again) under the claim's
//! host name, and the mark that makes a found record the claim's. Both run under the name
//! lock ([`crate::name_lock`]), so a Machine's claims never decide on one record at once.

use ipam_kube_support::capi::IPAddressClaim;
use kube::{Client, ResourceExt};

use crate::api::InfobloxIPPool;
use crate::claim_steps::{self, At, Refused};
use crate::config::Config;
use crate::location::Location;
use crate::owner::Claimant;
use crate::reserve_plan::{Found, Holder, Plan};
use crate::target::{Purpose, Target, target};
use crate::wapi::{HostRequest, Reservation, WapiError};
use crate::{holders, name_lock, release_plan, reserve_plan, sharing};

/// What [`mark_held`] did.
pub enum Held {
    /// The record holding the claim's address is marked as its own (or its Machine's), at
    /// `Location`, the pool's.
    Marked(Location),
    /// No record of the host name at the pool's location holds the claim's address, or one
    /// another owner marked does: nothing written.
    NotFound,
    /// The record holds an address another claim's IPAddress holds: marking it as this
    /// claim's would let this claim's release free that address. Nothing written.
    Refused(String),
    /// Infoblox (or the pool's instance) could not be asked.
    Failed(String),
}

/// The condition that tells an allocated claim its record could not be marked as its own.
pub const RECORD_MARKED: &str = "InfobloxRecordMarked";

/// Marks the reservation at the pool's location that holds `address`, the address of the
/// claim's IPAddress, as the claim's (or its Machine's); one without a mark is taken over.
pub async fn mark_held(
    client: &Client,
    config: &Config,
    claim: &IPAddressClaim,
    pool: InfobloxIPPool,
    host: &str,
    address: &str,
) -> Result<Held, kube::Error> {
    let target = match target(client, config, pool, Purpose::Allocate).await? {
        Ok(t) => t,
        Err(outcome) => {
            let why = outcome.ready.map(|d| d.message).unwrap_or_default();
            return Ok(Held::Failed(why));
        }
    };
    let nv = &target.views.network_view;
    let _deciding = name_lock::lock(target.wapi.endpoint(), nv, host).await;
    let me = sharing::load(client, claim, target.kind).await?;
    let records = match target.wapi.find_reservations(target.kind, host, nv).await {
        Ok(r) => r,
        Err(e) => return Ok(Held::Failed(e.to_string())),
    };
    let holders = holders_at(client, &target).await?;
    let Some(record) = records.iter().find(|r| {
        r.addresses
            .iter()
            .any(|a| release_plan::same_address(a, address))
    }) else {
        return Ok(Held::NotFound);
    };
    if let Some(owner) = me.other_owner(record.comment.as_deref()) {
        tracing::warn!(host, network_view = %nv, %owner, address, "the claim's address is in a record another owner marked; left as it is");
        return Ok(Held::NotFound);
    }
    // The Machine's other claims hold their addresses of its record rightly.
    if let Some(other) = holders.iter().find(|h| {
        h.claim != me.claim
            && !me.siblings.contains(&h.claim)
            && record
                .addresses
                .iter()
                .any(|a| release_plan::same_address(a, &h.address))
    }) {
        return Ok(Held::Refused(format!(
            "{} {host} in network view {nv} holds this claim's address {address} and {}, which the IPAddress of claim {} holds; it is not marked as this claim's, so releasing this claim cannot free that address. Give each claim a record of its own in Infoblox",
            target.kind.describe(),
            other.address,
            other.claim
        )));
    }
    if let Err(e) = mark(&target, record, me.remark(record.comment.as_deref())).await {
        return Ok(Held::Failed(e.to_string()));
    }
    Ok(Held::Marked(Location {
        instance: target.pool.spec.instance.name.clone(),
        network_view: nv.clone(),
        kind: target.kind,
    }))
}

/// Writes `comment` to `record` when set: marked before it is used, so no claim of another
/// owner can take it too.
pub async fn mark(
    target: &Target,
    record: &Reservation,
    comment: Option<String>,
) -> Result<(), WapiError> {
    match comment {
        Some(comment) => target.wapi.set_comment(&record.reference, &comment).await,
        None => Ok(()),
    }
}

/// What the IPAddresses of InfobloxIPPools hold at `target`'s instance and network view.
pub async fn holders_at(client: &Client, target: &Target) -> Result<Vec<Holder>, kube::Error> {
    holders::load(
        client,
        &target.pool.namespace().unwrap_or_default(),
        &target.instance.name_any(),
        &target.instance.spec,
        &target.views.network_view,
    )
    .await
}

/// The reserved address, its subnet and gateway: found by name first, created (or added to
/// the Machine's host record) otherwise ([`reserve_plan`]). `me` is who a found record must
/// belong to, and who a new one will; `client` finds which claims' IPAddresses hold the found
/// record's addresses, none of which is adopted. Called under the name lock.
pub async fn reserve(
    client: &Client,
    target: &Target,
    host: &str,
    me: &Claimant,
) -> Result<Found, Refused> {
    let at = At {
        what: target.kind.describe(),
        host,
        network_view: &target.views.network_view,
    };
    let wapi_failed = |e: WapiError| claim_steps::wapi_failed(&at, &e);
    let existing = target
        .wapi
        .find_reservations(target.kind, host, at.network_view)
        .await
        .map_err(wapi_failed)?;
    // Nothing found, nothing to check: a new reservation holds only the address it is given.
    let holders = match existing.is_empty() {
        true => Vec::new(),
        false => holders_at(client, target)
            .await
            .map_err(|e| claim_steps::holders_unknown(&at, &e))?,
    };
    let taken = holders::taken(&holders, &me.claim);
    let extend = match reserve_plan::plan(&existing, me, &target.subnets, &taken, &holders) {
        Plan::Create => None,
        Plan::Adopt {
            record,
            address,
            remark,
        } => {
            mark(target, record, remark).await.map_err(wapi_failed)?;
            return Ok(address);
        }
        Plan::Extend { record, remark } => {
            mark(target, record, remark).await.map_err(wapi_failed)?;
            Some(record)
        }
        Plan::Conflict { record, owner } => {
            return Err(claim_steps::hostname_taken(&at, record, &owner));
        }
        Plan::Elsewhere { record } => return Err(claim_steps::record_elsewhere(&at, record)),
        Plan::Many(n) => return Err(claim_steps::many_records(&at, n)),
    };
    write_new(target, &at, extend, me, &taken).await
}

/// Reserves a new address, in the first of the pool's subnets that has one free (as in
/// telekom's provider): a new reservation, or one more address of the Machine's `extend`.
async fn write_new(
    target: &Target,
    at: &At<'_>,
    extend: Option<&Reservation>,
    me: &Claimant,
    taken: &[String],
) -> Result<Found, Refused> {
    let mut full = Vec::new();
    for (subnet, gateway) in &target.subnets {
        let request = HostRequest {
            name: at.host.to_string(),
            network_view: at.network_view.to_string(),
            dns_view: target
                .pool
                .spec
                .zone()
                .map(|_| target.views.dns_view.clone()),
            subnet: *subnet,
            exclude: gateway
                .iter()
                .filter(|g| {
                    g.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| subnet.contains(&ip))
                })
                .cloned()
                .collect(),
            comment: me.owner().mark(),
        };
        let written = match extend {
            Some(record) => target.wapi.add_address(record, &request).await,
            None => target.wapi.reserve(target.kind, &request).await,
        };
        match written {
            Ok(record) => {
                let subnets = [(*subnet, gateway.clone())];
                return reserve_plan::in_subnets(&record, &subnets, taken)
                    .ok_or_else(|| claim_steps::written_without_address(at, subnet));
            }
            Err(WapiError::NetworkFull { .. }) => full.push(subnet.to_string()),
            Err(e) => return Err(claim_steps::wapi_failed(at, &e)),
        }
    }
    Err(claim_steps::exhausted(at.network_view, &full))
}
