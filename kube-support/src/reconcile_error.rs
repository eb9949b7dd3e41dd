//! The one error every controller's reconcile returns, and the one `error_policy` that
//! answers it. The error names the object and the step that failed, so a log line says
//! where to look ("IPAddressClaim ns/c: write the IPAddress: …") rather than only what the
//! API server said.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

/// How long a failed reconcile waits before its retry, unless a controller says otherwise.
pub const RETRY: Duration = Duration::from_secs(2);

/// A conflict only means a newer version exists (another worker or replica wrote first), so
/// its retry comes at once rather than after [`RETRY`].
const CONFLICT_RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
#[error("{kind} {object}: {step}: {source}")]
pub struct ReconcileError {
    pub kind: String,
    /// `namespace/name`, or the name of a cluster-scoped object.
    pub object: String,
    /// What the reconcile was doing, in a few words.
    pub step: &'static str,
    #[source]
    pub source: kube::Error,
}

impl ReconcileError {
    /// Whether the API server refused a write based on a stale read.
    pub fn is_conflict(&self) -> bool {
        matches!(&self.source, kube::Error::Api(e) if e.code == 409 || e.code == 422)
    }
}

/// The object one reconcile is about: made once at its start, it turns each failed step into
/// a [`ReconcileError`] naming both.
#[derive(Clone, Debug)]
pub struct Reconciling {
    kind: String,
    object: String,
}

impl Reconciling {
    pub fn new<K: Resource<DynamicType = ()>>(obj: &K) -> Self {
        let object = match obj.namespace() {
            Some(ns) => format!("{ns}/{}", obj.name_any()),
            None => obj.name_any(),
        };
        Reconciling {
            kind: K::kind(&()).into_owned(),
            object,
        }
    }

    /// For `map_err`: the error of `step`.
    pub fn at(&self, step: &'static str) -> impl FnOnce(kube::Error) -> ReconcileError + '_ {
        move |source| ReconcileError {
            kind: self.kind.clone(),
            object: self.object.clone(),
            step,
            source,
        }
    }
}

/// The `error_policy` of every controller: a conflict is retried at once, anything else
/// after `later`, with a warning that names the object and the step.
pub fn retry_after<K, C>(later: Duration) -> impl Fn(Arc<K>, &ReconcileError, Arc<C>) -> Action {
    move |_, error, _| {
        if error.is_conflict() {
            tracing::debug!(%error, "conflict; retrying");
            Action::requeue(CONFLICT_RETRY)
        } else {
            tracing::warn!(%error, "reconcile failed; retrying");
            Action::requeue(later)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::IPAddressClaim;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("refused", "Conflict")
                .with_code(code)
                .boxed(),
        )
    }

    fn claim() -> IPAddressClaim {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
            "kind": "IPAddressClaim",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"poolRef": {"apiGroup": "g", "kind": "K", "name": "p"}},
        }))
        .unwrap()
    }

    #[test]
    fn names_the_kind_the_object_and_the_step() {
        let error = Reconciling::new(&claim()).at("write the IPAddress")(api_error(500));
        let text = error.to_string();
        assert!(
            text.starts_with("IPAddressClaim ns/c: write the IPAddress: "),
            "{text}"
        );
    }

    #[test]
    fn a_conflict_is_retried_at_once_anything_else_later() {
        let policy = retry_after::<IPAddressClaim, ()>(Duration::from_secs(7));
        let on = |code| {
            let error = Reconciling::new(&claim()).at("step")(api_error(code));
            policy(Arc::new(claim()), &error, Arc::new(()))
        };
        assert_eq!(on(409), Action::requeue(CONFLICT_RETRY));
        assert_eq!(on(422), Action::requeue(CONFLICT_RETRY));
        assert_eq!(on(500), Action::requeue(Duration::from_secs(7)));
    }
}
