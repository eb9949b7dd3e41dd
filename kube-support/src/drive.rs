//! How every controller is run: its reconciles instrumented for the metrics, its failures
//! answered by the one error policy, until its shutdown signal.

use std::fmt::Debug;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Resource;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use serde::de::DeserializeOwned;

use crate::reconcile_error::{ReconcileError, retry_after};

/// Runs `controller` with `reconcile` under the field manager `manager`; a failed reconcile is
/// retried after `retry` (a conflict at once). Resolves once `shutdown` has and the
/// reconciles in flight have finished.
pub fn drive<K, C, F, Fut, S>(
    controller: Controller<K>,
    manager: &'static str,
    reconcile: F,
    ctx: Arc<C>,
    retry: Duration,
    shutdown: S,
) -> impl Future<Output = ()>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    C: Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<C>) -> Fut,
    Fut: Future<Output = Result<Action, ReconcileError>> + Send + 'static,
    S: IntoFuture<Output = ()>,
    S::IntoFuture: Send + Sync + 'static,
{
    controller
        .graceful_shutdown_on(shutdown.into_future())
        .run(
            crate::metrics::instrument(manager, reconcile),
            retry_after(retry),
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
}

/// One shutdown heard by all the controllers of a backend, each through a copy of its own.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Signals every controller once `shutdown` resolves.
    pub fn on(shutdown: impl Future<Output = ()> + Send + 'static) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        Shutdown(stopped)
    }

    /// One controller's signal: resolves once the shutdown has.
    pub fn signal(&self) -> impl Future<Output = ()> + Send + Sync + 'static + use<> {
        let mut stopped = self.0.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}

/// A controller's run is given its own copy of the shutdown, and waits for it.
impl IntoFuture for Shutdown {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.signal())
    }
}
