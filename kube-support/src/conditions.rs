//! `metav1.Condition` lists, written so that a status write is deterministic: the transition
//! time only moves when the status flips, so an unchanged decision writes nothing new.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The condition every controller of this project reports.
pub const READY: &str = "Ready";

/// What a controller decided about one condition type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Decision {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Decision {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Merges `decision` into `conditions`, keeping `lastTransitionTime` unless the status flips.
pub fn set(conditions: &mut Vec<Condition>, decision: &Decision, observed_generation: Option<i64>) {
    let status = if decision.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == decision.type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = Time(Timestamp::now());
            }
            existing.status = status;
            existing.reason = decision.reason.to_string();
            existing.message = decision.message.clone();
            existing.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: decision.type_.to_string(),
            status,
            reason: decision.reason.to_string(),
            message: decision.message.clone(),
            observed_generation,
            last_transition_time: Time(Timestamp::now()),
        }),
    }
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when `conditions` already says exactly what `decision` says.
pub fn matches(
    conditions: &[Condition],
    decision: &Decision,
    observed_generation: Option<i64>,
) -> bool {
    find(conditions, decision.type_).is_some_and(|c| {
        c.status == if decision.status { "True" } else { "False" }
            && c.reason == decision.reason
            && c.message == decision.message
            && c.observed_generation == observed_generation
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            &Decision::new(READY, false, "PoolExhausted", "full"),
            Some(1),
        );
        let first = conditions[0].last_transition_time.clone();

        std::thread::sleep(std::time::Duration::from_millis(5));
        set(
            &mut conditions,
            &Decision::new(READY, false, "PoolNotReady", "gone"),
            Some(2),
        );
        assert_eq!(
            conditions[0].last_transition_time, first,
            "same status keeps the time"
        );
        assert_eq!(conditions[0].reason, "PoolNotReady");

        std::thread::sleep(std::time::Duration::from_millis(5));
        set(
            &mut conditions,
            &Decision::new(READY, true, "Allocated", "10.0.0.2"),
            Some(2),
        );
        assert_ne!(
            conditions[0].last_transition_time, first,
            "a flip moves the time"
        );
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn matches_compares_status_reason_message_and_generation() {
        let mut conditions = Vec::new();
        let d = Decision::new(READY, true, "Allocated", "10.0.0.2");
        assert!(!matches(&conditions, &d, Some(1)));
        set(&mut conditions, &d, Some(1));
        assert!(matches(&conditions, &d, Some(1)));
        assert!(!matches(&conditions, &d, Some(2)));
        assert!(!matches(
            &conditions,
            &Decision::new(READY, true, "Allocated", "10.0.0.3"),
            Some(1)
        ));
    }
}
