//! WAPI failures, classified from the HTTP status and the NIOS error body
//! (`{"Error": …, "code": …, "text": …}`, infoblox-wapi.md §2.8) so callers can act on the
//! class instead of parsing texts. No variant carries a credential: the request URL holds
//! none, and bodies are error texts from the server.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WapiError {
    /// The server could not be reached: DNS, connect, TLS handshake, or a connection dropped
    /// before an answer.
    #[error(
        "cannot reach {endpoint}: {detail}; check spec.host/spec.port, the network path and the CA bundle"
    )]
    Unreachable { endpoint: String, detail: String },
    /// No answer within the request timeout. For a write the change may have been committed.
    #[error(
        "{method} {path} on {endpoint} got no answer within {secs}s; the server may be overloaded or the timeout too short"
    )]
    Timeout {
        endpoint: String,
        method: String,
        path: String,
        secs: u64,
    },
    /// 401: the credentials were refused.
    #[error(
        "{endpoint} refused the credentials (HTTP 401); check the username/password or client certificate in the credentials Secret"
    )]
    Unauthorized { endpoint: String },
    /// The WAPI version in the URL is not served.
    #[error(
        "{endpoint} does not serve WAPI version {version} ({text}); set spec.wapiVersion to a version the Grid Master supports"
    )]
    UnsupportedVersion {
        endpoint: String,
        version: String,
        text: String,
    },
    /// The object (or a view it names) does not exist.
    #[error("not found: {text}")]
    NotFound { text: String },
    /// A record with this name exists, or the write conflicts with another object.
    #[error("conflict: {text}")]
    Conflict { text: String },
    /// `func:nextavailableip` found no free address in the network.
    #[error("network full: {text}")]
    NetworkFull { text: String },
    /// The request was refused as invalid (unknown field, bad argument, missing parent zone…).
    #[error("request refused (HTTP {status}): {text}")]
    Validation { status: u16, text: String },
    /// The server failed (5xx) or answered something that is no WAPI answer.
    #[error("server error (HTTP {status}): {text}")]
    Server { status: u16, text: String },
}

impl WapiError {
    /// Whether sending the same idempotent request again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WapiError::Unreachable { .. } | WapiError::Timeout { .. } | WapiError::Server { .. }
        )
    }

    /// Short CamelCase name of the class, for condition reasons and events.
    pub fn reason(&self) -> &'static str {
        match self {
            WapiError::Unreachable { .. } | WapiError::Timeout { .. } => "InfobloxUnreachable",
            WapiError::Unauthorized { .. } => "AuthenticationFailed",
            WapiError::UnsupportedVersion { .. } => "WAPIVersionUnsupported",
            WapiError::NotFound { .. } => "NotFound",
            WapiError::Conflict { .. } => "Conflict",
            WapiError::NetworkFull { .. } => "NetworkFull",
            WapiError::Validation { .. } => "RequestRefused",
            WapiError::Server { .. } => "InfobloxError",
        }
    }
}

/// The NIOS error envelope.
#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(default, rename = "Error")]
    error: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    text: String,
}

/// Classifies a non-success answer. `endpoint` and `version` only serve the messages.
pub fn classify(status: u16, body: &str, endpoint: &str, version: &str) -> WapiError {
    if status == 401 {
        return WapiError::Unauthorized {
            endpoint: endpoint.into(),
        };
    }
    let envelope: Envelope = serde_json::from_str(body).unwrap_or_default();
    let text = if !envelope.text.is_empty() {
        envelope.text.clone()
    } else if !envelope.error.is_empty() {
        envelope.error.clone()
    } else {
        // HTML (Apache-level failures) or nothing: keep it short, it ends up in conditions.
        body.chars().take(200).collect()
    };
    // "Network full" is told by its text: the code varies between releases (§2.8).
    let full = |t: &str| t.contains("Cannot find") && t.contains("available IP");
    if full(&text) || full(&envelope.error) {
        return WapiError::NetworkFull { text };
    }
    if text.starts_with("Version ") && text.ends_with("not supported") {
        return WapiError::UnsupportedVersion {
            endpoint: endpoint.into(),
            version: version.into(),
            text,
        };
    }
    if status == 404 || envelope.code.contains("NotFound") {
        return WapiError::NotFound { text };
    }
    if envelope.code.contains("Conflict") {
        return WapiError::Conflict { text };
    }
    match status {
        400..=499 => WapiError::Validation { status, text },
        _ => WapiError::Server { status, text },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> WapiError {
        classify(status, body, "gm:443", "2.12")
    }

    #[test]
    fn classes_follow_the_nios_catalogue() {
        assert!(matches!(
            c(
                401,
                "<html><title>401 Authorization Required</title></html>"
            ),
            WapiError::Unauthorized { .. }
        ));
        assert!(matches!(
            c(
                404,
                r#"{"Error":"AdmConDataNotFoundError: Reference record:host/x not found","code":"Client.Ibap.Data.NotFound","text":"Reference record:host/x not found"}"#
            ),
            WapiError::NotFound { .. }
        ));
        assert!(matches!(
            c(
                400,
                r#"{"Error":"AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:The record 'a' already exists.)","code":"Client.Ibap.Data.Conflict","text":"The record 'a' already exists."}"#
            ),
            WapiError::Conflict { .. }
        ));
        // The code varies and the final period may be missing: the text decides.
        assert!(matches!(
            c(
                400,
                r#"{"Error":"AdmConDataError: None (IBDataError: IB.Data:Cannot find 1 available IP address(es) in this network)","code":"Client.Ibap.Data.Conflict","text":"Cannot find 1 available IP address(es) in this network"}"#
            ),
            WapiError::NetworkFull { .. }
        ));
        assert!(matches!(
            c(
                400,
                r#"{"Error":"AdmConProtoError: Unknown argument/field: x","code":"Client.Ibap.Proto","text":"Unknown argument/field: x"}"#
            ),
            WapiError::Validation { status: 400, .. }
        ));
        assert!(matches!(
            c(
                400,
                r#"{"Error":"AdmConProtoError: Version 9.9 not supported","code":"Client.Ibap.Proto","text":"Version 9.9 not supported"}"#
            ),
            WapiError::UnsupportedVersion { .. }
        ));
        let server = c(503, "<html>busy</html>");
        assert!(matches!(server, WapiError::Server { status: 503, .. }));
        assert!(server.is_transient());
        assert!(!c(400, "{}").is_transient());
    }
}
