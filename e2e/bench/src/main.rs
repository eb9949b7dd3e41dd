//! `ipam-bench`: one scenario against one kubeconfig, its figures as JSON; or the table of
//! many such runs. `e2e/bin/bench-e2e.sh` starts the control plane and the system under test
//! around each run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ipam_bench::claim_load::{self, ClaimLoad};
use ipam_bench::face::Face;
use ipam_bench::k0rdent::{self, K0rdentLoad};
use ipam_bench::measure::Limits;
use ipam_bench::restart::{self, RestartLoad};
use ipam_bench::{setup, summary};

#[derive(Parser)]
#[command(about = "End-to-end benchmarks of IPAM providers against a real kube-apiserver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Admin kubeconfig of the control plane under load.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Scenario name, as it appears in the table.
    #[arg(long)]
    scenario: String,
    /// `ours`, `peer` or `raw`.
    #[arg(long)]
    system: String,
    /// PID of the system under test, for its peak RSS and CPU time.
    #[arg(long)]
    pid: Option<u32>,
    /// Where the JSON report goes (stdout when unset).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "bench")]
    namespace: String,
}

/// How long a load waits for its objects to be done.
#[derive(clap::Args)]
struct Waiting {
    /// Seconds to wait for every object in all.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// Seconds without any object done after which the run is given up.
    #[arg(long, default_value_t = 180)]
    stall: u64,
    /// Seconds between the last object done and the final count of requests.
    #[arg(long, default_value_t = 3)]
    settle: u64,
}

impl Waiting {
    fn limits(&self, pid: Option<u32>) -> Limits {
        Limits {
            pid,
            timeout: Duration::from_secs(self.timeout),
            stall: Duration::from_secs(self.stall),
            settle: Duration::from_secs(self.settle),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Claims over pools, served by the system under test or (--raw) by the driver itself.
    Claims {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value = "capi")]
        face: Face,
        /// The driver makes a provider's minimal writes itself: the API server's limit.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 1)]
        pools: usize,
        #[arg(long, default_value_t = 1000)]
        claims_per_pool: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// ClusterDeployments with an inline IPAM claim, each done when its HelmRelease exists.
    K0rdent {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 50)]
        deployments: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// Writes many bound claims, then starts the system under test (the command after `--`)
    /// and times it to its first /readyz 200.
    Restart {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100_000)]
        addresses: usize,
        /// Writers of the existing state (not measured).
        #[arg(long, default_value_t = 256)]
        setup_concurrency: usize,
        /// The system under test's health port, where /readyz is polled.
        #[arg(long)]
        health_port: u16,
        /// Its output.
        #[arg(long)]
        log: PathBuf,
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Seconds to keep it running after ready, counting its requests, RSS and CPU.
        #[arg(long, default_value_t = 20)]
        settle: u64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// The markdown table of every report in a folder, with ratios and the machine's facts.
    Summary {
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// The command that produced the reports, to print beside them.
        #[arg(long, default_value = "make bench-e2e")]
        command: String,
        /// Also write the table here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Claims {
            common,
            face,
            raw,
            pools,
            claims_per_pool,
            concurrency,
            waiting,
        } => {
            let client = setup::client(&common.kubeconfig).await?;
            let load = ClaimLoad {
                scenario: common.scenario.clone(),
                system: common.system.clone(),
                face,
                raw,
                namespace: common.namespace.clone(),
                pools,
                claims_per_pool,
                concurrency,
                limits: waiting.limits(common.pid),
            };
            let report = claim_load::run(&client, &load).await?;
            write(&common, &report)
        }
        Command::K0rdent {
            common,
            deployments,
            concurrency,
            waiting,
        } => {
            let client = setup::client(&common.kubeconfig).await?;
            let load = K0rdentLoad {
                scenario: common.scenario.clone(),
                system: common.system.clone(),
                namespace: common.namespace.clone(),
                deployments,
                concurrency,
                limits: waiting.limits(common.pid),
            };
            let report = k0rdent::run(&client, &load).await?;
            write(&common, &report)
        }
        Command::Restart {
            common,
            addresses,
            setup_concurrency,
            health_port,
            log,
            timeout,
            settle,
            command,
        } => {
            let client = setup::client(&common.kubeconfig).await?;
            let load = RestartLoad {
                scenario: common.scenario.clone(),
                system: common.system.clone(),
                namespace: common.namespace.clone(),
                addresses,
                setup_concurrency,
                kubeconfig: common.kubeconfig.clone(),
                command,
                health_port,
                log,
                timeout: Duration::from_secs(timeout),
                settle: Duration::from_secs(settle),
            };
            let report = restart::run(&client, &load).await?;
            write(&common, &report)
        }
        Command::Summary { dir, command, out } => {
            let table = summary::render(&dir, &command)?;
            print!("{table}");
            if let Some(out) = out {
                std::fs::write(out, table)?;
            }
            Ok(())
        }
    }
}

fn write(common: &Common, report: &ipam_bench::report::Report) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    match &common.out {
        Some(path) => std::fs::write(path, json + "\n")?,
        None => println!("{json}"),
    }
    eprintln!(
        "{} {}: {} of {} bound, {:.1} claims/s, p50 {:.2}s p99 {:.2}s, {:.1} requests/claim ({:.1} the system's), {} duplicates",
        report.scenario,
        report.system,
        report.ready,
        report.claims,
        report.claims_per_second,
        report.latency.p50_s,
        report.latency.p99_s,
        report.requests.total_per_claim,
        report.requests.operator_per_claim,
        report.duplicates
    );
    Ok(())
}
