//! A log server running in-process on 127.0.0.1, for integration tests of the
//! other crates and for tools that need a throwaway log.

use crate::sequencer::BatchConfig;
use crate::serve::{self, ServeConfig};
use std::path::Path;
use std::time::Duration;

/// A running log; stops when dropped.
pub struct LogHandle {
    pub url: String,
    /// The log's verifier key text.
    pub vkey: String,
    /// Its index log's verifier key text.
    pub index_vkey: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl LogHandle {
    /// Serves the log in `data` (created with origin `origin` if new) on an
    /// ephemeral port, batching with a short linger.
    pub fn start(data: &Path, origin: &str) -> anyhow::Result<LogHandle> {
        LogHandle::start_on(data, origin, "127.0.0.1:0".parse()?)
    }

    /// Like [`LogHandle::start`], with `known` as the operator's own
    /// rebuilder keys (`--known-key`): exempt from the unknown keys' limits.
    pub fn start_knowing(
        data: &Path,
        origin: &str,
        known: &[[u8; 32]],
    ) -> anyhow::Result<LogHandle> {
        LogHandle::start_with(data, origin, "127.0.0.1:0".parse()?, known)
    }

    /// Like [`LogHandle::start`], listening on `addr` (to bring a log back,
    /// or another one, at the same URL).
    pub fn start_on(
        data: &Path,
        origin: &str,
        addr: std::net::SocketAddr,
    ) -> anyhow::Result<LogHandle> {
        LogHandle::start_with(data, origin, addr, &[])
    }

    /// Like [`LogHandle::start`], with a wrong index: entry `n`'s signer
    /// key is left out of its map (for tests of the index audit).
    pub fn start_with_wrong_index(data: &Path, origin: &str, n: u64) -> anyhow::Result<LogHandle> {
        LogHandle::start_full(data, origin, "127.0.0.1:0".parse()?, &[], Some(n))
    }

    fn start_with(
        data: &Path,
        origin: &str,
        addr: std::net::SocketAddr,
        known: &[[u8; 32]],
    ) -> anyhow::Result<LogHandle> {
        LogHandle::start_full(data, origin, addr, known, None)
    }

    fn start_full(
        data: &Path,
        origin: &str,
        addr: std::net::SocketAddr,
        known: &[[u8; 32]],
        index_leave_out: Option<u64>,
    ) -> anyhow::Result<LogHandle> {
        if !data.join("log.key").exists() {
            serve::init(data, serve::Origin::Named(origin))?;
        }
        let key = serve::load_key(data)?;
        let vkey = key.verifier().to_key_text();
        let index_vkey = serve::load_index_key(data, &key)?.verifier().to_key_text();
        let config = ServeConfig {
            batch: BatchConfig {
                max_wait: Duration::from_millis(5),
                ..BatchConfig::default()
            },
            known_keys: known.iter().copied().collect(),
            // Tests and benches flood logs from fresh keys on purpose; the
            // total bound on unknown keys is tested on the real binary
            // (server/tests/strangers.rs).
            unknown_budget: None,
            index_leave_out,
            ..ServeConfig::new(data.to_path_buf(), addr)
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(serve::run(
                config,
                async {
                    let _ = stop_rx.await;
                },
                move |addr| {
                    let _ = addr_tx.send(addr);
                },
            ))
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let err = thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("log thread panicked"))?;
                return Err(err
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("log did not start")));
            }
        };
        Ok(LogHandle {
            url: format!("http://{addr}"),
            vkey,
            index_vkey,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops the server cleanly and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("log thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for LogHandle {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
