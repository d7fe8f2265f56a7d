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

/// `POST LOG/add-entry` of one CBOR entry; the transport's error when no
/// answer came (a refusal is an answer: see [`agent`]).
pub fn add_entry(
    agent: &ureq::Agent,
    log: &str,
    entry: &[u8],
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    agent
        .post(&format!("{log}/add-entry"))
        .header("Content-Type", "application/cbor")
        .send(entry)
}

/// [`add_entry`], insisting it is acknowledged (200).
pub fn submit(agent: &ureq::Agent, log: &str, entry: &[u8]) {
    let mut resp = add_entry(agent, log, entry).expect("POST /add-entry");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "add-entry: {body}");
}
