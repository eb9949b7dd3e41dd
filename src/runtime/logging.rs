//! Logs through `tracing`: human-readable by default, one JSON object a line on request
//! (for log collectors). The level comes from `RUST_LOG`, else from `--v` (klog's
//! verbosity, as Cluster API Deployments pass it), else `info`.

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The level klog's verbosity `v` corresponds to.
fn level(v: Option<u8>) -> &'static str {
    match v.unwrap_or(0) {
        0..=1 => "info",
        2..=4 => "debug",
        _ => "trace",
    }
}

pub fn init(format: LogFormat, verbosity: Option<u8>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| level(verbosity).into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn klog_verbosity_maps_to_levels() {
        assert_eq!(super::level(None), "info");
        assert_eq!(super::level(Some(1)), "info");
        assert_eq!(super::level(Some(4)), "debug");
        assert_eq!(super::level(Some(10)), "trace");
    }
}
