//! reprolog-server: the append-only log of rebuild attestations.
//!
//! - [`storage`]: the store interface, its redb and PostgreSQL backends.
//! - [`migrate`]: a redb log copied into PostgreSQL.
//! - [`log`]: storage plus signing key; checkpoint invariants, startup checks.
//! - [`sequencer`]: batching submissions into durable commits.
//! - [`index`]: the verifiable index (map of digests to indices) and its log.
//! - [`cosign`]: the log asking its witnesses to cosign each checkpoint.
//! - [`witness`]: `reprolog-server witness`, a C2SP tlog-witness.
//! - [`api`]: the HTTP wire API; [`state`]: what every handler shares.
//! - [`disk`]: free space on the data dir, file-size limits.
//! - [`http`]: accepting connections (cap, header deadline, shutdown).
//! - [`metrics`]: Prometheus counters.
//! - [`web`]: the web page at `/` and its JSON status API ([`summary`]).
//! - [`ratelimit`]: per-key submission rate limits.
//! - [`serve`]: wiring it together for the CLI and tests.
//! - [`harness`]: an in-process log for other crates' tests and tools.

pub mod admission;
pub mod api;
pub mod budget;
pub mod cosign;
pub mod disk;
#[cfg(feature = "harness")]
pub mod harness;
pub mod http;
pub mod index;
pub mod log;
pub mod metrics;
pub mod migrate;
pub mod object_url;
pub mod publish;
pub mod ratelimit;
pub mod rejection;
pub mod sequencer;
pub mod serve;
pub mod shares;
pub mod state;
pub mod storage;
pub mod summary;
pub mod web;
pub mod witness;
