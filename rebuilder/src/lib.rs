//! reprolog-rebuilder: read Go build info, plan and run a hermetic rebuild,
//! compare bit for bit and explain any difference.
//!
//! - [`buildinfo`]: Go build info from ELF / PE / Mach-O, like `go version -m`.
//! - [`plan`]: build info → toolchain, source, flags, environment.
//! - [`flags`], [`modpath`]: recorded flags, paths and versions checked before use.
//! - [`sandbox`]: every build confined with bubblewrap.
//! - [`toolchain`]: the GOROOT store and the toolchain digest.
//! - [`gover`]: Go version order; go.mod lines asking for a newer Go.
//! - [`build`]: hermetic `go` invocations.
//! - [`infer`]: -ldflags that Go did not record.
//! - [`buildid`], [`search`]: build IDs masked; flag orders and hidden `-X` values searched.
//! - [`diagnose`]: why a rebuild differs.
//! - [`vcs`]: the repository of a VCS-stamped binary, found and fetched.
//! - [`rebuild`]: the whole job and its report.

pub mod attempt;
pub mod attest;
pub mod build;
pub mod buildid;
pub mod buildinfo;
pub mod diagnose;
pub mod digest;
pub mod download;
pub mod flags;
pub mod gopath;
pub mod goquote;
pub mod gover;
pub mod infer;
pub mod logclient;
pub mod modpath;
pub mod node;
pub mod paths;
pub mod plan;
pub mod rebuild;
pub mod report;
pub mod sandbox;
pub mod search;
pub mod source;
pub mod statefile;
pub mod toolchain;
pub mod vcs;
