//! The end-to-end benchmark driver (`make bench-e2e`, and the short form in `make test`).
//!
//! It loads one kube-apiserver with claims and measures whoever serves them from the outside:
//! create→bound latency through a watch, throughput, the API server's own request counters,
//! the serving process's peak RSS and CPU time from /proc, and addresses handed out twice.
//! The same code measures this project's operator, the upstream provider it replaces, and the
//! raw limit (the driver making a provider's minimal writes itself), so the three compare.

pub mod apiserver_metrics;
pub mod claim_load;
pub mod duplicates;
pub mod face;
pub mod k0rdent;
pub mod kinds;
pub mod latency;
pub mod measure;
pub mod process_stats;
pub mod ready_watch;
pub mod report;
pub mod restart;
pub mod retry;
pub mod setup;
pub mod summary;
pub mod tally;
