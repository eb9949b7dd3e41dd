//! The error catalogue. Every WAPI error body the simulator sends is built here, so tests
//! (ours and the operator's) can assert the exact `Error` / `code` / `text` triple.
//!
//! Texts marked "sim" in a comment are not in the reference: NIOS has an error for the case
//! but its wording is unknown, so the simulator picks a plausible one in the right class.

use axum::http::StatusCode;

/// The NIOS error class decides the `Error` prefix, the `code` and the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Proto,
    NotFound,
    Conflict,
    Data,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WapiError {
    #[error("Reference {0} not found")]
    RefNotFound(String),
    #[error("View {0} not found")]
    ViewNotFound(String),
    #[error("Network View {0} not found")]
    NetworkViewNotFound(String),
    #[error("The record '{0}' already exists.")]
    Duplicate(String),
    #[error("The action is not allowed. A parent was not found.")]
    NoParentZone,
    #[error("Cannot find {0} available IP address(es) in this network.")]
    NetworkFull(usize),
    /// sim
    #[error("Cannot find {0} available network(s) in this network container.")]
    ContainerFull(usize),
    #[error("{arg} does not match any unique networks/ranges ({field})")]
    NoUniqueTarget { arg: String, field: String },
    /// sim
    #[error("{arg} does not match any unique network containers ({field})")]
    NoUniqueContainer { arg: String, field: String },
    #[error("Unknown argument/field: {0}")]
    UnknownField(String),
    #[error("Field is not searchable: {0}")]
    NotSearchable(String),
    /// sim (the reference says the wording is uncertain)
    #[error("Field is not writable: {0}")]
    ReadOnlyField(String),
    #[error("Unknown object type ({0})")]
    UnknownObjectType(String),
    #[error("Result set too large (> {0})")]
    TooManyResults(u64),
    #[error("_return_as_object needs to be enabled for paging requests.")]
    PagingNeedsObject,
    /// sim
    #[error("Page id {0} is not valid or has expired")]
    BadPageId(String),
    #[error("Unknown extensible attribute: {0}")]
    UnknownEa(String),
    #[error("Version {0} not supported")]
    UnsupportedVersion(String),
    /// sim
    #[error("Invalid value for {field}: {value}")]
    InvalidValue { field: String, value: String },
    /// sim
    #[error("Required field missing: {0}")]
    MissingField(String),
    /// sim: the conflicts below exist on NIOS too; the reference does not record their wording.
    #[error("The default network view cannot be deleted.")]
    DefaultNetworkView,
    /// sim
    #[error("The default DNS view cannot be deleted.")]
    DefaultDnsView,
    /// sim
    #[error("The network {0} would contain existing networks; create a network container instead.")]
    LeafOverNetworks(String),
    /// sim
    #[error("The range {range} is not inside a network in network view {network_view}.")]
    RangeOutsideNetwork { range: String, network_view: String },
    /// sim
    #[error("The range {0} overlaps an existing range.")]
    RangeOverlap(String),
    /// sim: an address allocated from one network view for an object in another.
    #[error(
        "The network view {target} of the requested address does not match the network view {object} of the object."
    )]
    ViewMismatch { target: String, object: String },
    /// sim
    #[error("Function {func} is not valid for this object type ({object})")]
    UnknownFunction { func: String, object: String },
    /// sim
    #[error("Method {method} is not supported for {target}")]
    BadMethod { method: String, target: String },
    /// A body chosen by a fault-injection rule.
    #[error("{text}")]
    Injected {
        status: u16,
        error: String,
        code: String,
        text: String,
    },
}

impl WapiError {
    pub fn class(&self) -> Class {
        use WapiError::*;
        match self {
            RefNotFound(_) | ViewNotFound(_) | NetworkViewNotFound(_) => Class::NotFound,
            Duplicate(_)
            | NoParentZone
            | DefaultNetworkView
            | DefaultDnsView
            | LeafOverNetworks(_)
            | RangeOutsideNetwork { .. }
            | RangeOverlap(_)
            | ViewMismatch { .. } => Class::Conflict,
            NetworkFull(_) | ContainerFull(_) => Class::Data,
            _ => Class::Proto,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WapiError::Injected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            _ if self.class() == Class::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `code` member.
    pub fn code(&self) -> String {
        if let WapiError::Injected { code, .. } = self {
            return code.clone();
        }
        match self.class() {
            Class::Proto => "Client.Ibap.Proto",
            Class::NotFound => "Client.Ibap.Data.NotFound",
            Class::Conflict => "Client.Ibap.Data.Conflict",
            Class::Data => "Client.Ibap.Data",
        }
        .to_string()
    }

    /// The `text` member: the human part without the class wrapper.
    pub fn text(&self) -> String {
        self.to_string()
    }

    /// The `Error` member: class name, then the text, wrapped the way NIOS wraps data errors.
    pub fn error(&self) -> String {
        if let WapiError::Injected { error, .. } = self {
            return error.clone();
        }
        let text = self.text();
        match self.class() {
            Class::Proto => format!("AdmConProtoError: {text}"),
            Class::NotFound => format!("AdmConDataNotFoundError: {text}"),
            Class::Conflict => {
                format!("AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:{text})")
            }
            Class::Data => format!("AdmConDataError: None (IBDataError: IB.Data:{text})"),
        }
    }

    /// The body NIOS sends: lightly pretty-printed, `Error` first.
    pub fn body(&self) -> String {
        let q = |s: String| serde_json::Value::String(s).to_string();
        format!(
            "{{ \"Error\": {}, \n  \"code\": {}, \n  \"text\": {}\n}}",
            q(self.error()),
            q(self.code()),
            q(self.text())
        )
    }
}

pub type WapiResult<T> = Result<T, WapiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_full_has_the_data_wrapper() {
        let e = WapiError::NetworkFull(1);
        assert_eq!(
            e.error(),
            "AdmConDataError: None (IBDataError: IB.Data:Cannot find 1 available IP address(es) in this network.)"
        );
        assert_eq!(e.code(), "Client.Ibap.Data");
        assert_eq!(
            e.text(),
            "Cannot find 1 available IP address(es) in this network."
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn duplicate_is_a_conflict() {
        let e = WapiError::Duplicate("h.example.com".into());
        assert_eq!(
            e.error(),
            "AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:The record 'h.example.com' already exists.)"
        );
        assert_eq!(e.code(), "Client.Ibap.Data.Conflict");
    }

    #[test]
    fn not_found_is_404_and_body_starts_with_error() {
        let e = WapiError::RefNotFound("network/abc".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let body = e.body();
        assert!(body.starts_with(
            "{ \"Error\": \"AdmConDataNotFoundError: Reference network/abc not found\""
        ));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "Client.Ibap.Data.NotFound");
    }
}
