//! Figures for benchmarks: medians of repeated runs, a process's peak memory,
//! sizes from the environment.

use std::time::{Duration, Instant};

/// The median of `v` (the upper one of an even count). `v` must not be empty.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median wall time of `runs` calls of `f`.
pub fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// `$name` as a number, or `default` when it is unset or not one.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory (VmHWM) of process `pid`, in KiB; 0 when unknown.
pub fn peak_rss_kib(pid: u32) -> u64 {
    peak_rss_of(&format!("/proc/{pid}/status"))
}

/// Peak resident memory (VmHWM) of this process, in KiB; 0 when unknown.
pub fn own_peak_rss_kib() -> u64 {
    peak_rss_of("/proc/self/status")
}

fn peak_rss_of(status_file: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
