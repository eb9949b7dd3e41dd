//! The measured window of a load scenario: opened just before the first create (the API
//! server's counters read), closed once every object is done or the driver gives up (the
//! counters read again after a pause for deferred writes). What happened in between becomes a
//! report.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use tokio::time::Instant;

use crate::apiserver_metrics::{self, RequestCounts};
use crate::latency::Latency;
use crate::process_stats;
use crate::ready_watch::ReadyWatch;
use crate::report::{Report, Requests};
use crate::tally::Tally;

/// When to stop waiting, and whose process to read.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The system under test, for its RSS and CPU time.
    pub pid: Option<u32>,
    /// Give up after this long in all, or after this long without an object done.
    pub timeout: Duration,
    pub stall: Duration,
    /// Pause between the last object done and the final count of requests, so that writes the
    /// system under test defers (a coalesced pool status) are counted.
    pub settle: Duration,
}

pub struct Window {
    before: RequestCounts,
    started: Instant,
    load_at_start: f64,
    sent: Mutex<HashMap<String, Instant>>,
    /// The driver's own requests inside the window.
    pub tally: Tally,
}

impl Window {
    pub async fn open(client: &Client) -> anyhow::Result<Window> {
        Ok(Window {
            before: apiserver_metrics::scrape(client).await?,
            started: Instant::now(),
            load_at_start: process_stats::load_average(),
            sent: Mutex::new(HashMap::new()),
            tally: Tally::default(),
        })
    }

    /// The create request of `name` is about to be sent: its latency starts now.
    pub fn sending(&self, name: &str) {
        self.sent
            .lock()
            .unwrap()
            .insert(name.to_string(), Instant::now());
    }

    /// Waits for `n` objects done in `watch`, then reports throughput, latency, requests per
    /// object and the process's cost. The scenario fills in its names and address checks.
    pub async fn close(
        &self,
        client: &Client,
        watch: &ReadyWatch,
        n: usize,
        limits: &Limits,
        mut notes: Vec<String>,
    ) -> anyhow::Result<Report> {
        let ready = wait(watch, n, limits, &mut notes).await;
        tokio::time::sleep(limits.settle).await;
        let during = apiserver_metrics::scrape(client).await?.minus(&self.before);
        let sent = self.sent.lock().unwrap().clone();
        let done = watch.times();
        let latencies: Vec<Duration> = done
            .iter()
            .filter_map(|(name, at)| Some(at.saturating_duration_since(*sent.get(name)?)))
            .collect();
        let last = done.values().max().copied().unwrap_or(self.started);
        let wall = last.saturating_duration_since(self.started).as_secs_f64();
        Ok(Report {
            claims: n,
            ready,
            claims_per_second: if wall > 0.0 { ready as f64 / wall } else { 0.0 },
            wall_seconds: wall,
            latency: Latency::of(&latencies),
            requests: Requests::new(&during, &self.tally.counts(), n),
            process: limits.pid.map(process_stats::read).transpose()?,
            load_average: [self.load_at_start, process_stats::load_average()],
            notes,
            ..Report::default()
        })
    }
}

/// Waits for `n` objects done; stops early, with a note, when the time is up, when nothing
/// was done for `limits.stall`, or when the system under test is gone.
async fn wait(watch: &ReadyWatch, n: usize, limits: &Limits, notes: &mut Vec<String>) -> usize {
    let deadline = Instant::now() + limits.timeout;
    let (mut seen, mut progressed) = (0, Instant::now());
    loop {
        let ready = watch.wait_for(n, Duration::from_secs(2)).await;
        if ready >= n {
            return ready;
        }
        if ready > seen {
            (seen, progressed) = (ready, Instant::now());
        }
        let why = if Instant::now() >= deadline {
            Some(format!("gave up after {:?}", limits.timeout))
        } else if progressed.elapsed() >= limits.stall {
            Some(format!("nothing done for {:?}", limits.stall))
        } else if limits
            .pid
            .is_some_and(|pid| process_stats::read(pid).is_err())
        {
            Some("the system under test exited".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            notes.push(format!("{why}: {ready} of {n} done"));
            return ready;
        }
    }
}
