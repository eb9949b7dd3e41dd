//! Controller metrics with controller-runtime's meanings: reconciles by result, errors,
//! duration, active workers, and the work queue's depth, adds and time in queue.
//!
//! kube's `Controller` keeps its queue to itself, so the queue is observed from both ends:
//! a watch event of a controller's own kind puts the object in line
//! ([`ControllerMetrics::enqueued`], called by `readiness::controller`'s watch), and the
//! reconcile that picks it up takes it out ([`instrument`]). What the queue holds for other
//! reasons (a related object's change, a requeue after a delay) is counted when it runs, not
//! while it waits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// controller-runtime's `result`: `success`, `error`, `requeue_after`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: String,
    pub result: String,
}

const RESULTS: [&str; 3] = ["success", "error", "requeue_after"];

/// An object in a controller's line: controller, kind, namespace, name.
type Waiting = (&'static str, String, String, String);

/// One object's place in one controller's line.
#[derive(Default)]
struct Slot {
    /// Since when it waits for a reconcile; `None` while it does not.
    since: Option<Instant>,
    /// The resourceVersion that last put it in line. Two controllers of one kind each watch
    /// it, so every change arrives twice; the second copy must not put it back in line
    /// after the reconcile it caused.
    version: Option<String>,
}

#[derive(Default)]
struct Queue {
    /// Which controllers an event of a kind puts in line (two backends both reconcile
    /// IPAddressClaims).
    controllers: HashMap<String, Vec<&'static str>>,
    slots: HashMap<Waiting, Slot>,
}

pub struct ControllerMetrics {
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<ControllerLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
    active: Family<ControllerLabels, Gauge>,
    depth: Family<ControllerLabels, Gauge>,
    adds: Family<ControllerLabels, Counter>,
    queue_duration: Family<ControllerLabels, Histogram>,
    queue: Mutex<Queue>,
}

fn waiting(controller: &'static str, kind: &str, namespace: &str, name: &str) -> Waiting {
    (
        controller,
        kind.to_string(),
        namespace.to_string(),
        name.to_string(),
    )
}

fn labels(controller: &str) -> ControllerLabels {
    ControllerLabels {
        controller: controller.to_string(),
    }
}

impl ControllerMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(super::latency as fn() -> _),
            active: Family::default(),
            depth: Family::default(),
            adds: Family::default(),
            queue_duration: Family::new_with_constructor(super::latency as fn() -> _),
            queue: Mutex::default(),
        };
        registry.register(
            "reconciles",
            "Reconciles run, per controller and result (success, error, requeue_after)",
            m.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error (and a retry), per controller",
            m.errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took, per controller",
            m.duration.clone(),
        );
        registry.register(
            "active_workers",
            "Reconciles running right now, per controller",
            m.active.clone(),
        );
        registry.register(
            "workqueue_depth",
            "Objects a watch event put in line that no reconcile has picked up yet, per controller",
            m.depth.clone(),
        );
        registry.register(
            "workqueue_adds",
            "Objects a watch event put in line, per controller",
            m.adds.clone(),
        );
        registry.register(
            "workqueue_queue_duration_seconds",
            "Time from a watch event putting an object in line to its reconcile starting, per controller",
            m.queue_duration.clone(),
        );
        m
    }

    /// A controller of `kind` starts: its series exist from now on (at 0), so a rate over
    /// them is defined before the first reconcile, and its kind's events put objects in line.
    pub fn start(&self, controller: &'static str, kind: &str) {
        let l = labels(controller);
        for result in RESULTS {
            let _ = self.reconciles.get_or_create(&ResultLabels {
                controller: controller.to_string(),
                result: result.to_string(),
            });
        }
        let _ = self.errors.get_or_create(&l);
        let _ = self.active.get_or_create(&l);
        let _ = self.depth.get_or_create(&l);
        let _ = self.adds.get_or_create(&l);
        let mut queue = self.queue.lock().expect("queue lock");
        let controllers = queue.controllers.entry(kind.to_string()).or_default();
        if !controllers.contains(&controller) {
            controllers.push(controller);
        }
    }

    /// A watch event of `kind` about `namespace/name` at `version`: each controller of that
    /// kind will reconcile it. An object already in line keeps its place (the queue holds it
    /// once), and a version already seen puts nothing in line again.
    pub fn enqueued(&self, kind: &str, namespace: &str, name: &str, version: Option<&str>) {
        let mut queue = self.queue.lock().expect("queue lock");
        let Some(controllers) = queue.controllers.get(kind).cloned() else {
            return;
        };
        for controller in controllers {
            let key = waiting(controller, kind, namespace, name);
            let slot = queue.slots.entry(key).or_default();
            if version.is_some() && slot.version.as_deref() == version {
                continue;
            }
            slot.version = version.map(str::to_string);
            if slot.since.is_none() {
                slot.since = Some(Instant::now());
                self.adds.get_or_create(&labels(controller)).inc();
                self.depth.get_or_create(&labels(controller)).inc();
            }
        }
    }

    /// The object is gone: no reconcile will pick it up.
    pub(super) fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let mut queue = self.queue.lock().expect("queue lock");
        let controllers = queue.controllers.get(kind).cloned().unwrap_or_default();
        for controller in controllers {
            let key = waiting(controller, kind, namespace, name);
            if queue
                .slots
                .remove(&key)
                .is_some_and(|slot| slot.since.is_some())
            {
                self.depth.get_or_create(&labels(controller)).dec();
            }
        }
    }

    /// Takes the object out of line, observing how long it waited.
    fn picked_up(&self, controller: &'static str, kind: &str, namespace: &str, name: &str) {
        let key = waiting(controller, kind, namespace, name);
        let since = self
            .queue
            .lock()
            .expect("queue lock")
            .slots
            .get_mut(&key)
            .and_then(|slot| slot.since.take());
        if let Some(since) = since {
            let l = labels(controller);
            self.depth.get_or_create(&l).dec();
            self.queue_duration
                .get_or_create(&l)
                .observe(since.elapsed().as_secs_f64());
        }
    }

    /// Runs one reconcile and records it: active while it runs, then its result and time.
    pub async fn reconcile<E>(
        &self,
        controller: &'static str,
        reconcile: impl Future<Output = Result<Action, E>>,
    ) -> Result<Action, E> {
        let l = labels(controller);
        let active = self.active.get_or_create(&l).clone();
        active.inc();
        // Dropped mid-way too (a lost lease abandons reconciles): still no longer active.
        let _active = scopeguard(move || {
            active.dec();
        });
        let start = Instant::now();
        let result = reconcile.await;
        self.duration
            .get_or_create(&l)
            .observe(start.elapsed().as_secs_f64());
        let outcome = match &result {
            Err(_) => {
                self.errors.get_or_create(&l).inc();
                "error"
            }
            Ok(action) if *action == Action::await_change() => "success",
            Ok(_) => "requeue_after",
        };
        self.reconciles
            .get_or_create(&ResultLabels {
                controller: controller.to_string(),
                result: outcome.to_string(),
            })
            .inc();
        result
    }
}

