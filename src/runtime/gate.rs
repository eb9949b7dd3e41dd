//! Runs the controllers only while this replica leads.

use std::future::Future;

use ipam_kube_support::readiness;

use super::leader::Elector;

#[derive(Debug, thiserror::Error)]
#[error(
    "lost the leader Lease: stopped at once, abandoning reconciles in flight (each resumes \
     from what the API server holds under the next leader)"
)]
pub struct LeaseLost;

/// Without an elector, runs `controllers` to their end. With one, waits to lead (or for
/// `shutdown`), runs them, and on SIGTERM lets them finish their reconciles in flight and
/// then frees the Lease. When the lease is lost they are dropped there and then —
/// abandoned mid-reconcile rather than drained, since draining would mean writing without
/// the right to — and [`LeaseLost`] is returned so the process exits, as
/// controller-runtime's managers do. Abandoning is safe: every reconcile is restartable
/// from the API server's state (an address is taken by a create before it is used).
pub async fn lead<C, S>(
    elector: Option<Elector>,
    shutdown: S,
    controllers: C,
) -> Result<(), LeaseLost>
where
    C: Future<Output = ()>,
    S: Future<Output = ()> + Clone,
{
    let status = &ipam_kube_support::metrics::get().serving;
    let Some(elector) = elector else {
        // Without election this replica is the only one: it leads while it runs.
        status.leading(true);
        controllers.await;
        status.leading(false);
        return Ok(());
    };
    let leadership = tokio::select! {
        leadership = elector.acquire() => leadership,
        // Stopped while standing by: nothing started, nothing to release.
        _ = shutdown.clone() => return Ok(()),
    };
    status.leading(true);
    // Whichever way this ends (lease lost, released), this replica leads no more.
    let _standing_down = StandDown;
    // Not ready again until the controllers have registered their caches and those synced.
    let starting = readiness::pending("controllers starting");
    let mut controllers = std::pin::pin!(controllers);
    let lost = leadership.lost();
    let mut lost = std::pin::pin!(lost);
    // The first poll builds the controllers, which registers every cache with readiness.
    let first = tokio::select! {
        biased;
        _ = &mut lost => return Err(LeaseLost),
        done = futures::future::poll_immediate(&mut controllers) => done,
    };
    drop(starting);
    if first.is_none() {
        tokio::select! {
            biased;
            _ = &mut lost => return Err(LeaseLost),
            _ = &mut controllers => {}
        }
    }
    leadership.release().await;
    Ok(())
}

/// Sets the leader gauge back to 0 when dropped.
struct StandDown;

impl Drop for StandDown {
    fn drop(&mut self) {
        ipam_kube_support::metrics::get().serving.leading(false);
    }
}
