//! What reprolog's tests and benchmarks share across crates. It depends on no
//! reprolog crate, so any of them may dev-depend on it without a cycle.
//! Helpers panic on failure: they are for tests, where a panic is the report.

pub mod archive;
pub mod bench;
pub mod process;

use std::time::Duration;

/// An HTTP agent for tests: error statuses are answers, not errors, and no
/// request waits longer than `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
