//! The rebuilder node's link to the log: sign a rebuild's attestation, submit
//! it with retries, and keep the receipt as an offline proof bundle. The
//! node's two modes build on it: [`crate::follow`] (repeat what others
//! attested) and [`crate::queue`] (rebuild a list of binaries).

use crate::attest;
use crate::rebuild::RebuildReport;
use reprolog_io::http::{LogClient, LogError};
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::wire::{LookupEntry, LookupResponse, Receipt};
use std::time::Duration;

/// Signs the attestation for `report` and submits it; returns the entry bytes
/// and the verified receipt. Retries transient log errors with backoff.
pub fn submit_report(
    report: &RebuildReport,
    signer: &Signer,
    log: &LogClient,
) -> Result<(Vec<u8>, Receipt), LogError> {
    let statement = attest::statement(report, signer.name());
    let entry = Entry::sign(&statement, signer).to_cbor();
    let (receipt, _) = with_retries(4, || log.submit(&entry))?;
    Ok((entry, receipt))
}

/// An offline proof bundle: the lookup answer format, with one entry.
pub fn proof_bundle(entry: &[u8], receipt: &Receipt) -> LookupResponse {
    LookupResponse {
        checkpoint: receipt.checkpoint.clone(),
        entries: vec![LookupEntry {
            index: receipt.index,
            entry: entry.to_vec(),
            inclusion_proof: receipt.inclusion_proof.clone(),
        }],
        index: None,
        total: None,
        matched: None,
        next: None,
    }
}

/// Runs `f` until it succeeds, fails permanently, or `attempts` are used up;
/// waits 0.5 s, 1 s, 2 s, ... between transient failures.
pub fn with_retries<T>(
    attempts: u32,
    mut f: impl FnMut() -> Result<T, LogError>,
) -> Result<T, LogError> {
    let mut delay = Duration::from_millis(500);
    let mut left = attempts.max(1);
    loop {
        match f() {
            Err(e) if e.is_transient() && left > 1 => {
                tracing::warn!("transient log error, retrying in {delay:?}: {e}");
                std::thread::sleep(delay);
                delay *= 2;
                left -= 1;
            }
            other => return other,
        }
    }
}

pub use crate::follow::{
    follow, follow_with, BuildAndSubmit, FollowError, FollowOptions, FollowState, Job, Outcome,
    Repeat, Repeater, UNTRUSTED_SHARE_PER_KEY, UNTRUSTED_SHARE_TOTAL,
};
pub use crate::queue::{
    item_lines as queue_item_lines, run_queue, QueueOutcome, QueueResult, QueueRun,
};
