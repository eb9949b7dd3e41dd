//! The markdown table of a folder of reports: every figure of every run, then how ours
//! compares with the upstream provider and with the raw limit, then the machine it ran on.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use crate::report::Report;

pub fn render(dir: &Path, command: &str) -> anyhow::Result<String> {
    let reports = read_all(dir)?;
    let mut out = String::new();
    writeln!(
        out,
        "| scenario | system | bound | claims/s | p50 s | p99 s | requests/claim | system's/claim | system's requests per claim | not 2xx | peak RSS MiB | CPU s | duplicates | load avg |"
    )?;
    writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    // Restarts have a table of their own: they bind nothing.
    for r in reports.iter().filter(|r| r.restart.is_none()) {
        let process = r.process.clone().unwrap_or_default();
        let (rss, cpu) = if r.process.is_some() {
            (
                format!("{:.0}", process.peak_rss_mib),
                format!("{:.1}", process.cpu_seconds),
            )
        } else {
            ("–".into(), "–".into())
        };
        writeln!(
            out,
            "| {} | {} | {}/{} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {rss} | {cpu} | {} | {:.1}→{:.1} |",
            r.scenario,
            r.system,
            r.ready,
            r.claims,
            r.claims_per_second,
            r.latency.p50_s,
            r.latency.p99_s,
            r.requests.total_per_claim,
            r.requests.operator_per_claim,
            breakdown(&r.requests.operator_by_verb_resource),
            failures(&r.requests.non_2xx),
            r.duplicates,
            r.load_average[0],
            r.load_average[1]
        )?;
    }
    ratios(&mut out, &reports)?;
    restarts(&mut out, &reports)?;
    notes(&mut out, &reports)?;
    machine(&mut out, command)?;
    Ok(out)
}

fn read_all(dir: &Path) -> anyhow::Result<Vec<Report>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a report", p.display()))
        })
        .collect()
}

/// "POST addressallocations 1.00, …", largest first, leaving out what rounds to nothing.
fn breakdown(per_claim: &BTreeMap<String, f64>) -> String {
    let mut items: Vec<_> = per_claim.iter().filter(|(_, n)| **n >= 0.005).collect();
    items.sort_by(|a, b| b.1.total_cmp(a.1));
    let text: Vec<String> = items.iter().map(|(k, n)| format!("{k} {n:.2}")).collect();
    if text.is_empty() {
        "–".into()
    } else {
        text.join(", ")
    }
}

fn failures(counts: &BTreeMap<String, f64>) -> String {
    let text: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n:.0}")).collect();
    if text.is_empty() {
        "0".into()
    } else {
        text.join(", ")
    }
}

/// claims/s of ours against the others of the same scenario.
fn ratios(out: &mut String, reports: &[Report]) -> anyhow::Result<()> {
    let mut by_scenario: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for r in reports.iter().filter(|r| r.restart.is_none()) {
        by_scenario
            .entry(&r.scenario)
            .or_default()
            .insert(&r.system, r.claims_per_second);
    }
    writeln!(
        out,
        "\n| scenario | ours/peer (claims/s) | ours/raw (claims/s) |\n|---|---|---|"
    )?;
    for (scenario, systems) in by_scenario {
        let Some(ours) = systems.get("ours") else {
            continue;
        };
        let ratio = |other: &str| match systems.get(other) {
            Some(o) if *o > 0.0 => format!("{:.2}", ours / o),
            _ => "–".into(),
        };
        writeln!(out, "| {scenario} | {} | {} |", ratio("peer"), ratio("raw"))?;
    }
    Ok(())
}

fn restarts(out: &mut String, reports: &[Report]) -> anyhow::Result<()> {
    let restarts: Vec<_> = reports
        .iter()
        .filter_map(|r| Some((r, r.restart.as_ref()?)))
        .collect();
    if restarts.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n| restart | system | addresses | exec → /readyz 200 s | RSS at ready MiB | peak RSS MiB (after settling) | CPU s | system's requests |\n|---|---|---|---|---|---|---|---|"
    )?;
    for (r, restart) in restarts {
        let process = r.process.clone().unwrap_or_default();
        writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} ({:.0} s) | {:.1} | {:.0} |",
            r.scenario,
            r.system,
            r.addresses,
            restart.ready_seconds,
            restart.rss_at_ready_mib,
            process.peak_rss_mib,
            restart.settle_seconds,
            process.cpu_seconds,
            r.requests.operator_per_claim * r.claims as f64
        )?;
    }
    Ok(())
}

fn notes(out: &mut String, reports: &[Report]) -> anyhow::Result<()> {
    let noted: Vec<_> = reports.iter().filter(|r| !r.notes.is_empty()).collect();
    if !noted.is_empty() {
        writeln!(out)?;
    }
    for r in noted {
        writeln!(out, "- {} {}: {}", r.scenario, r.system, r.notes.join("; "))?;
    }
    Ok(())
}

fn machine(out: &mut String, command: &str) -> anyhow::Result<()> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC");
    writeln!(
        out,
        "\nMachine: {cpus} CPUs ({model}), {mem_gib:.1} GiB memory. Command: `{command}`. Date: {date}.\n\n\
         \"system's\" is every request the API server counted less the driver's own, so it also holds \
         the control plane's background (leases, the garbage collector's watches); \"load avg\" is \
         the machine's 1-minute load average at the start and end of the run."
    )?;
    Ok(())
}
