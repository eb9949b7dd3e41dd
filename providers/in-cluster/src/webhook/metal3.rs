//! The validating webhook of Metal3's IPPool, IPClaim and IPAddress: the upstream's create
//! and update rules with its exact messages, plus the overlap check shared with the
//! in-cluster pools (an IPPool may not hand out what another pool of its namespace, or a
//! global pool, may hand out).

use ipam_engine::{
    BadValue, FieldError, Violation, overlap, parse_address, validate_metal3_create,
    validate_metal3_update,
};
use ipam_kube_support::webhook::{Denial, Verdict};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::ListParams;
use kube::core::admission::{AdmissionRequest, Operation};
use kube::{Api, Client, ResourceExt};

use crate::api::capi;
use crate::metal3::addresses::{capi_in_pool, metal3_in_pool};
use crate::metal3::api::{GROUP, IP_ADDRESS_ANNOTATION, IPAddress, IPClaim, IPPool};
use crate::metal3::pool;
use crate::webhook::lookup;
use crate::webhook::rules::invalid_in;

pub const POOL_PATH: &str = "/validate-ipam-metal3-io-v1alpha1-ippool";
pub const CLAIM_PATH: &str = "/validate-ipam-metal3-io-v1alpha1-ipclaim";
pub const ADDRESS_PATH: &str = "/validate-ipam-metal3-io-v1alpha1-ipaddress";

fn error(field: &str, value: BadValue, violation: Violation) -> FieldError {
    FieldError {
        field: field.into(),
        value,
        violation,
    }
}

fn verdict(kind: &str, name: &str, errors: Vec<FieldError>) -> Result<(), Denial> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_in(GROUP, kind, name, &errors))
    }
}

pub async fn admit_pool(client: &Client, request: &AdmissionRequest<IPPool>) -> Verdict {
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return Ok(Vec::new());
    }
    let new = request
        .object
        .as_ref()
        .ok_or_else(|| Denial::bad_request("the admission request has no object"))?;
    let old = request.old_object.as_ref();
    // Metadata and status writes (the finalizer's removal on deletion) change no rule's input.
    if old.is_some_and(|old| old.spec == new.spec) {
        return Ok(Vec::new());
    }
    let name = new.name_any();
    let spec = pool::engine_spec(&new.spec);
    let validation = match old {
        None => validate_metal3_create(&spec),
        Some(old) => {
            // Live address objects, not the old status as upstream: a stale status hides
            // addresses in use.
            let key = pool::key(&request.namespace.clone().unwrap_or_default(), &name);
            let in_use = addresses_in_use(client, &key).await?;
            validate_metal3_update(&pool::engine_spec(&old.spec), &spec, in_use)
        }
    };
    verdict("IPPool", &name, validation.errors)?;
    // The overlap rule compares what pools hand out; a pool that does not compile is refused
    // by the rules above, or hands out nothing.
    let Ok(compiled) = pool::compile(new) else {
        return Ok(warnings(&validation.warnings));
    };
    let key = pool::key(&request.namespace.clone().unwrap_or_default(), &name);
    let mut others = lookup::pools_compared(client, &key).await?;
    let ns = key.namespace.clone().unwrap_or_default();
    let ippools = Api::<IPPool>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| Denial::internal(format!("cannot list IPPools to check {key}: {e}")))?;
    others.extend(ippools.items.iter().filter_map(|other| {
        let other_key = pool::pool_key(other);
        (other_key != key)
            .then(|| pool::compile(other).ok().map(|p| (other_key, p)))
            .flatten()
    }));
    let errors = others
        .iter()
        .filter_map(|(other, p)| {
            overlap(&compiled, p).map(|overlap| {
                error(
                    "spec.pools",
                    BadValue::Text(String::new()),
                    Violation::Overlaps {
                        pool: other.to_string(),
                        overlap,
                    },
                )
            })
        })
        .collect();
    verdict("IPPool", &name, errors)?;
    Ok(warnings(&validation.warnings))
}

fn warnings(warnings: &[ipam_engine::Warning]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}

