//! Flux, for real: source-controller and helm-controller built from their Go modules by
//! `e2e/bin/build-flux.sh` (cached once per machine), run as processes of one test's own
//! against the shared control plane, and a chart repository served over plain HTTP on
//! loopback holding the test cluster template of `e2e/fixtures/charts`.
//!
//! Each test's controllers watch its namespace only (`--watch-all-namespaces=false` with
//! `RUNTIME_NAMESPACE`), so tests running at once never reconcile each other's objects, and
//! keep their artifacts and logs in `target/test-logs/<namespace>/`. Nothing here skips: a
//! test that cannot get Flux fails and says why.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::scripts::{root, script_output};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The folder with `source-controller`, `helm-controller` and their `crds/`: `IPAM_FLUX`, else
/// what `e2e/bin/build-flux.sh` prints (it builds them the first time on a machine).
pub fn flux_dir() -> PathBuf {
    let dir = std::env::var_os("IPAM_FLUX")
        .map(PathBuf::from)
        .unwrap_or_else(|| script_output("build-flux.sh"));
    for binary in ["source-controller", "helm-controller"] {
        assert!(
            dir.join(binary).is_file(),
            "no {binary} in {} (IPAM_FLUX or e2e/bin/build-flux.sh)",
            dir.display()
        );
    }
    dir
}

/// The helm binary the control plane build made: `IPAM_TESTBIN/helm`, else the cached build.
pub fn helm_binary() -> PathBuf {
    let dir = std::env::var_os("IPAM_TESTBIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| script_output("build-control-plane.sh"));
    dir.join("helm")
}

/// Flux's own CRDs (HelmRelease, HelmChart, HelmRepository, …) as the pinned versions ship
/// them.
pub fn flux_crds() -> Vec<CustomResourceDefinition> {
    let dir = flux_dir().join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no CRDs in {}", dir.display());
    files
        .iter()
        .flat_map(|f| crate::crds_from_yaml(f))
        .collect()
}

/// A test's folder for logs and artifacts: `target/test-logs/<name>/`.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = root().join("target/test-logs").join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// source-controller and helm-controller watching one namespace; killed when dropped.
pub struct Flux {
    _source: tokio::process::Child,
    _helm: tokio::process::Child,
    pub dir: PathBuf,
}

impl Flux {
    pub fn start(namespace: &str) -> Flux {
        let flux = flux_dir();
        let dir = test_dir(namespace);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let storage = free_port();
        let spawn = |binary: &str, args: Vec<String>| {
            let log = std::fs::File::create(dir.join(format!("{binary}.log"))).unwrap();
            tokio::process::Command::new(flux.join(binary))
                .args([
                    "--watch-all-namespaces=false",
                    "--metrics-addr=127.0.0.1:0",
                    "--health-addr=127.0.0.1:0",
                    // A chart not fetched yet is looked at again soon, not after 30 s.
                    "--requeue-dependency=2s",
                ])
                .args(args)
                .env("KUBECONFIG", crate::kubeconfig_path())
                .env("RUNTIME_NAMESPACE", namespace)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("start {binary}: {e}"))
        };
        let source = spawn(
            "source-controller",
            vec![
                format!("--storage-path={}", dir.join("storage").display()),
                format!("--storage-addr=127.0.0.1:{storage}"),
                format!("--storage-adv-addr=127.0.0.1:{storage}"),
            ],
        );
        let helm = spawn("helm-controller", vec![]);
        Flux {
            _source: source,
            _helm: helm,
            dir,
        }
    }

    /// The last lines of both controllers' logs, for a failure message.
    pub fn logs(&self) -> String {
        ["source-controller", "helm-controller"]
            .iter()
            .map(|b| {
                let text =
                    std::fs::read_to_string(self.dir.join(format!("{b}.log"))).unwrap_or_default();
                let lines: Vec<_> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- {b} (last lines)\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A Helm chart repository on `http://127.0.0.1:<port>`: `index.yaml` and the packaged charts
/// of `e2e/fixtures/charts`, made with the project's helm. Stops when dropped.
pub struct ChartRepo {
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ChartRepo {
    /// Packages the fixture charts into `dir` and serves that folder.
    pub async fn serve(dir: &Path) -> ChartRepo {
        std::fs::create_dir_all(dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let helm = helm_binary();
        let charts = root().join("e2e/fixtures/charts");
        for chart in std::fs::read_dir(&charts).unwrap() {
            run(
                &helm,
                &[
                    "package".as_ref(),
                    chart.unwrap().path().as_os_str(),
                    "-d".as_ref(),
                    dir.as_os_str(),
                ],
            );
        }
        run(
            &helm,
            &[
                "repo".as_ref(),
                "index".as_ref(),
                dir.as_os_str(),
                "--url".as_ref(),
                url.as_ref(),
            ],
        );
        let dir = dir.to_path_buf();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_file(stream, dir.clone()));
            }
        });
        ChartRepo { url, server }
    }
}

fn run(binary: &Path, args: &[&std::ffi::OsStr]) {
    let status = std::process::Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    assert!(status.success(), "{} {args:?} failed", binary.display());
}

/// One HTTP/1.1 GET of a file directly in `dir`, answered and closed.
async fn serve_file(mut stream: tokio::net::TcpStream, dir: PathBuf) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/");
    let name = path
        .trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or_default();
    // Only plain file names: nothing outside the folder is reachable.
    let body = (!name.is_empty() && !name.contains('/') && !name.contains(".."))
        .then(|| std::fs::read(dir.join(name)).ok())
        .flatten();
    let head = match &body {
        Some(b) => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            b.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let _ = stream.write_all(head.as_bytes()).await;
    if let Some(b) = body {
        let _ = stream.write_all(&b).await;
    }
    let _ = stream.shutdown().await;
}
