//! The validating admission webhook of InClusterIPPool and GlobalInClusterIPPool, on the
//! upstream's paths: its create, update and delete rules with its exact messages and codes,
//! and what it lacks: overlap between pools, and clusterctl's `delete-for-move`.
//!
//! Overlap is checked against a fresh LIST, but two pools created at the same instant can
//! still both pass; admission cannot serialise writes to different objects.

mod lookup;
pub mod metal3;
pub mod rules;

use axum::Router;
use axum::extract::{Json, State};
use axum::routing::post;
use ipam_kube_support::webhook::{Denial, Verdict, respond};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::{Client, ResourceExt};

use crate::api::{GROUP, GlobalInClusterIPPool, InClusterIPPool};
use crate::pool_key::PoolKey;
use crate::pool_object::PoolObject;

pub const IN_CLUSTER_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-inclusterippool";
pub const GLOBAL_PATH: &str = "/validate-ipam-cluster-x-k8s-io-v1alpha2-globalinclusterippool";

/// The webhook's routes; each reads the cluster through `client`.
pub fn router(client: Client) -> Router {
    Router::new()
        .route(IN_CLUSTER_PATH, post(handle::<InClusterIPPool>))
        .route(GLOBAL_PATH, post(handle::<GlobalInClusterIPPool>))
        .route(metal3::POOL_PATH, post(handle_metal3_pool))
        .route(metal3::CLAIM_PATH, post(handle_metal3_claim))
        .route(metal3::ADDRESS_PATH, post(handle_metal3_address))
        .with_state(client)
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

async fn handle<P: PoolObject>(
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
pub async fn admit<P: PoolObject>(client: &Client, request: &AdmissionRequest<P>) -> Verdict {
    rules::pool_kind(&request.kind, &request.operation)?;
    match request.operation {
        Operation::Create | Operation::Update => admit_write(client, request).await,
        Operation::Delete => admit_delete(client, request).await,
        Operation::Connect => Ok(Vec::new()),
    }
}

async fn admit_write<P: PoolObject>(client: &Client, request: &AdmissionRequest<P>) -> Verdict {
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

async fn admit_delete<P: PoolObject>(client: &Client, request: &AdmissionRequest<P>) -> Verdict {
    let pool = request
        .old_object
        .as_ref()
        .ok_or_else(|| Denial::bad_request("the admission request has no old object"))?;
    if rules::delete_unchecked(pool.annotations()) {
        return Ok(Vec::new());
    }
    let in_use = lookup::addresses(client, &key(request, &pool.name_any())).await?;
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
