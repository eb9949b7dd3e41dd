//! Counts and times every admission request the server answers, by the kind and operation
//! the AdmissionReview names and the verdict it returns — for every route, whatever backend
//! provides it, so a new webhook is measured without doing anything.

use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Reviews are a few KiB; the API server caps request bodies at 3 MiB.
const LIMIT: usize = 8 << 20;

/// What an AdmissionReview asks: (kind, operation); `unknown` where it is unreadable.
fn asked(body: &[u8]) -> (String, String) {
    let review: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |pointer: &str| {
        review
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    (field("/request/kind/kind"), field("/request/operation"))
}

/// `allowed`, `denied`, or `error` when the webhook could not decide (a 500 status in the
/// review, or no review at all).
fn verdict(status: axum::http::StatusCode, body: &[u8]) -> &'static str {
    if !status.is_success() {
        return "error";
    }
    let review: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match review
        .pointer("/response/allowed")
        .and_then(|v| v.as_bool())
    {
        Some(true) => "allowed",
        Some(false)
            if review
                .pointer("/response/status/code")
                .and_then(|c| c.as_u64())
                .is_some_and(|c| c >= 500) =>
        {
            "error"
        }
        Some(false) => "denied",
        None => "error",
    }
}

pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, LIMIT).await.unwrap_or_else(|_| Bytes::new());
    let (kind, operation) = asked(&body);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, LIMIT).await.unwrap_or_else(|_| Bytes::new());
    let verdict = verdict(parts.status, &body);
    crate::metrics::get()
        .serving
        .webhook_request(&kind, &operation, verdict, started.elapsed());
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn verdicts() {
        let ok = StatusCode::OK;
        assert_eq!(verdict(ok, br#"{"response":{"allowed":true}}"#), "allowed");
        assert_eq!(
            verdict(
                ok,
                br#"{"response":{"allowed":false,"status":{"code":422}}}"#
            ),
            "denied"
        );
        assert_eq!(
            verdict(
                ok,
                br#"{"response":{"allowed":false,"status":{"code":500}}}"#
            ),
            "error"
        );
        assert_eq!(
            verdict(StatusCode::UNPROCESSABLE_ENTITY, b"bad json"),
            "error"
        );
        assert_eq!(
            asked(br#"{"request":{"kind":{"kind":"IPPool"},"operation":"DELETE"}}"#),
            ("IPPool".to_string(), "DELETE".to_string())
        );
        assert_eq!(
            asked(b"nope"),
            ("unknown".to_string(), "unknown".to_string())
        );
    }
}
