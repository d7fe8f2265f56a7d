//! Per-key submission rate limits: a token bucket for each rebuilder key.
//!
//! Checked after the entry's signature verified, so a client can only spend
//! the budget of a key it holds. Each key earns `per_second` tokens a second up
//! to `burst`; a submission spends one. The table is bounded: when it grows
//! past `MAX_KEYS`, buckets that are full again (idle keys) are dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sustained rate and burst per key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    pub per_second: f64,
    pub burst: u32,
}

/// A token bucket: earns `rate` tokens a second up to `burst`.
pub struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            updated: now,
        }
    }

    /// Whether `n` tokens are there (after refilling); takes nothing.
    pub fn has(&mut self, n: f64, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        let tokens = refill(self, now, rate, burst);
        if tokens >= n {
            return Ok(());
        }
        Err(Duration::from_secs_f64(if rate > 0.0 {
            (n - tokens) / rate
        } else {
            3600.0
        }))
    }

    /// Takes `n` tokens, present or not (after [`Bucket::has`]).
    pub fn take(&mut self, n: f64) {
        self.tokens -= n;
    }
}

/// The token buckets of all keys seen recently.
pub struct RateLimiter {
    config: RateConfig,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

const MAX_KEYS: usize = 65_536;

impl RateLimiter {
    pub fn new(config: RateConfig) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one token of `key`, or says how long until one is available.
    pub fn check(&self, key: &[u8; 32], now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.config.burst.max(1));
        let rate = self.config.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| refill(b, now, rate, burst) < burst);
        }
        let bucket = buckets
            .entry(*key)
            .or_insert_with(|| Bucket::full(burst, now));
        bucket.has(1.0, now, rate, burst)?;
        bucket.take(1.0);
        Ok(())
    }
}

/// Adds the tokens earned since the bucket was last updated; returns them.
fn refill(b: &mut Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let earned = now.saturating_duration_since(b.updated).as_secs_f64() * rate;
    b.tokens = (b.tokens + earned).min(burst);
    b.updated = now;
    b.tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate_per_key() {
        let limiter = RateLimiter::new(RateConfig {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for _ in 0..3 {
            assert!(limiter.check(&a, t0).is_ok());
        }
        let wait = limiter.check(&a, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another key has its own budget.
        assert!(limiter.check(&b, t0).is_ok());
        // Half a second earns one token at 2/s, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check(&a, t1).is_ok());
        assert!(limiter.check(&a, t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check(&a, t2).is_ok());
        }
        assert!(limiter.check(&a, t2).is_err());
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(RateConfig {
            per_second: 1000.0,
            burst: 1,
        });
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 10) {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let _ = limiter.check(&key, t0 + Duration::from_micros(u64::from(i)));
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_KEYS);
    }
}
