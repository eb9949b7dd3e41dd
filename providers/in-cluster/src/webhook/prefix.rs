//! The validating webhook of InClusterPrefixPool and GlobalInClusterPrefixPool, on upstream's
//! paths, with its rules and messages (`ipam_engine::validate_prefix_pool`): create and update
//! (plus, on update, an unchanged `allocationPrefixLength` and no allocation stranded) and
//! delete (no IPAddress left, unless the skip or move annotation says otherwise). Beyond
//! upstream: no two prefix pools of one scope may share an address (the address pools' rule,
//! see `lookup::pools_compared`), whatever their block lengths. Upstream's
//! defaulting webhook is not needed: the schema defaults `allocationPrefixLength` to 64.

use ipam_engine::{
    PrefixPool, non_allocatable, non_allocatable_message, prefix_overlap, validate_prefix_pool,
};
use ipam_kube_support::webhook::{Denial, Verdict};
use kube::ResourceExt;
use kube::core::admission::{AdmissionRequest, Operation};

use super::{lookup, rules};
use crate::api::capi::IPAddress;
use crate::api::prefix_pool::is_prefix_kind;
use crate::api::{GROUP, PrefixPoolSpec};
use crate::pool_key::PoolKey;
use crate::pool_object::PrefixPoolObject;

pub const IN_CLUSTER_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-inclusterprefixpool";
pub const GLOBAL_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-globalinclusterprefixpool";

/// Upstream's refusal to change the block length of a pool.
pub const IMMUTABLE_LENGTH: &str = "spec.allocationPrefixLength is immutable";

/// Decides one admission request for a prefix pool of either kind.
pub async fn admit<P: PrefixPoolObject>(
    client: &kube::Client,
    request: &AdmissionRequest<P>,
) -> Verdict {
    let kind = request.kind.kind.as_str();
    if !is_prefix_kind(&request.kind.group, kind) {
        return Err(Denial::bad_request(format!(
            "expected an InClusterPrefixPool or GlobalInClusterPrefixPool but got a {kind}"
        )));
    }
    let key = |name: &str| match &request.namespace {
        Some(ns) => PoolKey::namespaced(GROUP, kind, ns, name),
        None => PoolKey::global(GROUP, kind, name),
    };
    match request.operation {
        Operation::Create | Operation::Update => {
            let pool = request
                .object
                .as_ref()
                .ok_or_else(|| Denial::bad_request("the admission request has no object"))?;
            let spec = pool.prefix_spec();
            let old = request.old_object.as_ref().map(|old| old.prefix_spec());
            // Metadata-only writes (the finalizer's removal, labels) are let through, so a
            // pool written before the webhook can still be deleted.
            if old == Some(spec) {
                return Ok(Vec::new());
            }
            let name = pool.name_any();
            let (compiled, warnings) = checked(kind, &name, spec)?;
            if let Some(old) = old {
                if old.engine().effective_length() != spec.engine().effective_length() {
                    return Err(Denial::bad_request(IMMUTABLE_LENGTH));
                }
                let in_use = lookup::addresses(client, &key(&name)).await?;
                keeps_allocations(&compiled, &in_use)?;
            }
            let others = lookup::prefix_pools_compared(client, &key(&name)).await?;
            overlaps_none(kind, &name, spec, &compiled, &others)?;
            Ok(warnings)
        }
        Operation::Delete => super::admit_delete(client, request, key).await,
        Operation::Connect => Ok(Vec::new()),
    }
}

/// Upstream's create and update rules as one 422 `Invalid`; passing, the pool compiled and
/// the warnings for the client.
pub fn checked(
    kind: &str,
    name: &str,
    spec: &PrefixPoolSpec,
) -> Result<(PrefixPool, Vec<String>), Denial> {
    let engine = spec.engine();
    rules::validated(kind, name, validate_prefix_pool(&engine), || {
        PrefixPool::from_spec(&engine)
    })
}

/// Not upstream: a prefix pool may not share an address with a prefix pool it is compared
/// with, or two claims could get overlapping sub-prefixes. 422 `Invalid` at `spec.prefixes`,
/// one cause per pool overlapped.
pub fn overlaps_none(
    kind: &str,
    name: &str,
    spec: &PrefixPoolSpec,
    pool: &PrefixPool,
    others: &[(PoolKey, PrefixPool)],
) -> Result<(), Denial> {
    let found = others
        .iter()
        .filter_map(|(key, other)| Some((key, prefix_overlap(pool, other)?)));
    rules::no_overlap(kind, name, ("spec.prefixes", &spec.prefixes), found)
}

/// Upstream's update rule: every allocation in use stays one the pool hands out (400).
pub fn keeps_allocations(pool: &PrefixPool, in_use: &[IPAddress]) -> Result<(), Denial> {
    let held: Vec<(String, Option<i64>)> = in_use
        .iter()
        .map(|a| (a.spec.address.clone(), Some(i64::from(a.spec.prefix))))
        .collect();
    let stranded = non_allocatable(pool, &held);
    if stranded.is_empty() {
        Ok(())
    } else {
        Err(Denial::bad_request(non_allocatable_message(&stranded)))
    }
}
