//! reprolog-client: answer "can I trust this file?" from proofs checked locally,
//! and audit that a log only ever grows.
//!
//! - [`verify`]: the consensus verdict for a digest under a trust policy.
//! - [`memory`]: remembered checkpoints; rollback and fork detection.
//! - [`audit`]: consistency and full audits of a log; [`audit_index`]: its
//!   verifiable index, every revision recomputed.
//! - [`release`]: verdicts for every Go binary of an archive or checksums file.
//! - [`policy_template`]: the template `reprolog policy init` writes.
//!
//! HTTP to the log and state files come from `reprolog-io`.

pub mod audit;
pub mod audit_index;
pub mod memory;
pub mod policy_template;
pub mod release;
pub mod verify;
