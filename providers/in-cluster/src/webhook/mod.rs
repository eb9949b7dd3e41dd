//! The validating admission webhook of InClusterIPPool and GlobalInClusterIPPool, on the
//! upstream's paths: its create, update and delete rules with its exact messages and codes,
//! and what it lacks: overlap between pools, and clusterctl's `delete-for-move`.
//!
//! The same server answers the pool CRDs' conversion reviews on [`CONVERT_PATH`]
//! (`crate::conversion`).
//!
//! Overlap is checked against a fresh LIST, but two pools created at the same instant can
//! still both pass; admission cannot serialise writes to different objects.

mod lookup;
pub mod metal3;
pub mod prefix;
pub mod rules;

use axum::Router;
use axum::extract::{Json, State};
use axum::routing::post;
use ipam_kube_support::webhook::{Denial, Verdict, respond};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use kube::core::{DynamicObject, Status};
use kube::{Client, ResourceExt};

use crate::api::{
    GROUP, GlobalInClusterIPPool, GlobalInClusterPrefixPool, InClusterIPPool, InClusterPrefixPool,
};
use crate::pool_key::PoolKey;
use crate::pool_object::{AddressPool, PoolObject, PrefixPoolObject};

pub const IN_CLUSTER_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-inclusterippool";
pub const GLOBAL_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-globalinclusterippool";
/// Where the pool CRDs' `spec.conversion.webhook` sends its reviews, as kubebuilder's.
pub const CONVERT_PATH: &str = "/convert";

/// The webhook's routes; each reads the cluster through `client`.
pub fn router(client: Client) -> Router {
    Router::new()
        .route(IN_CLUSTER_PATH, post(handle::<InClusterIPPool>))
        .route(GLOBAL_PATH, post(handle::<GlobalInClusterIPPool>))
        .route(metal3::POOL_PATH, post(handle_metal3_pool))
        .route(metal3::CLAIM_PATH, post(handle_metal3_claim))
        .route(metal3::ADDRESS_PATH, post(handle_metal3_address))
        .route(
            prefix::IN_CLUSTER_PATH,
            post(handle_prefix::<InClusterPrefixPool>),
        )
        .route(
            prefix::GLOBAL_PATH,
            post(handle_prefix::<GlobalInClusterPrefixPool>),
        )
        .route(CONVERT_PATH, post(handle_convert))
        .with_state(client)
}

async fn handle_prefix<P>(
    State(client): State<Client>,
    Json(review): Json<AdmissionReview<P>>,
) -> Json<AdmissionReview<DynamicObject>>
where
    P: PrefixPoolObject,
{
    answer(review, |request| async move {
        prefix::admit(&client, &request).await
    })
    .await
}

async fn handle_convert(Json(review): Json<ConversionReview>) -> Json<ConversionReview> {
    Json(convert_review(review))
}

/// Answers one conversion review: every object converted, or a failure naming the first
/// that cannot be (the API server then fails the request that needed it, quoting it).
pub fn convert_review(review: ConversionReview) -> ConversionReview {
    let mut request = match ConversionRequest::from_review(review) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "webhook: a conversion review without a request");
            let status = Status::failure(&error.to_string(), "BadRequest").with_code(400);
            return ConversionResponse::invalid(status).into_review();
        }
    };
    let desired = request.desired_api_version.clone();
    let converted: Result<Vec<_>, _> = std::mem::take(&mut request.objects)
        .into_iter()
        .map(|object| crate::conversion::convert(object, &desired))
        .collect();
    let response = ConversionResponse::for_request(request);
    match converted {
        Ok(objects) => response.success(objects),
        Err(error) => {
            tracing::info!(%error, desired, "webhook: conversion refused");
            response.failure(Status::failure(&error.to_string(), "Invalid").with_code(422))
        }
    }
    .into_review()
}

async fn handle_metal3_pool(
    State(client): State<Client>,
    Json(review): Json<AdmissionReview<crate::metal3::api::IPPool>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(review, |request| async move {
        metal3::admit_pool(&client, &request).await
    })
    .await
}

async fn handle_metal3_claim(
    Json(review): Json<AdmissionReview<crate::metal3::api::IPClaim>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(
        review,
        |request| async move { metal3::admit_claim(&request) },
    )
    .await
}

async fn handle_metal3_address(
    Json(review): Json<AdmissionReview<crate::metal3::api::IPAddress>>,
) -> Json<AdmissionReview<DynamicObject>> {
    answer(
        review,
        |request| async move { metal3::admit_address(&request) },
    )
    .await
}

/// Decodes a review, decides it with `decide`, logs a denial and answers.
async fn answer<K, F, Fut>(
    review: AdmissionReview<K>,
    decide: F,
) -> Json<AdmissionReview<DynamicObject>>
where
    K: kube::Resource,
    F: FnOnce(std::sync::Arc<AdmissionRequest<K>>) -> Fut,
    Fut: std::future::Future<Output = Verdict>,
{
    let request: AdmissionRequest<K> = match review.try_into() {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "webhook: an admission review without a request");
            return Json(AdmissionResponse::invalid(error).into_review());
        }
    };
    let request = std::sync::Arc::new(request);
    let verdict = decide(request.clone()).await;
    if let Err(denial) = &verdict {
        tracing::info!(kind = %request.kind.kind, name = %request.name,
            operation = ?request.operation, denial = denial.message(), "webhook denied");
    }
    Json(respond(&request, verdict).into_review())
}

