//! What every claim must find true of its pool before anything is handed out from it,
//! whatever the kind of claim or pool: one function, so a rule added here holds for all.
//!
//! - A missing pool hands out nothing; the claim says so and waits for it to be created.
//! - A paused pool (`cluster.x-k8s.io/paused`, e.g. during `clusterctl move`) is left alone
//!   and nothing is written, as the CAPI IPAM contract and upstream providers do.
//! - A pool being deleted hands out nothing, so its deletion can finish.
//! - A pool its controller has not yet put its finalizer on hands out nothing: deleted before
//!   that, it would go at once, under the address just taken.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::capi::keys::PAUSED_ANNOTATION;
use crate::claim_outcome::Outcome;

/// What the gate reads of a pool, whatever its kind.
pub struct PoolFacts<'a> {
    pub meta: &'a ObjectMeta,
    /// The finalizer the pool's controller protects it with; `None` when no controller of
    /// this process does (a global pool, seen by an operator scoped to one namespace).
    pub protected_by: Option<&'a str>,
}

/// `None` when the pool may hand out an address; otherwise what the claim shows meanwhile.
/// `described` names the pool ("InClusterIPPool ns/p"), `field` the claim's field naming it.
pub fn check(described: &str, field: &str, pool: Option<PoolFacts<'_>>) -> Option<Outcome> {
    let Some(pool) = pool else {
        return Some(Outcome::waiting(
            "PoolNotFound",
            format!("{described} does not exist; create it or fix {field}"),
        ));
    };
    let annotations = pool.meta.annotations.as_ref();
    if annotations.is_some_and(|a| a.contains_key(PAUSED_ANNOTATION)) {
        return Some(Outcome::quiet());
    }
    if pool.meta.deletion_timestamp.is_some() {
        return Some(Outcome::waiting(
            "PoolNotReady",
            format!("{described} is being deleted"),
        ));
    }
    let finalizers = pool.meta.finalizers.as_deref().unwrap_or_default();
    if let Some(finalizer) = pool.protected_by
        && !finalizers.iter().any(|f| f == finalizer)
    {
        return Some(Outcome::waiting(
            "PoolNotReady",
            format!("{described} is not protected by its finalizer yet"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const FINALIZER: &str = "example.io/protect";

    fn protected() -> ObjectMeta {
        ObjectMeta {
            name: Some("p".into()),
            finalizers: Some(vec![FINALIZER.into()]),
            ..Default::default()
        }
    }

    fn gate(meta: Option<&ObjectMeta>, protected_by: Option<&str>) -> Option<Outcome> {
        let facts = meta.map(|meta| PoolFacts { meta, protected_by });
        check("Pool ns/p", "spec.poolRef.name", facts)
    }

    #[test]
    fn a_missing_pool_is_named_with_the_field_to_fix() {
        let outcome = gate(None, Some(FINALIZER)).unwrap();
        assert_eq!(outcome.reason(), Some("PoolNotFound"));
        let message = outcome.ready.unwrap().message;
        assert_eq!(
            message,
            "Pool ns/p does not exist; create it or fix spec.poolRef.name"
        );
    }

    #[test]
    fn a_paused_pool_is_left_alone_without_a_word() {
        let mut meta = protected();
        meta.annotations = Some([(PAUSED_ANNOTATION.to_string(), String::new())].into());
        // Paused wins over being deleted or unprotected: nothing at all is done.
        meta.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        meta.finalizers = None;
        assert_eq!(gate(Some(&meta), Some(FINALIZER)), Some(Outcome::quiet()));
    }

    #[test]
    fn a_pool_being_deleted_hands_out_nothing() {
        let mut meta = protected();
        meta.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        let outcome = gate(Some(&meta), Some(FINALIZER)).unwrap();
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        assert!(outcome.ready.unwrap().message.ends_with("is being deleted"));
    }

    #[test]
    fn an_unprotected_pool_hands_out_nothing_until_its_finalizer_is_on() {
        let meta = ObjectMeta::default();
        let outcome = gate(Some(&meta), Some(FINALIZER)).unwrap();
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        assert!(outcome.ready.unwrap().message.contains("not protected"));
        // Where no controller of this process protects the pool, none is waited for.
        assert_eq!(gate(Some(&meta), None), None);
    }

    #[test]
    fn a_protected_pool_opens_the_gate() {
        assert_eq!(gate(Some(&protected()), Some(FINALIZER)), None);
    }
}