async fn addresses_in_use(
    client: &Client,
    key: &crate::pool_key::PoolKey,
) -> Result<Vec<String>, Denial> {
    let ns = key.namespace.clone().unwrap_or_default();
    let failed = |e| Denial::internal(format!("cannot list the addresses of {key}: {e}"));
    let metal3 = Api::<IPAddress>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(failed)?;
    let mut in_use: Vec<String> = metal3
        .items
        .iter()
        .filter(|a| metal3_in_pool(a, key))
        .map(|a| a.spec.address.clone())
        .collect();
    match Api::<capi::IPAddress>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => in_use.extend(
            list.items
                .iter()
                .filter(|a| capi_in_pool(a, key))
                .map(|a| a.spec.address.clone()),
        ),
        // Without Cluster API's IPAddress CRD no such address exists.
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(failed(e)),
    }
    Ok(in_use)
}

/// The `ipAddress` annotation, when present, must be an address.
fn annotation(annotations: &std::collections::BTreeMap<String, String>) -> Option<FieldError> {
    let value = annotations.get(IP_ADDRESS_ANNOTATION)?;
    parse_address(value).err().map(|e| {
        error(
            "metadata.annotations.ipAddress",
            BadValue::Text(value.clone()),
            Violation::NotAnAddress(e),
        )
    })
}

fn same_ref(a: &ObjectReference, b: &ObjectReference) -> bool {
    a.name == b.name && a.namespace == b.namespace && a.kind == b.kind
}

pub fn admit_claim(request: &AdmissionRequest<IPClaim>) -> Verdict {
    let Some(claim) = request.object.as_ref() else {
        return Ok(Vec::new());
    };
    let mut errors = Vec::new();
    match (&request.operation, request.old_object.as_ref()) {
        (Operation::Create, _) => {
            if claim
                .spec
                .pool
                .name
                .as_deref()
                .unwrap_or_default()
                .is_empty()
            {
                errors.push(error(
                    "spec.pool.name",
                    BadValue::Text(String::new()),
                    Violation::Empty,
                ));
            }
        }
        (Operation::Update, Some(old)) => {
            if !same_ref(&old.spec.pool, &claim.spec.pool) {
                let value = claim.spec.pool.name.clone().unwrap_or_default();
                errors.push(error(
                    "spec.pool",
                    BadValue::Text(value),
                    Violation::Immutable,
                ));
            }
        }
        _ => return Ok(Vec::new()),
    }
    errors.extend(annotation(claim.annotations()));
    verdict("IPClaim", &claim.name_any(), errors)?;
    Ok(Vec::new())
}

pub fn admit_address(request: &AdmissionRequest<IPAddress>) -> Verdict {
    let Some(address) = request.object.as_ref() else {
        return Ok(Vec::new());
    };
    let spec = &address.spec;
    let mut errors = Vec::new();
    match (&request.operation, request.old_object.as_ref()) {
        (Operation::Create, _) => {
            for (field, value) in [
                ("spec.pool.name", &spec.pool.name),
                ("spec.claim.name", &spec.claim.name),
            ] {
                if value.as_deref().unwrap_or_default().is_empty() {
                    errors.push(error(
                        field,
                        BadValue::Text(String::new()),
                        Violation::Empty,
                    ));
                }
            }
            if spec.address.is_empty() {
                errors.push(error(
                    "spec.address",
                    BadValue::Text(String::new()),
                    Violation::Empty,
                ));
            } else if let Err(e) = parse_address(&spec.address) {
                errors.push(error(
                    "spec.address",
                    BadValue::Text(spec.address.clone()),
                    Violation::NotAnAddress(e),
                ));
            }
            errors.extend(annotation(address.annotations()));
        }
        (Operation::Update, Some(old)) => {
            // Prefix, gateway and DNS servers stay mutable, as upstream.
            if old.spec.address != spec.address {
                errors.push(error(
                    "spec.address",
                    BadValue::Text(spec.address.clone()),
                    Violation::Immutable,
                ));
            }
            for (field, before, after) in [
                ("spec.pool", &old.spec.pool, &spec.pool),
                ("spec.claim", &old.spec.claim, &spec.claim),
            ] {
                if !same_ref(before, after) {
                    let value = after.name.clone().unwrap_or_default();
                    errors.push(error(field, BadValue::Text(value), Violation::Immutable));
                }
            }
        }
        _ => return Ok(Vec::new()),
    }
    verdict("IPAddress", &address.name_any(), errors)?;
    Ok(Vec::new())
}
