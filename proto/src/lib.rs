//! reprolog-proto: the formats and the math every part of reprolog shares.
//!
//! Pure library: no I/O, no async. Each module implements one concept and
//! opens with the specification it follows.
//!
//! - [`hash`]: SHA-256 digests and the RFC 6962 leaf / interior hashes.
//! - [`merkle`]: RFC 6962/9162 Merkle trees over stored hashes (Go `tlog` indexing),
//!   proof generation and strict verification.
//! - [`tile`]: C2SP tlog-tiles coordinates, paths and entry bundles.
//! - [`key`]: note keys: names, key IDs, key texts, signature lines.
//! - [`note`]: C2SP signed notes: signing and opening.
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies, opened under a log key and a witness quorum.
//! - [`cosignature`]: C2SP tlog-cosignature v1, a witness's signature on a checkpoint.
//! - [`witness`]: C2SP tlog-witness: the add-checkpoint request and the witness's rules.
//! - [`display`]: text from log entries escaped and bounded for terminals and reports.
//! - [`dsse`]: the DSSE envelope and its pre-authentication encoding.
//! - [`statement`]: in-toto Statement v1 with the Go rebuild provenance predicate.
//! - [`entry`]: the canonical CBOR log entry.
//! - [`index`]: the verifiable index: the map of digests to log indices, its
//!   Merkle prefix trie, proofs of whole lists and of absence, revisions.
//! - [`policy`]: the client's trust-policy file; [`quorum`]: its witness part.
//! - [`wire`]: the bodies of the log's HTTP API and their verification.
//! - [`transport`]: the trait a binary implements to move bytes to a log.
//! - [`reader`]: a log's tiles and entry bundles, verified against a checkpoint;
//!   inclusion and consistency proofs built from them.
//! - [`logclient`]: the log's API over a transport, every answer verified.
//! - [`archive`]: release archives (tar, tar.gz, zip) read as hashed, classified members.

pub mod archive;
pub mod checkpoint;
pub mod cosignature;
pub mod display;
pub mod dsse;
pub mod entry;
pub mod hash;
pub mod index;
pub mod key;
pub mod logclient;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod quorum;
pub mod reader;
pub mod statement;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod threshold;
pub mod tile;
pub mod transport;
pub mod wire;
pub mod witness;

#[cfg(test)]
mod web_vectors;

pub use hash::Hash;