async fn handle<P: AddressPool>(
    State(client): State<Client>,
    Json(review): Json<AdmissionReview<P>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let request: AdmissionRequest<P> = match review.try_into() {
        Ok(request) => request,
        Err(error) => {
            // No uid to answer to: the API server fails the call, and `failurePolicy: Fail`
            // refuses the request.
            tracing::warn!(%error, "webhook: an admission review without a request");
            return Json(AdmissionResponse::invalid(error).into_review());
        }
    };
    let verdict = admit(&client, &request).await;
    if let Err(denial) = &verdict {
        tracing::info!(
            kind = %request.kind.kind,
            namespace = request.namespace.as_deref().unwrap_or(""),
            name = %request.name,
            operation = ?request.operation,
            denial = denial.message(),
            "webhook denied"
        );
    }
    Json(respond(&request, verdict).into_review())
}

/// Decides one admission request for a pool of either kind.
pub async fn admit<P: AddressPool>(client: &Client, request: &AdmissionRequest<P>) -> Verdict {
    rules::pool_kind(&request.kind, &request.operation)?;
    match request.operation {
        Operation::Create | Operation::Update => admit_write(client, request).await,
        Operation::Delete => admit_delete(client, request, |name| key(request, name)).await,
        Operation::Connect => Ok(Vec::new()),
    }
}

async fn admit_write<P: AddressPool>(client: &Client, request: &AdmissionRequest<P>) -> Verdict {
    let pool = request
        .object
        .as_ref()
        .ok_or_else(|| Denial::bad_request("the admission request has no object"))?;
    let spec = pool.pool_spec();
    // Metadata-only writes (labels, the finalizer's removal on deletion) change nothing the
    // rules read; checking them would let a pool made before the webhook never be deleted.
    if request
        .old_object
        .as_ref()
        .is_some_and(|old| old.pool_spec() == spec)
    {
        return Ok(Vec::new());
    }
    let (kind, name) = (request.kind.kind.as_str(), pool.name_any());
    let (compiled, warnings) = rules::spec(kind, &name, spec)?;
    let key = key(request, &name);
    if request.operation == Operation::Update {
        let in_use = lookup::addresses(client, &key).await?;
        rules::keeps_addresses_in_use(&compiled, &in_use)?;
    }
    let others = lookup::pools_compared(client, &key).await?;
    rules::overlaps_none(kind, &name, spec, &compiled, &others)?;
    Ok(warnings)
}

/// Upstream's delete rule for a pool of any kind, `key` naming the pool from its name.
async fn admit_delete<K: kube::Resource>(
    client: &Client,
    request: &AdmissionRequest<K>,
    key: impl Fn(&str) -> PoolKey,
) -> Verdict {
    let pool = request
        .old_object
        .as_ref()
        .ok_or_else(|| Denial::bad_request("the admission request has no old object"))?;
    if rules::delete_unchecked(pool.annotations()) {
        return Ok(Vec::new());
    }
    let in_use = lookup::addresses(client, &key(&pool.name_any())).await?;
    rules::deletable(&in_use)?;
    Ok(Vec::new())
}

/// The pool the request is about, by the request's kind, not the route's: upstream serves
/// either kind on either path.
fn key<P: PoolObject>(request: &AdmissionRequest<P>, name: &str) -> PoolKey {
    match &request.namespace {
        Some(ns) => PoolKey::namespaced(GROUP, &request.kind.kind, ns, name),
        None => PoolKey::global(GROUP, &request.kind.kind, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(objects: serde_json::Value) -> ConversionReview {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": "u-1", "desiredAPIVersion": "ipam.cluster.x-k8s.io/v1alpha2",
                "objects": objects}
        }))
        .unwrap()
    }

    #[test]
    fn a_review_is_answered_for_its_uid_in_order() {
        let pool = |name: &str, subnet: &str| {
            json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InClusterIPPool",
                "metadata": {"name": name}, "spec": {"subnet": subnet}})
        };
        let answer = serde_json::to_value(convert_review(review(json!([
            pool("a", "10.0.0.0/24"),
            pool("b", "10.1.0.0/24")
        ]))))
        .unwrap();
        let response = &answer["response"];
        assert_eq!(response["uid"], "u-1");
        assert_eq!(response["result"]["status"], "Success");
        let names: Vec<_> = response["convertedObjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(answer["kind"], "ConversionReview");
    }

    #[test]
    fn one_bad_object_fails_the_review_with_its_reason() {
        let answer = serde_json::to_value(convert_review(review(json!([
            {"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InClusterIPPool",
                "metadata": {"name": "a"}, "spec": {"subnet": "10.0.0.0/99"}}
        ]))))
        .unwrap();
        let result = &answer["response"]["result"];
        assert_eq!(result["status"], "Failure");
        assert!(
            result["message"]
                .as_str()
                .unwrap()
                .starts_with("spec.subnet: Invalid value: \"10.0.0.0/99\""),
            "{result}"
        );
        assert_eq!(answer["response"]["convertedObjects"], json!([]));
    }
}
