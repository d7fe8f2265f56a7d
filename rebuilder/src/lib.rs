//! reprolog-rebuilder: read Go build info, plan and run a hermetic rebuild,
//! compare bit for bit and explain any difference; attest, submit, follow.
//!
//! Reading a binary and planning:
//! - [`buildinfo`]: Go build info from ELF / PE / Mach-O, like `go version -m`.
//! - [`goquote`]: Go string quoting, for build info lines.
//! - [`plan`]: build info → toolchain, source, flags, environment.
//! - [`flags`], [`modpath`]: recorded flags, paths and versions checked before use.
//! - [`gover`]: Go version order; go.mod lines asking for a newer Go.
//!
//! Toolchains and sources:
//! - [`toolchain`]: the GOROOT store and the toolchain digest.
//! - [`download`]: official Go archives, checked against the release index.
//! - [`source`]: the source made ready: module, git revision, Go distribution.
//! - [`vcs`]: the repository of a VCS-stamped binary, found and fetched.
//! - [`egress`]: where a node may connect for a source; redirects; pinning.
//! - [`gopath`]: module or GOPATH mode for Go distribution commands.
//!
//! Building and comparing:
//! - [`sandbox`]: every build confined with bubblewrap.
//! - [`build`]: hermetic `go` invocations.
//! - [`paths`]: builds without -trimpath repeated at their original paths.
//! - [`link_traits`]: the -s, -w, -buildid= flags a binary's link traits imply.
//! - [`buildid`], [`search`]: build IDs masked; flag orders and hidden `-X` values searched.
//! - [`attempt`]: the builds of one rebuild, each compared with the original.
//! - [`digest`]: the original's SHA-256, computed while the build runs.
//! - [`diagnose`]: why a rebuild differs.
//! - [`job`]: what one rebuild job is: target, config, report, errors.
//! - [`rebuild`]: the whole job; [`report`]: its report as text.
//!
//! Attesting and the log:
//! - [`attest`]: rebuild reports as in-toto statements, and back.
//! - [`node`]: sign and submit with retries; offline proof bundles.
//! - [`follow`]: tail a log and repeat others' builds.
//! - [`queue`]: rebuild a list of binaries.
//! - [`release`]: rebuild every Go binary of a release archive.

pub mod attempt;
pub mod attest;
pub mod build;
pub mod buildid;
pub mod buildinfo;
pub mod diagnose;
pub mod digest;
pub mod download;
pub mod egress;
pub mod flags;
pub mod follow;
pub mod follow_index;
pub mod gopath;
pub mod goquote;
pub mod gover;
pub mod job;
pub mod link_traits;
pub mod modpath;
pub mod node;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod rebuild;
pub mod release;
pub mod report;
pub mod sandbox;
pub mod search;
pub mod source;
pub mod stamp;
pub mod toolchain;
pub mod vcs;
