//! Percentiles of create→ready times.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
    pub mean_s: f64,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        Latency {
            p50_s: nearest_rank(&secs, 0.50),
            p99_s: nearest_rank(&secs, 0.99),
            max_s: secs[secs.len() - 1],
            mean_s: secs.iter().sum::<f64>() / secs.len() as f64,
        }
    }
}

/// The smallest sample with at least `q` of the samples at or below it.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_secs).collect();
        let l = Latency::of(&samples);
        assert_eq!((l.p50_s, l.p99_s, l.max_s), (50.0, 99.0, 100.0));
        assert_eq!(Latency::of(&[]).p99_s, 0.0);
    }
}
