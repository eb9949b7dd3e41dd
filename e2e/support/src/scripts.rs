//! The project's `e2e/bin` scripts that build a part once per machine (Flux, clusterctl, the
//! control plane) and print the folder holding it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The repository's root, as a plain path (source-controller refuses a storage path with `..`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// Runs `e2e/bin/<script>` and returns the folder it prints on its last line. A script that
/// fails fails the test: the part cannot be had on this machine.
pub fn script_output(script: &str) -> PathBuf {
    let out = std::process::Command::new(root().join("e2e/bin").join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run e2e/bin/{script}: {e}"));
    assert!(
        out.status.success(),
        "e2e/bin/{script} failed ({}): what it builds cannot be had on this machine, so the test fails",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().unwrap_or_default().trim())
}
