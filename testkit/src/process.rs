//! What a finished command said.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output};

/// Whether the command succeeded, and what it said: its standard output
/// when it did, its standard error when it did not.
pub fn outcome(out: &Output) -> (bool, String) {
    let ok = out.status.success();
    let text = if ok { &out.stdout } else { &out.stderr };
    (ok, String::from_utf8_lossy(text).into_owned())
}

/// A command's standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the client `program` (`reprolog`) with `args` and the state dir
/// `state`, and no policy but one the arguments name: neither
/// `$REPROLOG_POLICY` nor the user's config directory.
pub fn client(program: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .arg("--state")
        .arg(state)
        .env_remove("REPROLOG_POLICY")
        .env("XDG_CONFIG_HOME", state.join("no-config"))
        .args(args)
        .output()
        .expect("run reprolog")
}

/// The URL a `reprolog-server serve` or `witness` process (started with its
/// stdout piped) prints as its first line, "listening on URL", once it
/// accepts connections.
pub fn listening_url(child: &mut Child) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("stdout is not piped")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
        .ok_or_else(|| format!("did not start: {line:?}"))
}
