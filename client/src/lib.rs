//! reprolog-client: answer "can I trust this file?" from proofs checked locally,
//! and audit that a log only ever grows.
//!
//! - [`verify`]: the consensus verdict for a digest under a trust policy.
//! - [`memory`]: remembered checkpoints; rollback and fork detection.
//! - [`audit`]: consistency and full audits of a log.
//! - [`release`]: verdicts for every Go binary of an archive or checksums file.
//! - [`http`]: the HTTP transport under proto's verified log client.
//! - [`policy_template`]: the template `reprolog policy init` writes.
//! - [`statefile`]: state saved atomically (temporary file, fsync, rename).

pub mod audit;
pub mod http;
pub mod memory;
pub mod policy_template;
pub mod release;
pub mod statefile;
pub mod verify;
