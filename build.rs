//! Stamps the commit the binary is built from into `IPAM_COMMIT`, for `ipam_build_info`.
//!
//! `IPAM_COMMIT` from the environment wins (a container build has no .git: pass it as a
//! build argument); otherwise git is asked; otherwise it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=IPAM_COMMIT");
    let commit = std::env::var("IPAM_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Built again when HEAD moves: HEAD itself, the branch it names, packed refs.
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            for file in ["HEAD", "packed-refs"]
                .into_iter()
                .map(String::from)
                .chain(branch)
            {
                if let Some(path) = git(&["rev-parse", "--git-path", &file]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=IPAM_COMMIT={commit}");
}
