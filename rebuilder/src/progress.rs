//! Progress of long work, on stderr. A rebuild says what it does one line
//! per step, but a step (a first build with a cold cache, a clone) can run
//! for minutes without a word. On a terminal the last step shows under a
//! spinner with its elapsed time (indicatif); otherwise, as in a log file or
//! CI, a line `still <step> (<n> s)` follows after every `every` of silence.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a step may run silently before a line says it still runs.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Where the lines go (stderr, or a test's buffer).
type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// The last step and since when it runs.
struct Step {
    text: String,
    since: Instant,
}

/// Progress lines of one command (see the module doc).
pub struct Progress {
    step: Arc<Mutex<Step>>,
    bar: Option<ProgressBar>,
    sink: Arc<Sink>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Progress on stderr: a spinner on a terminal, heartbeat lines otherwise.
    pub fn stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Progress::with(Box::new(|l: &str| eprintln!("{l}")), Some(bar), None)
        } else {
            Progress::with(Box::new(|l: &str| eprintln!("{l}")), None, Some(HEARTBEAT))
        }
    }

    /// Lines to `sink`, a heartbeat after every `every` of silence.
    pub fn to_sink(sink: Sink, every: Duration) -> Progress {
        Progress::with(sink, None, Some(every))
    }

    fn with(sink: Sink, bar: Option<ProgressBar>, every: Option<Duration>) -> Progress {
        let step = Arc::new(Mutex::new(Step {
            text: String::new(),
            since: Instant::now(),
        }));
        let sink = Arc::new(sink);
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = every.map(|every| {
            let (step, sink, stop) = (step.clone(), sink.clone(), stop.clone());
            std::thread::spawn(move || heartbeat(&step, &sink, &stop, every))
        });
        Progress {
            step,
            bar,
            sink,
            stop,
            ticker,
        }
    }

    /// Says `text`: a new step.
    pub fn line(&self, text: &str) {
        {
            let mut step = self.step.lock().unwrap_or_else(|e| e.into_inner());
            step.text = text.trim().to_string();
            step.since = Instant::now();
        }
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                bar.set_message(text.trim().to_string());
            }
            None => (self.sink)(text),
        }
    }
}

/// Every `every` of silence, says which step still runs.
fn heartbeat(step: &Mutex<Step>, sink: &Sink, stop: &AtomicBool, every: Duration) {
    let tick = (every / 10).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut said_at: Option<Instant> = None;
    while !stop.load(SeqCst) {
        std::thread::sleep(tick);
        let step = step.lock().unwrap_or_else(|e| e.into_inner());
        let quiet_since = said_at.filter(|t| *t > step.since).unwrap_or(step.since);
        if step.text.is_empty() || quiet_since.elapsed() < every {
            continue;
        }
        sink(&format!(
            "  still {} ({} s)",
            step.text,
            step.since.elapsed().as_secs()
        ));
        said_at = Some(Instant::now());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_step_is_said_to_still_run_and_a_busy_one_is_not() {
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = {
            let heard = heard.clone();
            Box::new(move |l: &str| heard.lock().unwrap().push(l.to_string()))
        };
        let p = Progress::to_sink(sink, Duration::from_millis(100));
        p.line("building cmd/gofmt with go1.27.3");
        std::thread::sleep(Duration::from_millis(350));
        p.line("  sha256 … in 0.3s: identical");
        drop(p);
        let heard = heard.lock().unwrap();
        let still: Vec<&String> = heard.iter().filter(|l| l.contains("still")).collect();
        assert!(
            (2..=4).contains(&still.len()),
            "one line per 100 ms of silence: {heard:?}"
        );
        assert!(
            still[0].starts_with("  still building cmd/gofmt with go1.27.3 ("),
            "{heard:?}"
        );
        assert_eq!(
            heard.last().map(String::as_str),
            Some("  sha256 … in 0.3s: identical")
        );
    }
}
