//! `follow`: tail a log and repeat other rebuilders' builds.
//!
//! `follow` tails the log, and for every subject another rebuilder attested that
//! this node has not, repeats the build from the attestation alone and submits its
//! own attestation. It reads the log one entry bundle at a time through proto's
//! verified [`TileReader`](reprolog_proto::reader::TileReader): no proof requests,
//! one request per 256 entries, memory flat in the log's size. Progress (the
//! next index, the queue) is saved atomically after every bundle and every
//! finished build; finished subjects are appended to a journal beside it. A
//! restart resumes at the bundle where it stopped. Before rebuilding a subject
//! the node asks the log whether it already attested it, so a crash between
//! submit and save never leads to a second attestation.
//!
//! Anyone can add an entry to a log, so a follower chooses whom to repeat
//! ([`Repeat`]): by default only the rebuilders of a trust policy. Opened to
//! every key, it gives each unlisted key a small share of the queue and runs
//! listed rebuilders' builds first, so a flood from one key cannot starve the
//! rest. Skipped entries are counted in the state. Builds an entry describes
//! that may not run (refused flags or paths, see `plan.rs`) are recorded as
//! "could not rebuild" in the state and the node's log; nothing is submitted,
//! since a refusal says nothing about the binary.

use crate::attest;
use crate::follow_index::IndexCheck;
use crate::node::{submit_report, with_retries};
use crate::rebuild::{rebuild_target, RebuildConfig};
use reprolog_io::http::{Http, LogClient, LogError};
use reprolog_io::statefile;
use reprolog_proto::display;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::tile;
use reprolog_proto::transport::Transport;
use reprolog_proto::Hash;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Whose attestations a follower repeats.
#[derive(Debug, Clone, Default)]
pub struct Repeat {
    /// Rebuilder keys whose builds are always repeated (a policy's `rebuilder` lines).
    pub trusted: BTreeSet<[u8; 32]>,
    /// Repeat every key's builds too, each unlisted key within its share.
    pub anyone: bool,
}

/// Most queued builds one unlisted key may hold.
pub const UNTRUSTED_SHARE_PER_KEY: usize = 8;
/// Most queued builds all unlisted keys together may hold.
pub const UNTRUSTED_SHARE_TOTAL: usize = 64;

impl Repeat {
    /// Repeats the rebuilders a trust policy lists.
    pub fn from_policy(policy: &reprolog_proto::policy::Policy, anyone: bool) -> Repeat {
        Repeat {
            trusted: policy
                .rebuilders
                .iter()
                .map(|r| r.key.public_key())
                .collect(),
            anyone,
        }
    }

    fn trusts(&self, key: &[u8; 32]) -> bool {
        self.trusted.contains(key)
    }
}

/// Follow-mode settings.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub state_file: PathBuf,
    pub repeat: Repeat,
    pub jobs: usize,
    /// Stop once caught up with the log and the queue is empty.
    pub once: bool,
    pub poll: Duration,
}

/// A build waiting to be repeated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Job {
    /// Log index of the attestation that described the build.
    pub index: u64,
    /// Hex SHA-256 of the binary.
    pub subject: String,
    /// Hex public key of the attesting rebuilder.
    #[serde(default)]
    pub key: String,
    /// Whether that key is one the follower trusts.
    #[serde(default)]
    pub trusted: bool,
    /// The statement JSON of that attestation.
    pub statement: String,
}

/// Builds queued before they run, unless the follower has caught up first:
/// enough to keep `--jobs` workers busy, few enough to keep memory flat.
const QUEUE_BATCH: usize = 64;

/// What a follower does with a queued build. [`BuildAndSubmit`] is the real
/// thing; benchmarks of the reading path substitute a stub.
pub trait Repeater: Sync {
    /// `Ok(Some)` when finished for good, `Ok(None)` to retry in a later round.
    fn repeat(&self, job: &Job) -> Result<Option<Outcome>, FollowError>;
}

