//! Paces the pool controllers. In a burst of claims a pool's addresses change hundreds of
//! times a second, and each change would mean a recount of the pool and a status write:
//! the counts are written at most once per [`PACE`] instead, the last change of a burst
//! included (a paced pass comes back when its turn is due).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipam_kube_support::conditions::{self, READY};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::pool_key::PoolKey;

/// The least time between two status passes of one pool.
pub const PACE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Pacer {
    last: Mutex<HashMap<PoolKey, Instant>>,
}

impl Pacer {
    /// `None`: this pass goes ahead (and counts as the pool's latest). `Some(wait)`: the
    /// pass comes back after `wait`. Only a pool whose status shows its current spec is
    /// paced: a new or edited pool is answered at once.
    pub fn turn(
        &self,
        pool: &PoolKey,
        status: &[Condition],
        generation: Option<i64>,
    ) -> Option<Duration> {
        let settled = conditions::find(status, READY).is_some_and(|c| {
            c.observed_generation.is_some() && c.observed_generation == generation
        });
        let mut last = self.last.lock().expect("pacer lock");
        let now = Instant::now();
        if settled
            && let Some(at) = last.get(pool)
            && now.duration_since(*at) < PACE
        {
            return Some(PACE - now.duration_since(*at));
        }
        last.insert(pool.clone(), now);
        None
    }

    /// Forgets a deleted pool.
    pub fn forget(&self, pool: &PoolKey) {
        self.last.lock().expect("pacer lock").remove(pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(observed: i64) -> Vec<Condition> {
        vec![Condition {
            type_: READY.into(),
            status: "True".into(),
            observed_generation: Some(observed),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ),
            message: String::new(),
            reason: "PoolReady".into(),
        }]
    }

    #[test]
    fn a_settled_pool_gets_one_pass_per_pace() {
        let pacer = Pacer::default();
        let pool = PoolKey::namespaced("g", "K", "ns", "p");
        assert_eq!(pacer.turn(&pool, &ready(1), Some(1)), None);
        let wait = pacer.turn(&pool, &ready(1), Some(1)).expect("paced");
        assert!(wait <= PACE && wait > Duration::ZERO);
        // Another pool has its own pace.
        let other = PoolKey::namespaced("g", "K", "ns", "q");
        assert_eq!(pacer.turn(&other, &ready(1), Some(1)), None);
    }

    #[test]
    fn a_new_or_edited_pool_is_never_paced() {
        let pacer = Pacer::default();
        let pool = PoolKey::namespaced("g", "K", "ns", "p");
        assert_eq!(pacer.turn(&pool, &[], Some(1)), None);
        assert_eq!(pacer.turn(&pool, &[], Some(1)), None);
        assert_eq!(pacer.turn(&pool, &ready(1), Some(2)), None);
        pacer.forget(&pool);
        assert_eq!(pacer.turn(&pool, &ready(2), Some(2)), None);
    }
}
