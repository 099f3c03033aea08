//! Latency summaries (nearest-rank percentiles over all samples, no smoothing).
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    /// Microseconds.
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub min_us: f64,
    pub max_us: f64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The nearest-rank percentile `p` (0..=100) of sorted samples.
fn rank(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let k = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[k.clamp(1, sorted.len()) - 1]
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut s = samples.to_vec();
        s.sort_unstable();
        if s.is_empty() {
            return Summary::default();
        }
        let total: Duration = s.iter().sum();
        Summary {
            n: s.len(),
            p50_us: us(rank(&s, 50.0)),
            p90_us: us(rank(&s, 90.0)),
            p99_us: us(rank(&s, 99.0)),
            mean_us: us(total) / s.len() as f64,
            min_us: us(s[0]),
            max_us: us(s[s.len() - 1]),
        }
    }
}

/// The median of a few durations (cold starts), in milliseconds.
pub fn median_ms(samples: &[Duration]) -> Option<f64> {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return None;
    }
    Some(rank(&s, 50.0).as_secs_f64() * 1e3)
}

/// Milliseconds with a sensible number of decimals for a table.
pub fn ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}
