//! What one pass over a claim came to, in the same words for every kind of claim: the `Ready`
//! condition to show (or nothing to write), the address object to reference, and when to
//! look again. Each claim controller's decision returns one; its apply step writes it once.

use std::time::Duration;

use kube::runtime::controller::Action;

use crate::conditions::{Decision, READY};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The `Ready` condition to show; `None` leaves the status as it is.
    pub ready: Option<Decision>,
    /// The address object the claim references once Ready; `None` keeps what it shows.
    pub address: Option<String>,
    /// Metal3's `errorMessage`, in upstream's words (Cluster API claims have none).
    pub error_message: Option<String>,
    /// A Warning event to tell beside the condition, when the condition changes.
    pub warning: Option<&'static str>,
    /// When to look again though nothing changed; `None` waits for a change.
    pub retry: Option<Duration>,
}

impl Outcome {
    /// Nothing to write: the claim shows its state already, or must be left alone.
    pub fn quiet() -> Self {
        Outcome {
            ready: None,
            address: None,
            error_message: None,
            warning: None,
            retry: None,
        }
    }

    /// Not Ready (yet), for `reason`.
    pub fn waiting(reason: &'static str, message: impl Into<String>) -> Self {
        Outcome {
            ready: Some(Decision::new(READY, false, reason, message)),
            ..Outcome::quiet()
        }
    }

    /// Ready, with the address object `address`.
    pub fn allocated(address: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome {
            ready: Some(Decision::new(READY, true, "Allocated", message)),
            address: Some(address.into()),
            ..Outcome::quiet()
        }
    }

    pub fn retry_after(self, retry: Duration) -> Self {
        Outcome {
            retry: Some(retry),
            ..self
        }
    }

    pub fn warn(self, event_reason: &'static str) -> Self {
        Outcome {
            warning: Some(event_reason),
            ..self
        }
    }

    pub fn with_error_message(self, message: impl Into<String>) -> Self {
        Outcome {
            error_message: Some(message.into()),
            ..self
        }
    }

    /// The reason shown, if anything is written: what the tests of each decision assert.
    pub fn reason(&self) -> Option<&'static str> {
        self.ready.as_ref().map(|d| d.reason)
    }

    /// When the controller looks at the claim again.
    pub fn action(&self) -> Action {
        match self.retry {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_writes_nothing_and_waits_for_a_change() {
        let o = Outcome::quiet();
        assert_eq!(o.reason(), None);
        assert_eq!(o.action(), Action::await_change());
    }

    #[test]
    fn a_retry_comes_back_after_its_delay() {
        let o = Outcome::waiting("PoolExhausted", "full").retry_after(Duration::from_secs(10));
        assert_eq!(o.reason(), Some("PoolExhausted"));
        assert_eq!(o.action(), Action::requeue(Duration::from_secs(10)));
    }

    #[test]
    fn allocated_is_ready_and_names_its_address() {
        let o = Outcome::allocated("c1", "10.0.0.2 allocated");
        let ready = o.ready.unwrap();
        assert!(ready.status);
        assert_eq!(ready.reason, "Allocated");
        assert_eq!(o.address.as_deref(), Some("c1"));
    }
}