/// Repeats a build from its attestation and submits this node's own.
pub struct BuildAndSubmit<'a> {
    pub log: &'a LogClient,
    pub signer: &'a Signer,
    pub config: &'a RebuildConfig,
}

impl Repeater for BuildAndSubmit<'_> {
    fn repeat(&self, job: &Job) -> Result<Option<Outcome>, FollowError> {
        run_job(job, self.log, self.signer, self.config)
    }
}

/// What this node did about a subject.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// Index of this node's attestation, when it made one.
    pub index: Option<u64>,
    pub reproduced: Option<bool>,
    pub note: String,
}

/// Persistent progress of `follow` in one log: what was read, queued and done
/// there, and the newest checkpoint verified, which every later one must
/// extend. The cursor (everything but `done`) is one small file rewritten
/// atomically; `done` grows with the subjects repeated, so it lives in an
/// append-only journal beside it ([`statefile::Journal`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowState {
    /// The log's verifier key (its origin and key): the state belongs to it.
    #[serde(default)]
    pub log: String,
    /// The newest checkpoint note verified.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Entries below this index have been read.
    pub next_index: u64,
    queued: Vec<Job>,
    /// Subjects finished (attested, or permanently failed), by hex digest.
    /// Read from older state files that kept it inline; written to the journal.
    #[serde(default, skip_serializing)]
    pub done: BTreeMap<String, Outcome>,
    /// Entries by keys the follower does not repeat.
    #[serde(default)]
    pub skipped_by_policy: u64,
    /// Entries by unlisted keys that had used up their queue share.
    #[serde(default)]
    pub skipped_over_share: u64,
    /// Entries that failed to parse or verify.
    #[serde(default)]
    pub skipped_malformed: u64,
    /// Finished subjects not yet appended to the journal.
    #[serde(skip)]
    unjournaled: Vec<(String, Outcome)>,
    /// Index revisions this run recomputed and found right (none when the
    /// index is not checked; the replay is not kept across runs).
    #[serde(skip)]
    pub index_revisions_checked: Option<u64>,
}

/// One line of the journal of finished subjects.
#[derive(Serialize, Deserialize)]
struct Finished {
    subject: String,
    outcome: Outcome,
}

