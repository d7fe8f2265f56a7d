//! The sequencer: batches submissions into durable commits.
//!
//! Submissions wait in a bounded pool (an mpsc channel). One task takes up to
//! `max_batch` of them, lingering while more keep arriving but never longer than
//! `max_wait` after the first, commits the batch and its checkpoint (on a
//! blocking thread); a second task then has the index publish the batch's
//! revision and answers each waiter, in commit order, while the first
//! commits the next batch. While one batch commits the next one fills, so
//! throughput grows with load.
//! When every handle is dropped the task drains what is queued and stops.

use crate::index::{Appended, Index};
use crate::log::{Log, LogError, SignedCheckpoint};
use crate::metrics::Metrics;
use crate::storage::{NewEntry, Placement, StorageError};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_batch: usize,
    pub max_wait: Duration,
    pub max_pending: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch: 256,
            max_wait: Duration::from_millis(250),
            max_pending: 8192,
        }
    }
}

/// What a waiter learns once its entry is durable: its placement, the checkpoint
/// covering it and the inclusion proof against that checkpoint.
#[derive(Debug, Clone)]
pub struct Ack {
    pub placement: Placement,
    pub checkpoint: Arc<SignedCheckpoint>,
    pub proof: Vec<reprolog_proto::Hash>,
}

/// A batch closes when no submission arrived for this long (or at `max_wait`).
const IDLE_GAP: Duration = Duration::from_millis(2);

/// Why a batch was not committed, as told to each of its submitters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The disk (or the file-size limit) is full: HTTP 507.
    pub insufficient_storage: bool,
    pub message: String,
}

impl Refusal {
    fn new(insufficient_storage: bool, why: impl std::fmt::Display) -> Refusal {
        Refusal {
            insufficient_storage,
            message: format!("{why}; the entry was not acknowledged, retry later"),
        }
    }

    /// What a submitter may learn from a failed commit; internal details stay
    /// in the operator's log.
    fn from_log_error(e: &LogError) -> Refusal {
        match e {
            LogError::LowDisk { .. } => Refusal::new(true, format!("log refuses new entries: {e}")),
            LogError::Storage(s) if s.is_full() => {
                Refusal::new(true, format!("log storage is full ({s})"))
            }
            LogError::Witness(e) => Refusal {
                insufficient_storage: false,
                message: format!(
                    "{e}; the entry is stored but not yet covered by a cosigned checkpoint: retry to get its receipt"
                ),
            },
            LogError::Storage(StorageError::ReadOnly(why)) => {
                Refusal::new(false, format!("log is read-only ({why})"))
            }
            LogError::Storage(e @ StorageError::NotSequencer(_)) => Refusal::new(false, e),
            _ => Refusal::new(false, "log storage is unavailable"),
        }
    }
}

type Reply = oneshot::Sender<Result<Ack, Refusal>>;

/// Submits entries to the sequencer.
#[derive(Clone)]
pub struct SequencerHandle {
    tx: mpsc::Sender<(NewEntry, Reply)>,
}

/// Why a submission was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    PoolFull,
    ShuttingDown,
}

impl SequencerHandle {
    /// Queues an entry without waiting; the receiver yields its placement once
    /// the entry is durable and covered by a stored checkpoint.
    pub fn try_submit(
        &self,
        entry: NewEntry,
    ) -> Result<oneshot::Receiver<Result<Ack, Refusal>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send((entry, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::PoolFull,
            mpsc::error::TrySendError::Closed(_) => SubmitError::ShuttingDown,
        })?;
        Ok(rx)
    }
}

/// Starts the sequencer task.
pub fn spawn(
    log: Arc<Log>,
    config: BatchConfig,
    metrics: Arc<Metrics>,
) -> (SequencerHandle, JoinHandle<()>) {
    spawn_indexed(log, None, config, metrics)
}

/// Starts the sequencer task; after each commit the index (when given)
/// publishes its revision before the batch is acknowledged, so a receipt's
/// entry is in the lookups' proven lists. An index that cannot (witnesses
/// away) is brought up to date later; the entries are acknowledged anyway.
pub fn spawn_indexed(
    log: Arc<Log>,
    index: Option<Arc<Index>>,
    config: BatchConfig,
    metrics: Arc<Metrics>,
) -> (SequencerHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.max_pending.max(1));
    let task = tokio::spawn(run(log, index, config, metrics, rx));
    (SequencerHandle { tx }, task)
}

