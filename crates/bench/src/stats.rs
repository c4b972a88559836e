//! Latency samples, their percentiles, and how figures are printed.

use std::time::Duration;

/// Percentiles of a set of latency samples (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let max = samples[samples.len() - 1];
        Self { p50: percentile(&samples, 0.50), p99: percentile(&samples, 0.99), max }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A closed-loop run: operations completed in a wall-clock span, with their latencies.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    pub ops: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latency: Summary,
    /// Every successful request's latency, sorted.
    pub samples: Vec<Duration>,
}

impl Throughput {
    pub fn per_sec(&self) -> f64 {
        if self.elapsed.is_zero() { 0.0 } else { self.ops as f64 / self.elapsed.as_secs_f64() }
    }

    /// Merges per-worker results of one run that lasted `elapsed`.
    pub fn merge(parts: Vec<WorkerResult>, elapsed: Duration) -> Self {
        let mut samples = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for part in parts {
            samples.extend(part.latencies);
            errors += part.errors;
            if first_error.is_none() {
                first_error = part.first_error;
            }
        }
        samples.sort_unstable();
        Self { ops: samples.len(), errors, first_error, elapsed, latency: Summary::of(samples.clone()), samples }
    }

    /// Adds up runs made one after the other (their spans and their samples).
    pub fn combine(runs: Vec<Throughput>) -> Self {
        let elapsed = runs.iter().map(|r| r.elapsed).sum();
        let parts = runs
            .into_iter()
            .map(|r| WorkerResult { latencies: r.samples, errors: r.errors, first_error: r.first_error })
            .collect();
        Self::merge(parts, elapsed)
    }

    /// One line for the progress log.
    pub fn line(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} ok in {:.1} s = {:.0}/s, p50 {}, p99 {}",
            self.ops,
            self.elapsed.as_secs_f64(),
            self.per_sec(),
            ms(self.latency.p50),
            ms(self.latency.p99)
        );
        if self.errors > 0 {
            s.push_str(&format!(", {} errors (first: {})", self.errors, self.first_error.as_deref().unwrap_or("?")));
        }
        s
    }
}

/// What one closed-loop worker measured.
#[derive(Debug, Default)]
pub struct WorkerResult {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub first_error: Option<String>,
}

impl WorkerResult {
    pub fn record<T, E: std::fmt::Display>(&mut self, result: Result<T, E>, latency: Duration) -> Option<T> {
        match result {
            Ok(v) => {
                self.latencies.push(latency);
                Some(v)
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
                None
            }
        }
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 { format!("{ms:.2} ms") } else { format!("{ms:.1} ms") }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A simple deterministic generator for picking keys (no need for cryptographic quality).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(samples);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(Summary::of(vec![Duration::from_millis(7)]).p99, Duration::from_millis(7));
    }

    #[test]
    fn combined_runs_add_up() {
        let run = |ms: &[u64], secs| {
            let latencies = ms.iter().copied().map(Duration::from_millis).collect();
            Throughput::merge(vec![WorkerResult { latencies, errors: 1, first_error: None }], Duration::from_secs(secs))
        };
        let both = Throughput::combine(vec![run(&[3, 1], 1), run(&[2, 4], 3)]);
        assert_eq!((both.ops, both.errors, both.elapsed), (4, 2, Duration::from_secs(4)));
        assert_eq!(both.samples, [1, 2, 3, 4].map(Duration::from_millis));
        assert!((both.per_sec() - 1.0).abs() < 1e-9);
    }
}
