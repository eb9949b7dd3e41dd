//! Admission responses with the full API `Status`, as controller-runtime webhooks return it:
//! the API server keeps a denial's code, reason and details and only prefixes the message
//! with `admission webhook "<name>" denied the request: `, so a client sees the same error
//! it would get from the upstream provider.

use kube::Resource;
use kube::core::Status;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};
use kube::core::response::{StatusCause, StatusDetails};

/// Why a request is refused: a complete `Status`, built by one of the constructors (boxed,
/// as in `kube::Error::Api`, to keep `Result`s small).
#[derive(Clone, Debug, PartialEq)]
pub struct Denial(pub Box<Status>);

impl Denial {
    /// 422 `Invalid`, as `apierrors.NewInvalid` builds it: `message` is the aggregated text
    /// (`<Kind>.<group> "<name>" is invalid: …`) and each cause names one field.
    pub fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        message: impl Into<String>,
        causes: Vec<StatusCause>,
    ) -> Self {
        Denial(
            Status::failure(&message.into(), "Invalid")
                .with_code(422)
                .with_details(StatusDetails {
                    name: name.into(),
                    group: group.into(),
                    kind: kind.into(),
                    uid: String::new(),
                    causes,
                    retry_after_seconds: 0,
                })
                .boxed(),
        )
    }

    /// 400 `BadRequest`, as `apierrors.NewBadRequest` builds it: the refusal of a request
    /// that is well-formed but not allowed in the cluster's current state.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Denial(
            Status::failure(&message.into(), "BadRequest")
                .with_code(400)
                .boxed(),
        )
    }

    /// 403 `Forbidden`, as controller-runtime's `admission.Denied` answers a plain error.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Denial(
            Status::failure(&message.into(), "Forbidden")
                .with_code(403)
                .boxed(),
        )
    }

    /// 500 `InternalError`: the webhook could not decide (e.g. a LIST failed). With
    /// `failurePolicy: Fail` the request is refused, which is the safe side.
    pub fn internal(message: impl Into<String>) -> Self {
        Denial(
            Status::failure(&message.into(), "InternalError")
                .with_code(500)
                .boxed(),
        )
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

/// The cause of an `Invalid` denial for one field, with the body Go's `field.Error` prints
/// after the path (`Invalid value: <value>: <detail>`).
pub fn invalid_field(field: impl Into<String>, body: impl Into<String>) -> StatusCause {
    StatusCause {
        reason: "FieldValueInvalid".into(),
        message: body.into(),
        field: field.into(),
    }
}

/// What a validating webhook decided: allowed (with warnings for the client), or denied.
pub type Verdict = Result<Vec<String>, Denial>;

/// The response to `request`: its uid copied, the verdict's status or warnings set.
pub fn respond<T: Resource>(request: &AdmissionRequest<T>, verdict: Verdict) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    match verdict {
        Ok(warnings) => {
            if !warnings.is_empty() {
                response.warnings = Some(warnings);
            }
        }
        Err(Denial(status)) => {
            response.allowed = false;
            response.result = *status;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::DynamicObject;
    use kube::core::admission::{AdmissionReview, Operation};
    use serde_json::json;

    fn request() -> AdmissionRequest<DynamicObject> {
        let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "0c9a8d74", "operation": "CREATE", "name": "p", "namespace": "ns",
                "kind": {"group": "ipam.cluster.x-k8s.io", "version": "v1alpha2", "kind": "InClusterIPPool"},
                "resource": {"group": "ipam.cluster.x-k8s.io", "version": "v1alpha2", "resource": "inclusterippools"},
                "userInfo": {}, "object": {"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2",
                    "kind": "InClusterIPPool", "metadata": {"name": "p"}}
            }
        }))
        .unwrap();
        let request: AdmissionRequest<DynamicObject> = review.try_into().unwrap();
        assert_eq!(request.operation, Operation::Create);
        request
    }

    #[test]
    fn an_invalid_denial_carries_the_full_status_as_controller_runtime_sends_it() {
        let denial = Denial::invalid(
            "ipam.cluster.x-k8s.io",
            "InClusterIPPool",
            "p",
            "InClusterIPPool.ipam.cluster.x-k8s.io \"p\" is invalid: spec.addresses: Invalid value: []string{}: addresses is required",
            vec![invalid_field(
                "spec.addresses",
                "Invalid value: []string{}: addresses is required",
            )],
        );
        let review = respond(&request(), Err(denial)).into_review();
        let wire = serde_json::to_value(&review).unwrap();
        assert_eq!(
            wire,
            json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {
                    "uid": "0c9a8d74", "allowed": false,
                    "status": {
                        "status": "Failure", "code": 422, "reason": "Invalid",
                        "message": "InClusterIPPool.ipam.cluster.x-k8s.io \"p\" is invalid: spec.addresses: Invalid value: []string{}: addresses is required",
                        "details": {"name": "p", "group": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool",
                            "causes": [{"reason": "FieldValueInvalid", "field": "spec.addresses",
                                "message": "Invalid value: []string{}: addresses is required"}]}
                    }
                }
            })
        );
    }

    #[test]
    fn in_use_refusals_are_bad_requests_and_allowances_carry_warnings() {
        let denied = respond(&request(), Err(Denial::bad_request("in use")));
        assert!(!denied.allowed);
        assert_eq!(
            (denied.result.code, denied.result.reason.as_str()),
            (400, "BadRequest")
        );
        assert_eq!(denied.result.message, "in use");

        let allowed = respond(&request(), Ok(vec!["spec.gateway: outside".into()]));
        assert!(allowed.allowed);
        assert_eq!(allowed.uid, "0c9a8d74");
        assert_eq!(
            allowed.warnings.as_deref(),
            Some(&["spec.gateway: outside".to_string()][..])
        );
        assert_eq!(respond(&request(), Ok(vec![])).warnings, None);
    }
}
