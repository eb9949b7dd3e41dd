//! The Helm chart as tests use it: render parts of it with the Go-built helm, apply them with
//! kubectl, and run an operator as the chart's ServiceAccount.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ipam_test_support::kubeconfig_path;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/ipam-operator");

/// The folder of the Go-built kubectl and helm: `IPAM_TESTBIN` (set by `make test`), else
/// what `e2e/bin/tools.sh` prints.
fn testbin() -> PathBuf {
    if let Some(dir) = std::env::var_os("IPAM_TESTBIN") {
        return dir.into();
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/e2e/bin/tools.sh"))
        .output()
        .expect("run e2e/bin/tools.sh");
    assert!(out.status.success(), "e2e/bin/tools.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs `command`, feeding it `input`; its stdout, or a panic with its stderr.
fn run(command: &mut Command, input: Option<&[u8]>) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template <release> <chart> -n <namespace>` limited to `templates/<file>` for each
/// of `files`, with `--set` for each of `sets`.
pub fn template(release: &str, namespace: &str, files: &[&str], sets: &[&str]) -> String {
    let mut command = Command::new(testbin().join("helm"));
    command.args(["template", release, CHART, "--namespace", namespace]);
    for file in files {
        command.args(["--show-only", &format!("templates/{file}")]);
    }
    for set in sets {
        command.args(["--set", set]);
    }
    run(&mut command, None)
}

/// `kubectl <args>` against the test API server, with `input` on stdin.
pub fn kubectl(args: &[&str], input: Option<&str>) -> String {
    run(
        Command::new(testbin().join("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig_path())
            .args(args),
        input.map(str::as_bytes),
    )
}

/// Applies the chart's ServiceAccount and RBAC for `release` in `namespace` with `sets`
/// (server-side, so a second call replaces the rules of the first), and returns the user
/// name to impersonate.
pub fn apply_rbac(release: &str, namespace: &str, sets: &[&str]) -> String {
    let rbac = template(
        release,
        namespace,
        &["rbac.yaml", "serviceaccount.yaml"],
        sets,
    );
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&rbac));
    format!("system:serviceaccount:{namespace}:{release}-ipam-operator")
}

/// The `--controllers` value the chart's Deployment passes with `sets`.
pub fn controllers(release: &str, namespace: &str, sets: &[&str]) -> String {
    template(release, namespace, &["deployment.yaml"], sets)
        .lines()
        .find_map(|l| l.trim().strip_prefix("- --controllers="))
        .expect("the Deployment passes --controllers")
        .to_string()
}

/// `kubectl auth can-i <verb> <what> -n <namespace> --as <user>`.
pub fn can(user: &str, namespace: &str, verb: &str, what: &str) -> bool {
    let out = Command::new(testbin().join("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(["auth", "can-i", verb, what, "-n", namespace, "--as", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// An operator process run as the chart's Deployment runs it, in `namespace`: as `user` (the
/// chart's ServiceAccount, impersonated), with leader election on and `--controllers` set.
pub fn operator(namespace: &str, user: &str, controllers: &str) -> crate::process::Operator {
    crate::process::Operator::start(
        namespace,
        &[
            "--namespace",
            namespace,
            "--controllers",
            controllers,
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
        ],
        &[
            ("KUBE_RS_DEBUG_IMPERSONATE_USER", user),
            ("POD_NAMESPACE", namespace),
        ],
    )
}