impl FollowState {
    /// Loads the state and its journal, or starts afresh if there is none.
    pub fn load(path: &Path) -> std::io::Result<FollowState> {
        let mut st: FollowState = statefile::load_json(path)?.unwrap_or_default();
        for line in statefile::Journal::new(&journal_path(path)).read()? {
            let f: Finished = serde_json::from_slice(&line).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", journal_path(path).display()),
                )
            })?;
            st.done.insert(f.subject, f.outcome);
        }
        Ok(st)
    }

    /// Journals newly finished subjects, then replaces the cursor atomically.
    pub fn save(&mut self, path: &Path) -> std::io::Result<()> {
        if !self.unjournaled.is_empty() {
            let lines: Vec<Vec<u8>> = self
                .unjournaled
                .iter()
                .map(|(subject, outcome)| {
                    serde_json::to_vec(&Finished {
                        subject: subject.clone(),
                        outcome: outcome.clone(),
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(std::io::Error::other)?;
            statefile::Journal::new(&journal_path(path)).append(&lines)?;
            self.unjournaled.clear();
        }
        statefile::save_json(path, self)
    }

    fn finish(&mut self, subject: String, outcome: Outcome) {
        self.unjournaled.push((subject.clone(), outcome.clone()));
        self.done.insert(subject, outcome);
    }

    fn knows(&self, subject: &str) -> bool {
        self.done.contains_key(subject) || self.queued.iter().any(|j| j.subject == subject)
    }
}

/// The journal of finished subjects beside a follow state file.
fn journal_path(state_file: &Path) -> PathBuf {
    state_file.with_extension("done.jsonl")
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("follow state {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("follow state {path} belongs to log {has}, not {wants}: pass another --state")]
    WrongLog {
        path: PathBuf,
        has: String,
        wants: String,
    },
    /// Not a `#[source]`: the message already carries it, once.
    #[error("the log misbehaved, following stopped: {0}")]
    Misbehaved(reprolog_proto::checkpoint::ExtendError),
    /// An index revision the log's entries contradict (see `follow_index`).
    #[error("the log's index is wrong, following stopped: {0}")]
    WrongIndex(String),
}

impl From<reprolog_proto::checkpoint::ExtendError> for FollowError {
    fn from(e: reprolog_proto::checkpoint::ExtendError) -> Self {
        FollowError::Misbehaved(e)
    }
}

/// Tails the log and repeats other rebuilders' builds (see the module doc).
pub fn follow(
    log: &LogClient,
    signer: &Signer,
    config: &RebuildConfig,
    opts: &FollowOptions,
    index: Option<IndexCheck<Http>>,
) -> Result<FollowState, FollowError> {
    let repeater = BuildAndSubmit {
        log,
        signer,
        config,
    };
    follow_checking(log, &signer.verifier().public_key(), opts, &repeater, index)
}

/// [`follow`] with the builds left to `repeater`, over any transport;
/// `own_key` is the key whose entries are this node's own.
pub fn follow_with<T: Transport>(
    log: &reprolog_proto::logclient::LogClient<T>,
    own_key: &[u8; 32],
    opts: &FollowOptions,
    repeater: &dyn Repeater,
) -> Result<FollowState, FollowError> {
    follow_checking(log, own_key, opts, repeater, None)
}

/// [`follow_with`], checking the log's index as it goes when `index` is
/// given (see `follow_index`).
pub fn follow_checking<T: Transport>(
    log: &reprolog_proto::logclient::LogClient<T>,
    own_key: &[u8; 32],
    opts: &FollowOptions,
    repeater: &dyn Repeater,
    mut index: Option<IndexCheck<T>>,
) -> Result<FollowState, FollowError> {
    let state_err = |source| FollowError::State {
        path: opts.state_file.clone(),
        source,
    };
    let mut loaded = FollowState::load(&opts.state_file).map_err(state_err)?;
    let log_key = log.key_text();
    if loaded.log.is_empty() && loaded.next_index == 0 && loaded.done.is_empty() {
        loaded.log = log_key.clone();
    } else if loaded.log != log_key {
        return Err(FollowError::WrongLog {
            path: opts.state_file.clone(),
            has: if loaded.log.is_empty() {
                "(none recorded)".into()
            } else {
                loaded.log.clone()
            },
            wants: log_key,
        });
    }
    let state = Mutex::new(loaded);
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let (cp, note) = with_retries(5, || log.checkpoint_note())?;
        check_extends_remembered(log, &lock().checkpoint, &cp)?;
        lock().checkpoint = Some(String::from_utf8_lossy(&note).into_owned());
        let tiles = log.tiles(&cp);
        if let Some(ix) = index.as_mut() {
            ix.refresh()?;
            // After a restart the replay starts over: the entries this
            // state already scanned are replayed first.
            let scanned = lock().next_index.min(cp.size);
            while ix.replayed() < scanned {
                let n = ix.replayed() >> tile::HEIGHT;
                let entries = with_retries(5, || Ok(tiles.bundle(n)?))?;
                replay(ix, n, &entries)?;
            }
        }
        while lock().next_index < cp.size {
            let next = lock().next_index;
            let n = next >> tile::HEIGHT;
            let entries = with_retries(5, || Ok(tiles.bundle(n)?))?;
            if let Some(ix) = index.as_mut() {
                replay(ix, n, &entries)?;
            }
            let mut st = lock();
            let skipped = st.skipped_by_policy + st.skipped_over_share;
            for (k, bytes) in entries.iter().enumerate() {
                let index = (n << tile::HEIGHT) + k as u64;
                if index >= next {
                    scan_entry(&mut st, index, bytes, own_key, &opts.repeat);
                }
            }
            let newly = st.skipped_by_policy + st.skipped_over_share - skipped;
            if newly > 0 {
                tracing::debug!(
                    skipped = newly,
                    by_policy_total = st.skipped_by_policy,
                    over_share_total = st.skipped_over_share,
                    "entries not repeated: their keys are not in the policy or used up their share"
                );
            }
            st.next_index = (n << tile::HEIGHT) + entries.len() as u64;
            st.save(&opts.state_file).map_err(state_err)?;
            let batch_ready = st.queued.len() >= QUEUE_BATCH;
            drop(st);
            if batch_ready {
                run_queued(repeater, opts, &state, cp.size)?;
            }
        }
        run_queued(repeater, opts, &state, cp.size)?;
        let mut st = lock();
        st.index_revisions_checked = index.as_ref().map(IndexCheck::checked);
        if opts.once && st.queued.is_empty() && st.next_index >= cp.size {
            return Ok(st.clone());
        }
        drop(st);
        std::thread::sleep(opts.poll);
    }
}

/// Replays bundle `n`'s `entries` into the index check.
fn replay<T: Transport>(
    ix: &mut IndexCheck<T>,
    n: u64,
    entries: &[Vec<u8>],
) -> Result<(), FollowError> {
    for (k, bytes) in entries.iter().enumerate() {
        ix.push((n << tile::HEIGHT) + k as u64, bytes)?;
    }
    Ok(())
}

/// Runs the queued builds, if any, in schedule order.
fn run_queued(
    repeater: &dyn Repeater,
    opts: &FollowOptions,
    state: &Mutex<FollowState>,
    size: u64,
) -> Result<(), FollowError> {
    let queued = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .queued
        .clone();
    if queued.is_empty() {
        return Ok(());
    }
    tracing::info!(jobs = queued.len(), size, "repeating builds");
    run_jobs(schedule(queued), repeater, opts, state)
}

/// Checks that `cp` extends the newest checkpoint this state verified: the
/// same tree, or a larger one, proven consistent from its tiles. A rollback
/// or a fork stops the follower, naming both checkpoints, with the state
/// untouched.
fn check_extends_remembered<T: Transport>(
    log: &reprolog_proto::logclient::LogClient<T>,
    remembered: &Option<String>,
    cp: &reprolog_proto::checkpoint::Checkpoint,
) -> Result<(), FollowError> {
    let Some(note) = remembered else {
        return Ok(());
    };
    let old = log.open_checkpoint(note.as_bytes())?;
    match with_retries(5, || log.check_extends(&old, cp)) {
        Err(LogError::Extend(e)) => Err(e.into()),
        other => Ok(other?),
    }
}

/// Queues the build an entry describes, unless this node already knows it or
/// does not repeat that entry's key (see [`Repeat`]).
fn scan_entry(st: &mut FollowState, index: u64, bytes: &[u8], own_key: &[u8; 32], repeat: &Repeat) {
    // Entries of keys not repeated are only counted: no signature to check.
    if let Ok(entry) = Entry::from_cbor(bytes) {
        if &entry.key != own_key && !repeat.anyone && !repeat.trusts(&entry.key) {
            st.skipped_by_policy += 1;
            return;
        }
    }
    let parsed = Entry::parse_and_verify(bytes);
    let (entry, statement) = match parsed {
        Ok(x) => x,
        Err(e) => {
            st.skipped_malformed += 1;
            tracing::warn!(
                index,
                "skipping entry: {}",
                display::escape(&e.to_string(), 200)
            );
            return;
        }
    };
    let Ok(subject) = statement.subject_digest() else {
        return;
    };
    let subject = subject.to_hex();
    if &entry.key == own_key {
        if !st.done.contains_key(&subject) {
            st.finish(
                subject,
                Outcome {
                    index: Some(index),
                    reproduced: Some(statement.reproduced()),
                    note: "attested by this node".into(),
                },
            );
        }
        st.queued.retain(|j| j.index != index);
        return;
    }
    let key = hex::encode(entry.key);
    let trusted = repeat.trusts(&entry.key);
    if !trusted {
        if !repeat.anyone {
            st.skipped_by_policy += 1;
            return;
        }
        let untrusted = st.queued.iter().filter(|j| !j.trusted);
        let (mut total, mut this_key) = (0, 0);
        for j in untrusted {
            total += 1;
            this_key += usize::from(j.key == key);
        }
        if this_key >= UNTRUSTED_SHARE_PER_KEY || total >= UNTRUSTED_SHARE_TOTAL {
            st.skipped_over_share += 1;
            return;
        }
    }
    if !st.knows(&subject) {
        st.queued.push(Job {
            index,
            subject,
            key,
            trusted,
            statement: String::from_utf8_lossy(&entry.payload).into_owned(),
        });
    }
}

/// The order queued builds run in: trusted keys' first, in log order; then
/// unlisted keys' taking turns, one build per key per round.
fn schedule(jobs: Vec<Job>) -> VecDeque<Job> {
    let (trusted, untrusted): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.trusted);
    let mut by_key: Vec<(String, VecDeque<Job>)> = Vec::new();
    for job in untrusted {
        match by_key.iter_mut().find(|(k, _)| *k == job.key) {
            Some((_, q)) => q.push_back(job),
            None => by_key.push((job.key.clone(), VecDeque::from([job]))),
        }
    }
    let mut order: VecDeque<Job> = trusted.into();
    while by_key.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in by_key.iter_mut() {
            order.extend(q.pop_front());
        }
    }
    order
}

fn run_jobs(
    jobs: VecDeque<Job>,
    repeater: &dyn Repeater,
    opts: &FollowOptions,
    state: &Mutex<FollowState>,
) -> Result<(), FollowError> {
    let queue = Mutex::new(jobs);
    let failure: Mutex<Option<FollowError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                    return;
                };
                match repeater.repeat(&job) {
                    Ok(Some(outcome)) => {
                        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                        st.queued.retain(|j| j != &job);
                        st.finish(job.subject.clone(), outcome);
                        if let Err(e) = st.save(&opts.state_file) {
                            *failure.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(FollowError::State {
                                    path: opts.state_file.clone(),
                                    source: e,
                                });
                            return;
                        }
                    }
                    // Transient trouble: the job stays queued for the next round.
                    Ok(None) => {}
                    Err(e) => {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One job. `Ok(Some)` when finished for good, `Ok(None)` to retry later.
fn run_job(
    job: &Job,
    log: &LogClient,
    signer: &Signer,
    config: &RebuildConfig,
) -> Result<Option<Outcome>, FollowError> {
    let subject = Hash::from_hex(&job.subject).unwrap_or_default();
    // Idempotence across crashes: did this node already attest it? Asked by
    // this node's key, so no flood of other keys' entries can hide it.
    let own = signer.verifier().public_key();
    match with_retries(3, || log.lookup(&subject, &[own])) {
        Ok(pages) => {
            if let Some(e) = pages.iter().flat_map(|(page, _)| &page.entries).next() {
                tracing::info!(subject = %job.subject, index = e.index, "already attested by this node");
                return Ok(Some(Outcome {
                    index: Some(e.index),
                    reproduced: None,
                    note: "already attested".into(),
                }));
            }
        }
        Err(e) if e.is_transient() => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let statement = match reprolog_proto::statement::Statement::from_json(job.statement.as_bytes())
    {
        Ok(s) => s,
        Err(e) => {
            return Ok(Some(Outcome {
                index: None,
                reproduced: None,
                note: format!(
                    "unusable attestation: {}",
                    display::escape(&e.to_string(), 400)
                ),
            }))
        }
    };
    let target = match attest::target_from_statement(&statement) {
        Ok(t) => t,
        Err(e) => {
            return Ok(Some(Outcome {
                index: None,
                reproduced: None,
                note: display::escape(&e.to_string(), 400),
            }))
        }
    };
    let name = display::escape(&target.file_name, 80);
    let mut progress = |line: &str| tracing::debug!("{name}: {}", display::escape(line, 400));
    let report = match rebuild_target(&target, config, &mut progress) {
        Ok(r) => r,
        Err(e) => {
            let why = display::escape(&e.to_string(), 400);
            tracing::warn!(file = %name, subject = %job.subject, index = job.index, "could not rebuild: {why}");
            return Ok(Some(Outcome {
                index: None,
                reproduced: None,
                note: format!("could not rebuild: {why}"),
            }));
        }
    };
    match submit_report(&report, signer, log) {
        Ok((_, receipt)) => {
            tracing::info!(
                file = %name,
                subject = %job.subject,
                index = receipt.index,
                "{}",
                if report.reproduced { "REPRODUCED, attested" } else { "MISMATCH, attested" }
            );
            Ok(Some(Outcome {
                index: Some(receipt.index),
                reproduced: Some(report.reproduced),
                note: String::new(),
            }))
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(file = %name, "submission failed, will retry: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprolog_proto::statement::Statement;

    fn entry(signer: &Signer, subject: &str) -> Vec<u8> {
        let d = Hash::of(subject.as_bytes());
        Entry::sign(&Statement::minimal(subject, d, d, signer.name()), signer).to_cbor()
    }

    #[test]
    fn a_flood_from_one_key_gets_its_share_and_runs_after_trusted_keys() {
        let own = [0u8; 32];
        let trusted = Signer::generate("trusted.test").unwrap();
        let flooder = Signer::generate("flood.test").unwrap();
        let other = Signer::generate("other.test").unwrap();
        let repeat = Repeat {
            trusted: [trusted.verifier().public_key()].into(),
            anyone: true,
        };
        let mut st = FollowState::default();
        let mut index = 0;
        let mut scan = |st: &mut FollowState, signer: &Signer, subject: String| {
            scan_entry(st, index, &entry(signer, &subject), &own, &repeat);
            index += 1;
        };
        for i in 0..100 {
            scan(&mut st, &flooder, format!("flood-{i}"));
        }
        scan(&mut st, &other, "other-1".into());
        scan(&mut st, &other, "other-2".into());
        scan(&mut st, &trusted, "trusted-1".into());
        assert_eq!(st.skipped_over_share, 100 - UNTRUSTED_SHARE_PER_KEY as u64);
        assert_eq!(st.queued.len(), UNTRUSTED_SHARE_PER_KEY + 3);
        let order: Vec<String> = schedule(st.queued.clone())
            .into_iter()
            .map(|j| j.subject)
            .collect();
        let pos = |name: &str| {
            let hex = Hash::of(name.as_bytes()).to_hex();
            order.iter().position(|s| *s == hex).unwrap()
        };
        assert_eq!(pos("trusted-1"), 0, "trusted keys first");
        assert!(
            pos("other-1") <= 2 && pos("other-2") <= 4,
            "keys take turns: {order:?}"
        );

        // Without --any-rebuilder, unlisted keys are skipped and counted.
        let policy_only = Repeat {
            anyone: false,
            ..repeat.clone()
        };
        let mut st = FollowState::default();
        scan_entry(&mut st, 0, &entry(&flooder, "x"), &own, &policy_only);
        scan_entry(&mut st, 1, &entry(&trusted, "y"), &own, &policy_only);
        assert_eq!((st.skipped_by_policy, st.queued.len()), (1, 1));
    }
}
