//! reprolog-io: the I/O the three programs share, so that none of them
//! depends on another and proto stays free of I/O.
//!
//! - [`config`]: TOML config files and `REPROLOG_*` variables beside flags.
//! - [`docs`]: shell completions and man pages from the clap definitions.
//! - [`http`]: proto's verified log client over blocking HTTP(S).
//! - [`logging`]: log lines to standard error, filtered by `RUST_LOG`.
//! - [`statefile`]: state saved atomically; append-only journals.
//! - [`secret`]: key files only their owner may read.
//! - [`stdout`]: printing results when the reader may stop early.

pub mod config;
pub mod docs;
pub mod http;
pub mod logging;
pub mod secret;
pub mod statefile;
pub mod stdout;