async fn run(
    log: Arc<Log>,
    index: Option<Arc<Index>>,
    config: BatchConfig,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<(NewEntry, Reply)>,
) {
    // Committed batches wait here for their index revision, in order, while
    // the next batch is committed: the two stages overlap.
    let (to_ack, committed) = mpsc::channel(2);
    let acknowledger = tokio::spawn(acknowledge(log.clone(), index, committed));
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.max_wait;
        while batch.len() < config.max_batch {
            // Take what is already queued without waiting.
            match rx.try_recv() {
                Ok(item) => {
                    batch.push(item);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            // Linger only while submissions keep arriving: a quiet gap closes the
            // batch early, so a lone submitter is not made to wait `max_wait`.
            let gap = (tokio::time::Instant::now() + IDLE_GAP).min(deadline);
            match tokio::time::timeout_at(gap, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        if let Some(done) = commit(&log, &metrics, batch).await {
            if to_ack.send(done).await.is_err() {
                break;
            }
        }
    }
    drop(to_ack);
    if let Err(e) = acknowledger.await {
        tracing::error!("acknowledging task: {e}");
    }
    tracing::info!("sequencer drained and stopped");
}

/// A batch committed and proven, its acknowledgements not yet sent.
struct Committed {
    replies: Vec<Reply>,
    acks: Vec<Ack>,
    /// Its new entries (index, subject, key), ascending, for the index.
    appended: Vec<Appended>,
    checkpoint: Arc<SignedCheckpoint>,
}

/// Sends each committed batch's acknowledgements, in commit order, once the
/// index (when kept) has published the batch's revision, so a receipt's
/// entry is in the lists lookups prove. An index that cannot (witnesses
/// away) is brought up to date later; the entries are acknowledged anyway.
async fn acknowledge(
    log: Arc<Log>,
    index: Option<Arc<Index>>,
    mut committed: mpsc::Receiver<Committed>,
) {
    while let Some(done) = committed.recv().await {
        if let Some(index) = &index {
            let (index, log) = (index.clone(), log.clone());
            let (checkpoint, appended) = (done.checkpoint.clone(), done.appended);
            let advanced =
                tokio::task::spawn_blocking(move || index.advance_to(&log, checkpoint, &appended))
                    .await;
            match advanced {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!("the index revision of this batch is not out yet: {e}")
                }
                Err(e) => tracing::error!("index task: {e}"),
            }
        }
        for (reply, ack) in done.replies.into_iter().zip(done.acks) {
            let _ = reply.send(Ok(ack));
        }
    }
}

/// Commits a batch and proves its entries; refuses every entry when that
/// fails (`None`).
async fn commit(
    log: &Arc<Log>,
    metrics: &Arc<Metrics>,
    batch: Vec<(NewEntry, Reply)>,
) -> Option<Committed> {
    let (entries, replies): (Vec<NewEntry>, Vec<Reply>) = batch.into_iter().unzip();
    let started = Instant::now();
    let log2 = log.clone();
    let count = entries.len();
    // Commit, then prove every entry of the batch against the new checkpoint in
    // the same blocking task, sharing tree reads between the proofs.
    let result = tokio::task::spawn_blocking(move || -> Result<Committed, LogError> {
        let placements = log2.append(&entries)?;
        let mut appended: Vec<Appended> = placements
            .iter()
            .zip(&entries)
            .filter_map(|(p, e)| match p {
                Placement::New(i) => Some((*i, e.subject, e.key)),
                Placement::Existing(_) => None,
            })
            .collect();
        appended.sort_unstable_by_key(|a| a.0);
        appended.dedup_by_key(|a| a.0);
        let checkpoint = log2.latest();
        let indices: Vec<u64> = placements.iter().map(|p| p.index()).collect();
        let proofs = log2.inclusion_proofs(&indices, checkpoint.checkpoint.size)?;
        let acks = placements
            .into_iter()
            .zip(proofs)
            .map(|(placement, proof)| Ack {
                placement,
                checkpoint: checkpoint.clone(),
                proof,
            })
            .collect();
        // The replies join on this side of the task.
        Ok(Committed {
            replies: Vec::new(),
            acks,
            appended,
            checkpoint,
        })
    })
    .await;
    let elapsed = started.elapsed();
    match result {
        Ok(Ok(done)) => {
            let acks = &done.acks;
            metrics.batches.fetch_add(1, Relaxed);
            metrics.batch_size.observe(count as f64);
            metrics.commit_seconds.observe(elapsed.as_secs_f64());
            metrics
                .tree_size
                .store(log.latest().checkpoint.size, Relaxed);
            let dups = acks
                .iter()
                .filter(|a| matches!(a.placement, Placement::Existing(_)))
                .count();
            metrics.duplicates.fetch_add(dups as u64, Relaxed);
            tracing::debug!(
                count,
                ?elapsed,
                size = log.latest().checkpoint.size,
                "batch committed"
            );
            Some(Committed { replies, ..done })
        }
        Ok(Err(e)) => {
            match &e {
                // Lost the lock between the API's check and the commit.
                LogError::Storage(StorageError::NotSequencer(_)) => {
                    tracing::warn!(count, "batch not committed: {e}")
                }
                // Stored; only the checkpoint covering it is not out yet.
                LogError::Witness(_) => tracing::warn!(
                    count,
                    "batch stored, its checkpoint not published: {e}; a retry is acknowledged at the same index once the witnesses cosign"
                ),
                _ => tracing::error!(count, "batch not committed: {e}"),
            }
            let refusal = Refusal::from_log_error(&e);
            for reply in replies {
                let _ = reply.send(Err(refusal.clone()));
            }
            None
        }
        Err(e) => {
            tracing::error!(count, "commit task failed: {e}");
            let refusal = Refusal::new(false, "internal error");
            for reply in replies {
                let _ = reply.send(Err(refusal.clone()));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogOptions;
    use reprolog_proto::note::Signer;

    fn entry(n: u32) -> NewEntry {
        NewEntry::numbered(n)
    }

    fn log(dir: &std::path::Path, options: LogOptions) -> Arc<Log> {
        // One key per data dir, as `serve` keeps it.
        let key = dir.join("key");
        let signer = match std::fs::read_to_string(&key) {
            Ok(text) => Signer::from_key_text(&text).unwrap(),
            Err(_) => {
                let s = Signer::generate("test.localhost/log").unwrap();
                std::fs::write(&key, s.to_key_text()).unwrap();
                s
            }
        };
        Arc::new(Log::open(&dir.join("log.redb"), signer, options).unwrap())
    }

    fn config(max_batch: usize, max_pending: usize) -> BatchConfig {
        BatchConfig {
            max_batch,
            max_wait: Duration::from_millis(250),
            max_pending,
        }
    }

    // One thread: everything submitted before the first `.await` is queued
    // before the sequencer task runs, so batch boundaries are exact.
    #[tokio::test(flavor = "current_thread")]
    async fn queued_submissions_are_cut_into_batches_in_order_and_each_is_proven() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), LogOptions::default());
        let metrics = Arc::new(Metrics::default());
        let (handle, task) = spawn(log.clone(), config(4, 100), metrics.clone());
        let waiting: Vec<_> = (0..10)
            .map(|n| handle.try_submit(entry(n)).unwrap())
            .collect();
        drop(handle);
        let mut sizes = Vec::new();
        for (n, rx) in waiting.into_iter().enumerate() {
            let ack = rx.await.unwrap().unwrap();
            assert_eq!(ack.placement, Placement::New(n as u64));
            let cp = &ack.checkpoint.checkpoint;
            reprolog_proto::merkle::verify_inclusion(
                n as u64,
                cp.size,
                &entry(n as u32).leaf,
                &ack.proof,
                &cp.root,
            )
            .unwrap();
            sizes.push(cp.size);
        }
        task.await.unwrap();
        // 4 + 4 + 2: each waiter's checkpoint is its batch's.
        assert_eq!(sizes, [4, 4, 4, 4, 8, 8, 8, 8, 10, 10]);
        assert_eq!(metrics.batches.load(Relaxed), 3);
        assert_eq!(log.latest().checkpoint.size, 10);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_pool_refuses_at_once_and_a_resubmission_is_not_stored_twice() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), LogOptions::default());
        let metrics = Arc::new(Metrics::default());
        let (handle, task) = spawn(log.clone(), config(256, 2), metrics.clone());
        let a = handle.try_submit(entry(1)).unwrap();
        let b = handle.try_submit(entry(1)).unwrap();
        assert_eq!(
            handle.try_submit(entry(2)).unwrap_err(),
            SubmitError::PoolFull
        );
        assert_eq!(a.await.unwrap().unwrap().placement, Placement::New(0));
        assert_eq!(b.await.unwrap().unwrap().placement, Placement::Existing(0));
        assert_eq!(metrics.duplicates.load(Relaxed), 1);
        drop(handle);
        task.await.unwrap();
        assert_eq!(log.latest().checkpoint.size, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_read_only_log_refuses_the_batch_with_a_reason_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(log(dir.path(), LogOptions::default()));
        let log = log(
            dir.path(),
            LogOptions {
                read_only: true,
                ..LogOptions::default()
            },
        );
        let (handle, task) = spawn(log.clone(), config(8, 8), Arc::new(Metrics::default()));
        let rx = handle.try_submit(entry(1)).unwrap();
        let refusal = rx.await.unwrap().unwrap_err();
        assert!(!refusal.insufficient_storage);
        assert!(
            refusal.message.starts_with("log is read-only"),
            "{}",
            refusal.message
        );
        assert!(refusal
            .message
            .ends_with("the entry was not acknowledged, retry later"));
        drop(handle);
        task.await.unwrap();
        assert_eq!(log.latest().checkpoint.size, 0);
    }
}
