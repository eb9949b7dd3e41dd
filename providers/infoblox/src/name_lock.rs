//! One reservation decision at a time per Infoblox host name in this process.
//!
//! WAPI has no conditional write, so "search by name, then create" and "search by name, then
//! mark the unmarked record as ours" are two steps. Two claims that resolve to the same name
//! (same claim name in two namespaces), reconciled by two workers at once, could otherwise both
//! find nothing and both create, or both find one unmarked record and both take it. Only the
//! leader writes to Infoblox, so holding this lock from the search to the write makes the
//! second claim find what the first one wrote.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::OwnedMutexGuard;

type Locks = HashMap<String, Arc<tokio::sync::Mutex<()>>>;

static LOCKS: LazyLock<Mutex<Locks>> = LazyLock::new(Default::default);

/// Held while one claim decides about a name; frees the name's entry when the last holder
/// or waiter is gone, so the map does not grow with every name ever seen.
pub struct Guard {
    key: String,
    held: Option<OwnedMutexGuard<()>>,
}

/// Waits until no other claim of this process decides about `host` in `network_view` on the
/// grid at `endpoint`.
pub async fn lock(endpoint: &str, network_view: &str, host: &str) -> Guard {
    let key = format!("{endpoint}\u{0}{network_view}\u{0}{host}");
    let mutex = LOCKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.clone())
        .or_default()
        .clone();
    Guard {
        key,
        held: Some(mutex.lock_owned().await),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.held = None;
        let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
        if locks
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_name_and_no_entry_left_behind() {
        let first = lock("grid:443", "nv", "web").await;
        let other = lock("grid:443", "nv", "db").await;
        let second = tokio::spawn(async { lock("grid:443", "nv", "web").await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the same name waits");
        drop(first);
        drop(second.await.unwrap());
        drop(other);
        let locks = LOCKS.lock().unwrap();
        assert!(
            !locks.keys().any(|k| k.starts_with("grid:443")),
            "{locks:?}"
        );
    }
}
