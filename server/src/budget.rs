//! A total budget for keys the operator does not know ("strangers").
//!
//! Per-key limits (`ratelimit.rs`, `shares.rs`) stop one key, but keys are
//! free to mint: 300 fresh keys × 100 entries were all accepted in 18 s, and
//! left running that fills the disk until every writer gets 507. So all
//! unknown keys together draw on two token buckets, entries and bytes a
//! second, and are refused outright while the data dir's free space is below
//! a floor of their own, well above the one that stops every writer
//! (`--min-free-mib`): the log's own rebuilders keep writing after strangers
//! are cut off. Refusals are 503 with `Retry-After`: the log is unavailable to
//! strangers for now, through no fault of the request.

use crate::ratelimit::{Bucket, RateConfig};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What all unknown keys together may add.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Entries a second, and the burst above it.
    pub entries: RateConfig,
    /// Bytes a second (entry bytes), and the burst above it.
    pub bytes: RateConfig,
    /// Below this much free space in the data dir, no unknown key writes.
    pub min_free_bytes: u64,
}

/// By default all unknown keys together add at most 20 entries and 256 KiB
/// a second (bursts of 200 entries, 4 MiB), and stop below 512 MiB free
/// (eight times the default `--min-free-mib`).
pub const DEFAULT_BUDGET: BudgetConfig = BudgetConfig {
    entries: RateConfig {
        per_second: 20.0,
        burst: 200,
    },
    bytes: RateConfig {
        per_second: 256.0 * 1024.0,
        burst: 4 << 20,
    },
    min_free_bytes: 512 << 20,
};

/// Why an unknown key's entry was not admitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The entries or bytes budget is spent; retry after this long.
    Spent { what: &'static str, wait: Duration },
    /// The disk is below the strangers' floor.
    LowDisk { free: u64, floor: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Spent { what, .. } => write!(
                f,
                "keys this log does not know have spent their shared budget of {what}; retry later"
            ),
            Refusal::LowDisk { free, floor } => write!(
                f,
                "the log's disk has {} free, below the {} kept for the log's own rebuilders; keys it does not know are refused",
                crate::disk::human(*free),
                crate::disk::human(*floor)
            ),
        }
    }
}

impl Refusal {
    /// Seconds to put in `Retry-After`.
    pub fn retry_after(&self) -> u32 {
        match self {
            Refusal::Spent { wait, .. } => wait.as_secs_f64().ceil().max(1.0) as u32,
            Refusal::LowDisk { .. } => 60,
        }
    }
}

/// The shared budget and its figures for `/metrics`.
pub struct StrangerBudget {
    config: BudgetConfig,
    buckets: Mutex<(Bucket, Bucket)>,
    admitted: AtomicU64,
    admitted_bytes: AtomicU64,
    refused_spent: AtomicU64,
    refused_disk: AtomicU64,
}

impl StrangerBudget {
    pub fn new(config: BudgetConfig) -> StrangerBudget {
        let now = Instant::now();
        StrangerBudget {
            config,
            buckets: Mutex::new((
                Bucket::full(f64::from(config.entries.burst.max(1)), now),
                Bucket::full(f64::from(config.bytes.burst.max(1)), now),
            )),
            admitted: AtomicU64::new(0),
            admitted_bytes: AtomicU64::new(0),
            refused_spent: AtomicU64::new(0),
            refused_disk: AtomicU64::new(0),
        }
    }

