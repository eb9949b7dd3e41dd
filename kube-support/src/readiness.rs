//! Readiness of this process, as `/readyz` reports it: ready once every registered gate is
//! open (a controller's caches have finished their first list, a controller set is built).
//!
//! Process-wide for the same reason as the metrics: the controllers that own the caches live
//! in crates that cannot see the binary serving `/readyz`.

use std::fmt::Debug;
use std::sync::Mutex;

use futures::TryStreamExt;
use kube::runtime::reflector::{self, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

static GATES: Mutex<Vec<(String, watch::Receiver<bool>)>> = Mutex::new(Vec::new());

/// Counts `gate` in readiness under `name` until it opens.
pub fn track(name: &str, gate: watch::Receiver<bool>) {
    GATES
        .lock()
        .expect("readiness lock")
        .push((name.to_string(), gate));
}

/// A gate held closed until this is dropped: covers the time between deciding to start
/// controllers and their caches being registered.
pub struct Pending(#[allow(dead_code)] watch::Sender<bool>);

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

pub fn pending(name: &str) -> Pending {
    let (open, gate) = watch::channel(false);
    track(name, gate);
    Pending(open)
}

/// A controller of `api`, as `Controller::new` builds it, whose cache counts in readiness
/// (as "<backend> <Kind> cache": two backends watch IPAddressClaims) until its first list is
/// in.
///
/// The gate opens from the watch stream itself: waiting on the controller's store instead
/// would take the store's only wake-up slot from the controller, which waits on it too.
pub fn controller<K>(backend: &str, api: Api<K>, config: watcher::Config) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (open, gate) = watch::channel(false);
    track(&format!("{backend} {} cache", K::kind(&())), gate);
    let (store, writer) = reflector::store();
    // The reflector applies an event to the store before passing it on, so the gate opens
    // only once the store holds the whole first list.
    // Managed fields are most of an object's size, and no controller reads them.
    let changes = reflector(
        writer,
        watcher(api, config).modify(|k| k.managed_fields_mut().clear()),
    )
    .inspect_ok(move |event| {
        if matches!(event, watcher::Event::InitDone) {
            let _ = open.send(true);
        }
        // The controller's queue, as the metrics see it: an applied object is put in
        // line, a deleted one will not be reconciled.
        crate::metrics::controller::watched(event);
    })
    .applied_objects();
    Controller::for_stream(changes, store)
}

/// `Ok` when ready, else the names of the gates still closed.
pub fn check() -> Result<(), Vec<String>> {
    let mut gates = GATES.lock().expect("readiness lock");
    // An open gate stays open; forget it. A closed one whose sender is gone belongs to a
    // controller that stopped before it synced, which no longer serves anything.
    gates.retain(|(_, gate)| !*gate.borrow() && gate.has_changed().is_ok());
    let waiting: Vec<String> = gates.iter().map(|(name, _)| name.clone()).collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the gates are process-wide, and parallel tests would see each other's.
    #[test]
    fn ready_only_when_every_gate_is_open() {
        let (open, gate) = watch::channel(false);
        track("caches", gate);
        let building = pending("controllers");
        assert_eq!(
            check(),
            Err(vec!["caches".to_string(), "controllers".to_string()])
        );
        open.send(true).unwrap();
        assert_eq!(check(), Err(vec!["controllers".to_string()]));
        drop(building);
        assert_eq!(check(), Ok(()));
        // A gate whose owner stopped before it opened no longer counts.
        let (abandoned, gate) = watch::channel(false);
        track("stopped", gate);
        drop(abandoned);
        assert_eq!(check(), Ok(()));
    }
}
