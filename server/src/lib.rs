//! reprolog-server: the append-only log of rebuild attestations.
//!
//! - [`storage`]: redb tables and the batch append transaction.
//! - [`log`]: storage plus signing key; checkpoint invariants, startup checks.
//! - [`sequencer`]: batching submissions into durable commits.
//! - [`api`]: the HTTP wire API.
//! - [`metrics`]: Prometheus counters.
//! - [`serve`]: wiring it together for the CLI and tests.
//! - [`harness`]: an in-process log for other crates' tests and tools.

pub mod api;
pub mod harness;
pub mod log;
pub mod metrics;
pub mod sequencer;
pub mod serve;
pub mod storage;