struct Guard<F: FnMut()>(F);

impl<F: FnMut()> Drop for Guard<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn scopeguard<F: FnMut()>(f: F) -> Guard<F> {
    Guard(f)
}

/// Feeds a controller's own watch into its queue metrics: an applied object is put in
/// line; a deleted one is forgotten everywhere ([`super::Metrics::forget`]).
pub fn watched<K: Resource<DynamicType = ()>>(event: &kube::runtime::watcher::Event<K>) {
    use kube::runtime::watcher::Event;
    let kind = K::kind(&());
    match event {
        Event::Apply(object) | Event::InitApply(object) => super::get().controller.enqueued(
            &kind,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
            object.meta().resource_version.as_deref(),
        ),
        Event::Delete(object) => super::get().forget(
            &kind,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
            object.meta().uid.as_deref(),
        ),
        Event::Init | Event::InitDone => {}
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A reconciler that records every run under `controller` (its field manager):
/// `Controller::run(metrics::instrument(MANAGER, reconcile), error_policy, ctx)`.
pub fn instrument<K, C, E, F, Fut>(
    controller: &'static str,
    reconcile: F,
) -> impl FnMut(Arc<K>, Arc<C>) -> BoxFuture<'static, Result<Action, E>>
where
    K: Resource<DynamicType = ()>,
    F: Fn(Arc<K>, Arc<C>) -> Fut,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: 'static,
{
    let kind = K::kind(&()).to_string();
    let metrics = &super::get().controller;
    metrics.start(controller, &kind);
    move |object, ctx| {
        let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
        metrics.picked_up(controller, &kind, &namespace, &name);
        Box::pin(metrics.reconcile(controller, reconcile(object, ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn scrape() -> String {
        super::super::get().encode()
    }

    #[tokio::test]
    async fn reconciles_by_result_workers_and_the_queue() {
        const C: &str = "controller-test";
        let reconcile = |cm: Arc<ConfigMap>, _: Arc<()>| async move {
            match cm.metadata.name.as_deref() {
                Some("fails") => Err("boom"),
                Some("waits") => Ok(Action::requeue(std::time::Duration::from_secs(5))),
                _ => Ok(Action::await_change()),
            }
        };
        let mut run = instrument(C, reconcile);
        let text = scrape();
        for result in RESULTS {
            let zero = format!("ipam_reconciles_total{{controller=\"{C}\",result=\"{result}\"}} 0");
            assert!(text.contains(&zero), "{zero} before any reconcile:\n{text}");
        }
        let object = |name: &str| {
            Arc::new(ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("ns".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let m = &super::super::get().controller;
        m.enqueued("ConfigMap", "ns", "ok", Some("1"));
        m.enqueued("ConfigMap", "ns", "ok", Some("2"));
        m.enqueued("ConfigMap", "ns", "fails", Some("1"));
        let text = scrape();
        assert!(text.contains(&format!("ipam_workqueue_depth{{controller=\"{C}\"}} 2")));
        assert!(text.contains(&format!(
            "ipam_workqueue_adds_total{{controller=\"{C}\"}} 2"
        )));

        let running = run(object("ok"), Arc::new(()));
        // Picked up when the reconcile is handed out, before it is polled.
        assert!(scrape().contains(&format!("ipam_workqueue_depth{{controller=\"{C}\"}} 1")));
        running.await.unwrap();
        // The same change seen by a second watch of the kind puts nothing back in line.
        m.enqueued("ConfigMap", "ns", "ok", Some("2"));
        assert!(scrape().contains(&format!("ipam_workqueue_depth{{controller=\"{C}\"}} 1")));
        run(object("fails"), Arc::new(())).await.unwrap_err();
        run(object("waits"), Arc::new(())).await.unwrap();
        m.enqueued("ConfigMap", "ns", "deleted", None);
        super::super::get().forget("ConfigMap", "ns", "deleted", None);
        let text = scrape();
        for needle in [
            format!("ipam_reconciles_total{{controller=\"{C}\",result=\"success\"}} 1"),
            format!("ipam_reconciles_total{{controller=\"{C}\",result=\"error\"}} 1"),
            format!("ipam_reconciles_total{{controller=\"{C}\",result=\"requeue_after\"}} 1"),
            format!("ipam_reconcile_errors_total{{controller=\"{C}\"}} 1"),
            format!("ipam_reconcile_duration_seconds_count{{controller=\"{C}\"}} 3"),
            format!("ipam_workqueue_queue_duration_seconds_count{{controller=\"{C}\"}} 2"),
            format!("ipam_workqueue_depth{{controller=\"{C}\"}} 0"),
            format!("ipam_active_workers{{controller=\"{C}\"}} 0"),
        ] {
            assert!(text.contains(&needle), "{needle} missing from\n{text}");
        }

        // A reconcile in flight is an active worker, and stops being one when abandoned.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let slow = m.reconcile(C, async move {
            let _ = rx.await;
            Ok::<_, ()>(Action::await_change())
        });
        let mut slow = Box::pin(slow);
        assert!(futures::poll!(&mut slow).is_pending());
        assert!(scrape().contains(&format!("ipam_active_workers{{controller=\"{C}\"}} 1")));
        drop(slow);
        drop(tx);
        assert!(scrape().contains(&format!("ipam_active_workers{{controller=\"{C}\"}} 0")));
    }
}