    /// Admits one entry of `size` bytes from an unknown key, given the data
    /// dir's free space (`None`: not on a local disk), or says why not.
    /// Both buckets are checked before either is spent.
    pub fn admit(&self, size: usize, free: Option<u64>, now: Instant) -> Result<(), Refusal> {
        if let Some(free) = free.filter(|&f| f < self.config.min_free_bytes) {
            self.refused_disk.fetch_add(1, Relaxed);
            return Err(Refusal::LowDisk {
                free,
                floor: self.config.min_free_bytes,
            });
        }
        let (e, b) = (self.config.entries, self.config.bytes);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, bytes) = &mut *buckets;
        let checks = [
            (
                "entries",
                entries.has(1.0, now, e.per_second, f64::from(e.burst.max(1))),
            ),
            // An entry larger than the burst could never pass: cap the need.
            (
                "bytes",
                bytes.has(
                    (size as f64).min(f64::from(b.burst.max(1))),
                    now,
                    b.per_second,
                    f64::from(b.burst.max(1)),
                ),
            ),
        ];
        for (what, check) in checks {
            if let Err(wait) = check {
                self.refused_spent.fetch_add(1, Relaxed);
                return Err(Refusal::Spent { what, wait });
            }
        }
        entries.take(1.0);
        bytes.take((size as f64).min(f64::from(b.burst.max(1))));
        self.admitted.fetch_add(1, Relaxed);
        self.admitted_bytes.fetch_add(size as u64, Relaxed);
        Ok(())
    }

    /// Prometheus lines: what unknown keys were admitted and refused.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP reprolog_unknown_keys_admitted_total Entries from keys the operator does not know, admitted within the shared budget.\n# TYPE reprolog_unknown_keys_admitted_total counter\nreprolog_unknown_keys_admitted_total {}", self.admitted.load(Relaxed));
        let _ = writeln!(out, "# HELP reprolog_unknown_keys_admitted_bytes_total Their bytes.\n# TYPE reprolog_unknown_keys_admitted_bytes_total counter\nreprolog_unknown_keys_admitted_bytes_total {}", self.admitted_bytes.load(Relaxed));
        let _ = writeln!(out, "# HELP reprolog_unknown_keys_refused_total Entries from unknown keys refused by the shared budget (spent) or the disk floor (disk).\n# TYPE reprolog_unknown_keys_refused_total counter\nreprolog_unknown_keys_refused_total{{reason=\"spent\"}} {}\nreprolog_unknown_keys_refused_total{{reason=\"disk\"}} {}", self.refused_spent.load(Relaxed), self.refused_disk.load(Relaxed));
        let _ = writeln!(out, "# HELP reprolog_unknown_keys_budget Entries a second and bytes a second all unknown keys together may add.\n# TYPE reprolog_unknown_keys_budget gauge\nreprolog_unknown_keys_budget{{unit=\"entries\"}} {}\nreprolog_unknown_keys_budget{{unit=\"bytes\"}} {}", self.config.entries.per_second, self.config.bytes.per_second);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_the_disk_floor_holds() {
        let budget = StrangerBudget::new(BudgetConfig {
            entries: RateConfig {
                per_second: 10.0,
                burst: 5,
            },
            bytes: RateConfig {
                per_second: 1000.0,
                burst: 3000,
            },
            min_free_bytes: 100,
        });
        let t0 = Instant::now();
        // Five entries of 500 bytes: the entry burst is the limit.
        for _ in 0..5 {
            budget.admit(500, Some(1000), t0).unwrap();
        }
        let Err(Refusal::Spent { what, wait }) = budget.admit(500, Some(1000), t0) else {
            panic!("the sixth entry passed");
        };
        assert_eq!(what, "entries");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // A second later: entries to spare (five), but 500 + 1000 bytes.
        let t1 = t0 + Duration::from_secs(1);
        budget.admit(800, Some(1000), t1).unwrap();
        assert!(matches!(
            budget.admit(800, Some(1000), t1),
            Err(Refusal::Spent { what: "bytes", .. })
        ));
        // Below the floor nothing passes, whatever the buckets hold.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(
            budget.admit(1, Some(99), t2),
            Err(Refusal::LowDisk {
                free: 99,
                floor: 100
            })
        );
        budget.admit(1, None, t2).unwrap();
        let metrics = budget.render_metrics();
        assert!(
            metrics.contains("reprolog_unknown_keys_admitted_total 7"),
            "{metrics}"
        );
        assert!(
            metrics.contains("reprolog_unknown_keys_refused_total{reason=\"disk\"} 1"),
            "{metrics}"
        );
    }
}
