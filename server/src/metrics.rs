//! Prometheus text-format metrics (https://prometheus.io/docs/instrumenting/exposition_formats/).
//! A handful of counters and two histograms; lock-free on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a request was rejected; the label of `reprolog_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    NonCanonical,
    TooLarge,
    BadSignature,
    BadStatement,
    ContentType,
    ForbiddenKey,
    PoolFull,
    Unavailable,
    InsufficientStorage,
    ReadOnly,
    RateLimited,
    UnknownBudget,
    BadRequest,
    NotFound,
}

const REJECTIONS: [Rejection; 15] = [
    Rejection::Malformed,
    Rejection::NonCanonical,
    Rejection::TooLarge,
    Rejection::BadSignature,
    Rejection::BadStatement,
    Rejection::ContentType,
    Rejection::ForbiddenKey,
    Rejection::PoolFull,
    Rejection::Unavailable,
    Rejection::InsufficientStorage,
    Rejection::ReadOnly,
    Rejection::RateLimited,
    Rejection::UnknownBudget,
    Rejection::BadRequest,
    Rejection::NotFound,
];

impl Rejection {
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::NonCanonical => "non_canonical",
            Rejection::TooLarge => "too_large",
            Rejection::BadSignature => "bad_signature",
            Rejection::BadStatement => "bad_statement",
            Rejection::ContentType => "content_type",
            Rejection::ForbiddenKey => "forbidden_key",
            Rejection::PoolFull => "pool_full",
            Rejection::Unavailable => "unavailable",
            Rejection::InsufficientStorage => "insufficient_storage",
            Rejection::ReadOnly => "read_only",
            Rejection::RateLimited => "rate_limited",
            Rejection::UnknownBudget => "unknown_budget",
            Rejection::BadRequest => "bad_request",
            Rejection::NotFound => "not_found",
        }
    }
}

/// A cumulative histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, so it stays an atomic integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// All server metrics.
pub struct Metrics {
    pub tree_size: AtomicU64,
    pub submissions: AtomicU64,
    pub duplicates: AtomicU64,
    pub batches: AtomicU64,
    rejected: Vec<AtomicU64>,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            tree_size: AtomicU64::new(0),
            submissions: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            rejected: REJECTIONS.iter().map(|_| AtomicU64::new(0)).collect(),
            batch_size: Histogram::new(&[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
            commit_seconds: Histogram::new(&[
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
            ]),
        }
    }
}

impl Metrics {
    pub fn reject(&self, why: Rejection) {
        if let Some(i) = REJECTIONS.iter().position(|&r| r == why) {
            self.rejected[i].fetch_add(1, Relaxed);
        }
    }

    pub fn rejected(&self, why: Rejection) -> u64 {
        REJECTIONS
            .iter()
            .position(|&r| r == why)
            .map_or(0, |i| self.rejected[i].load(Relaxed))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "reprolog_tree_size",
            "Entries covered by the latest checkpoint.",
            "gauge",
            self.tree_size.load(Relaxed),
        );
        counter(
            &mut out,
            "reprolog_submissions_total",
            "Entries accepted for sequencing.",
            "counter",
            self.submissions.load(Relaxed),
        );
        counter(
            &mut out,
            "reprolog_duplicates_total",
            "Submissions already in the log.",
            "counter",
            self.duplicates.load(Relaxed),
        );
        counter(
            &mut out,
            "reprolog_batches_total",
            "Committed batches.",
            "counter",
            self.batches.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP reprolog_rejected_total Rejected requests by reason.\n# TYPE reprolog_rejected_total counter");
        for (r, n) in REJECTIONS.iter().zip(&self.rejected) {
            let _ = writeln!(
                out,
                "reprolog_rejected_total{{reason=\"{}\"}} {}",
                r.label(),
                n.load(Relaxed)
            );
        }
        self.batch_size.render(
            &mut out,
            "reprolog_batch_size",
            "Entries per committed batch.",
        );
        self.commit_seconds.render(
            &mut out,
            "reprolog_commit_seconds",
            "Time to commit a batch durably and sign its checkpoint.",
        );
        out
    }
}
