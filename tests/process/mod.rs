//! Operator processes for the tests of the binary: spawn with flags, talk to their HTTP
//! endpoints, read their logs. Each test file uses the parts it needs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use ipam_test_support::kubeconfig_path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Operator {
    pub child: tokio::process::Child,
    pub log: PathBuf,
    pub metrics_port: u16,
    pub health_port: u16,
}

/// A port free right now (the OS picked it), for flags that take a fixed port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Operator {
    /// `ipam-operator run <args> --metrics-port P --health-port Q --webhook-port 0` (unless
    /// `args` name a webhook port), its log in target/test-logs/<name>.log; `env` adds
    /// environment variables.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let (metrics_port, health_port) = (free_port(), free_port());
        let (metrics, health) = (metrics_port.to_string(), health_port.to_string());
        let mut line = vec!["run"];
        line.extend(args);
        if !args.contains(&"--webhook-port") {
            line.extend(["--webhook-port", "0"]);
        }
        line.extend(["--metrics-port", &metrics, "--health-port", &health]);
        let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        let mut env = env.to_vec();
        env.push(("RUST_LOG", &rust_log));
        Operator {
            metrics_port,
            health_port,
            ..Operator::start_verbatim(name, &line, &env)
        }
    }

    /// `ipam-operator <args>` exactly as given (no subcommand, no ports added), as a
    /// Deployment written for an upstream Cluster API manager runs it.
    pub fn start_verbatim(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-logs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ipam-operator"));
        command
            .args(args)
            .env("KUBECONFIG", kubeconfig_path())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start an operator process");
        Operator {
            child,
            log,
            metrics_port: 0,
            health_port: 0,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits up to `within` for the process to exit.
    pub async fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .map(|s| s.unwrap())
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1: (status, body). `None` when nothing answers.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at(std::net::Ipv4Addr::LOCALHOST.into(), port, path).await
}

/// The same, from `host` (a pod's address, say).
pub async fn http_get_at(host: std::net::IpAddr, port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub use ipam_test_support::eventually;

/// No request of `operator`'s was refused by RBAC. (Matched by the API server's word, not by
/// the status code: "403" turns up in timestamps and generated names.)
pub fn assert_never_forbidden(operator: &Operator) {
    let log = operator.log_text();
    for word in ["forbidden", "Forbidden"] {
        assert!(!log.contains(word), "{word} in the operator's log:\n{log}");
    }
}
