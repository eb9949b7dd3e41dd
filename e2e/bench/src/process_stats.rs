//! What the system under test cost the machine, read from /proc: the kernel keeps the peak
//! resident set (VmHWM) and the CPU time of every process, so nothing has to sample them.

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    pub pid: u32,
    /// Peak resident set size since the process started, MiB.
    pub peak_rss_mib: f64,
    /// User plus system CPU time since the process started, seconds.
    pub cpu_seconds: f64,
}

pub fn read(pid: u32) -> anyhow::Result<ProcessStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status: is the system under test running?"))?;
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")?;
    let ticks = stat_fields(pid)?;
    let cpu_ticks: f64 = ticks[11].parse::<f64>()? + ticks[12].parse::<f64>()?;
    Ok(ProcessStats {
        pid,
        peak_rss_mib: hwm_kib / 1024.0,
        cpu_seconds: cpu_ticks / clock_ticks_per_second(),
    })
}

/// Seconds since the process was started (its `starttime` against the system's uptime):
/// the time-to-ready of a restart is measured from the exec, whoever spawned it.
pub fn age_seconds(pid: u32) -> anyhow::Result<f64> {
    let started: f64 = stat_fields(pid)?[19].parse()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .context("empty /proc/uptime")?
        .parse()?;
    Ok(uptime - started / clock_ticks_per_second())
}

/// The machine's 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_default()
}

/// The fields of /proc/PID/stat after the command name (which may hold spaces), so that
/// index 0 is the state (field 3 in proc(5)), 11 utime, 12 stime, 19 starttime.
fn stat_fields(pid: u32) -> anyhow::Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    Ok(after_name.split_whitespace().map(String::from).collect())
}

/// USER_HZ. Linux has reported 100 on every common architecture for decades; `getconf`
/// confirms it without a libc binding.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = super::read(std::process::id()).unwrap();
        assert!(me.peak_rss_mib > 0.0);
        assert!(super::age_seconds(me.pid).unwrap() >= 0.0);
    }
}
