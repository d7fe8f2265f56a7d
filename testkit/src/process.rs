//! What a finished command said.

use std::process::Output;

/// Whether the command succeeded, and what it said: its standard output
/// when it did, its standard error when it did not.
pub fn outcome(out: &Output) -> (bool, String) {
    let ok = out.status.success();
    let text = if ok { &out.stdout } else { &out.stderr };
    (ok, String::from_utf8_lossy(text).into_owned())
}
