//! Standard output for results a reader may cut short.

use std::io::Write;

/// Writes `text` to standard output. A reader that stops early (`| head -1`)
/// is not an error: the exit status still reports the result.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
