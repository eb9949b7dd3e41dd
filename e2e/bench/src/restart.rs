//! The restart scenario: many claims bound to addresses already, as a provider leaves them;
//! then the system under test is started and timed from its exec to its first `/readyz` 200.
//! The driver spawns it itself so that it is started only once that state is written.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use kube::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::face::Face;
use crate::report::{Report, Requests, Restart};
use crate::tally::Tally;
use crate::{apiserver_metrics, claim_load, duplicates, kinds, process_stats};

#[derive(Debug, Clone)]
pub struct RestartLoad {
    pub scenario: String,
    pub system: String,
    pub namespace: String,
    pub addresses: usize,
    pub setup_concurrency: usize,
    pub kubeconfig: PathBuf,
    /// The system under test: its command line, its health port, where its output goes.
    pub command: Vec<String>,
    pub health_port: u16,
    pub log: PathBuf,
    pub timeout: Duration,
    /// How long to keep watching after ready: the work a start defers shows here.
    pub settle: Duration,
}

pub async fn run(client: &Client, load: &RestartLoad) -> anyhow::Result<Report> {
    // The smallest pool that holds every address besides network, gateway and broadcast.
    let prefix = (1..=30u8)
        .rev()
        .find(|p| (1usize << (32 - p)) >= load.addresses + 3)
        .context("too many addresses for one IPv4 pool")?;
    let written = Instant::now();
    let face = Face::Capi;
    claim_load::write_bound(
        client,
        &load.namespace,
        face,
        prefix,
        load.addresses,
        load.setup_concurrency,
    )
    .await?;
    eprintln!(
        "restart: {} bound claims written in {:.0}s",
        load.addresses,
        written.elapsed().as_secs_f64()
    );

    let before = apiserver_metrics::scrape(client).await?;
    let load_at_start = process_stats::load_average();
    let mut child = spawn(load)?;
    let pid = child.id().context("the system under test exited at once")?;
    let ready_seconds = wait_ready(load, pid).await?;
    let at_ready = process_stats::read(pid)?;
    tokio::time::sleep(load.settle).await;
    let process = process_stats::read(pid)?;
    let during = apiserver_metrics::scrape(client).await?.minus(&before);
    stop(&mut child, pid).await;

    let addresses = kinds::api(client, &load.namespace, &face.address_kind());
    let (addresses, duplicates) =
        duplicates::count(&addresses, |a| face.pool_and_address(a)).await?;
    Ok(Report {
        scenario: load.scenario.clone(),
        system: load.system.clone(),
        claims: load.addresses,
        ready: load.addresses,
        pools: 1,
        requests: Requests::new(&during, &Tally::default().counts(), load.addresses),
        process: Some(process),
        addresses,
        duplicates,
        restart: Some(Restart {
            ready_seconds,
            rss_at_ready_mib: at_ready.peak_rss_mib,
            cpu_seconds_at_ready: at_ready.cpu_seconds,
            settle_seconds: load.settle.as_secs_f64(),
        }),
        load_average: [load_at_start, process_stats::load_average()],
        ..Report::default()
    })
}

fn spawn(load: &RestartLoad) -> anyhow::Result<tokio::process::Child> {
    let (program, args) = load
        .command
        .split_first()
        .context("no command given for the system under test")?;
    let log = std::fs::File::create(&load.log)
        .with_context(|| format!("create {}", load.log.display()))?;
    tokio::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", &load.kubeconfig)
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {program}"))
}

/// Seconds from the process's exec to its first `/readyz` 200, polled every 20 ms.
async fn wait_ready(load: &RestartLoad, pid: u32) -> anyhow::Result<f64> {
    let deadline = Instant::now() + load.timeout;
    loop {
        if readyz(load.health_port).await == Some(200) {
            return process_stats::age_seconds(pid);
        }
        anyhow::ensure!(
            process_stats::read(pid).is_ok(),
            "the system under test exited; see {}",
            load.log.display()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "not ready within {:?}",
            load.timeout
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status code of `GET /readyz`, or `None` while nothing listens.
async fn readyz(port: u16) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// SIGTERM, as Kubernetes would stop it, then SIGKILL if it lingers.
async fn stop(child: &mut tokio::process::Child, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
