//! When each object first looked done, as seen by a watch: the driver learns of a claim's
//! address the way a Cluster API controller would, not by polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::watcher;
use tokio::sync::Notify;
use tokio::time::Instant;

pub type Done = fn(&DynamicObject) -> bool;

pub struct ReadyWatch {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyWatch {
    /// Watches `api` and records, per object name, the first moment `done` held. Returns once
    /// the watch's initial list has been read, so nothing created afterwards is missed.
    pub async fn start(api: Api<DynamicObject>, done: Done) -> anyhow::Result<ReadyWatch> {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let changed = Arc::new(Notify::new());
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let task = {
            let (seen, changed) = (seen.clone(), changed.clone());
            tokio::spawn(async move {
                let mut listed = Some(listed_tx);
                let config = watcher::Config::default().any_semantic();
                let mut events = std::pin::pin!(watcher(api, config));
                while let Some(event) = events.next().await {
                    let object = match event {
                        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                        Ok(watcher::Event::InitDone) => {
                            if let Some(tx) = listed.take() {
                                let _ = tx.send(());
                            }
                            continue;
                        }
                        // A failed watch is retried by the stream itself.
                        Ok(_) | Err(_) => continue,
                    };
                    if done(&object) {
                        let now = Instant::now();
                        seen.lock().unwrap().entry(object.name_any()).or_insert(now);
                        changed.notify_waiters();
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .map_err(|_| anyhow::anyhow!("the watch did not finish its initial list in 60s"))??;
        Ok(ReadyWatch {
            seen,
            changed,
            task,
        })
    }

    /// Waits until `count` objects are done or `within` passed; returns how many are.
    pub async fn wait_for(&self, count: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            let now = self.count();
            if now >= count || Instant::now() >= deadline {
                return now;
            }
            // Re-checked at least every second: a notification may land between count and wait.
            let _ = tokio::time::timeout_at(
                deadline.min(Instant::now() + Duration::from_secs(1)),
                changed,
            )
            .await;
        }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Name → first moment seen done.
    pub fn times(&self) -> HashMap<String, Instant> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
