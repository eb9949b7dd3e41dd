//! `/metrics` served the way Cluster API managers serve it by default: over HTTPS, to
//! callers the API server authenticates (TokenReview of their bearer token) and authorizes
//! for `get` on the path (SubjectAccessReview) — what `--diagnostics-address` without
//! `--insecure-diagnostics` means upstream. Prometheus scrapes it with its ServiceAccount's
//! token and a ClusterRole allowing `get` on the non-resource URL `/metrics`.
//!
//! The certificate is generated at start and kept in memory, as controller-runtime does
//! when no certificate directory is given; scrapers skip its verification or pin it.
//! Each request is reviewed afresh (two API requests per scrape, every scrape interval):
//! no cache, so a revoked token or role takes effect at once.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// Who may see `router`'s routes: the bearer of a token the API server accepts, allowed
/// `get` on the path.
pub fn guarded(router: Router, client: Client) -> Router {
    router.layer(middleware::from_fn_with_state(Arc::new(client), guard))
}

async fn guard(State(client): State<Arc<Client>>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
    };
    let path = request.uri().path().to_string();
    match review(&client, token, &path).await {
        Ok(Access::Allowed) => next.run(request).await,
        Ok(Access::Unauthenticated) => {
            (StatusCode::UNAUTHORIZED, "the token was not accepted").into_response()
        }
        Ok(Access::Forbidden(user)) => {
            (StatusCode::FORBIDDEN, format!("{user} may not get {path}")).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "diagnostics: cannot review a caller");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot review the caller with the API server",
            )
                .into_response()
        }
    }
}

enum Access {
    Allowed,
    Unauthenticated,
    Forbidden(String),
}

async fn review(client: &Client, token: String, path: &str) -> Result<Access, kube::Error> {
    let asked = TokenReview {
        spec: TokenReviewSpec {
            token,
            ..Default::default()
        },
        ..Default::default()
    };
    let reviewed = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &asked)
        .await?;
    let status = reviewed.status.unwrap_or_default();
    let (true, Some(user)) = (status.authenticated == Some(true), status.user) else {
        return Ok(Access::Unauthenticated);
    };
    let name = user.username.clone().unwrap_or_default();
    let allowed = allowed(client, user, path).await?;
    Ok(if allowed {
        Access::Allowed
    } else {
        Access::Forbidden(name)
    })
}

async fn allowed(client: &Client, user: UserInfo, path: &str) -> Result<bool, kube::Error> {
    let asked = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.to_string()),
                verb: Some("get".into()),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviewed = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &asked)
        .await?;
    Ok(reviewed.status.is_some_and(|s| s.allowed))
}
