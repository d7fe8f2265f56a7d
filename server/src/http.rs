//! Accepting connections, for every listener the project starts (`serve`,
//! with its API, web page and status routes, and `witness`): one set of
//! limits, one place.
//!
//! - **Connections**: at most `max_connections` open at once (each holds a
//!   permit of a semaphore; beyond the cap the accept loop waits and clients
//!   queue in the kernel's backlog), and at most `max_per_peer` from one
//!   peer: a further connection from that peer is closed at once, so one
//!   host cannot take every slot. A peer is an IPv4 address, or an IPv6 /64
//!   (the smallest prefix RFC 4291 hands one link, so one host can spread
//!   over 2^64 addresses of it); an IPv4-mapped IPv6 address counts as its
//!   IPv4 address.
//! - **Headers**: hyper drops a connection whose request headers have not all
//!   arrived within `header_timeout`. Its timer runs whenever the connection
//!   waits for a request, so it is also the idle deadline of a keep-alive
//!   connection. (axum's `serve` sets neither: hyper's header timeout needs a
//!   timer that it does not install.)
//! - **Bodies**: every request body is read in full, at most `max_body` bytes
//!   (413), within `body_timeout` (408), before any handler sees the request;
//!   a slow sender holds its own connection slot for at most the deadline.
//!
//! A slow peer therefore costs one slot for at most a deadline, and a peer
//! can hold at most `max_per_peer` slots.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits of one listener (see the module doc). `Default` is what
/// `reprolog-server serve` and `witness` use unless told otherwise.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    pub max_per_peer: usize,
    /// Longest a client may take to send a request's headers, and longest a
    /// kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Longest a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest in-flight requests may run after shutdown began.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            max_per_peer: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 1 << 20,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Open connections per peer (see [`peer_of`]).
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// The peer a connection from `ip` counts against: the IPv4 address itself
/// (also when it comes IPv4-mapped), or the /64 an IPv6 address lies in.
fn peer_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
        },
    }
}

/// One connection counted against its peer; uncounted when dropped.
struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A slot for a connection from `ip`, unless its peer already holds `max`.
    fn take(self: &Arc<Peers>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let ip = peer_of(ip);
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Reads the whole request body within the limits before the handler runs.
async fn bounded_body(limits: ConnectionLimits, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body),
    );
    let error = |status: StatusCode, text: String| (status, text + "\n").into_response();
    match read.await {
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} s",
                limits.body_timeout.as_secs()
            ),
        ),
        Ok(Err(_)) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body over {} bytes (or unreadable)",
                limits.max_body
            ),
        ),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits (up to
/// the grace period) for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let peers = Arc::new(Peers::default());
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let router = router.layer(axum::middleware::from_fn(move |req, next| {
        bounded_body(limits, req, next)
    }));
    let service = TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = peers.take(peer.ip(), limits.max_per_peer.max(1)) else {
            tracing::debug!(
                "{} holds {} connections: closing another",
                peer.ip(),
                limits.max_per_peer
            );
            continue; // dropping the stream closes it; the permit returns
        };
        let _ = stream.set_nodelay(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {:?}; closing them",
            limits.shutdown_grace
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn one_ipv6_64_is_one_peer_and_mapped_ipv4_is_its_ipv4() {
        assert_eq!(
            peer_of(ip("2001:db8:1:2::1")),
            peer_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            peer_of(ip("2001:db8:1:2::1")),
            peer_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(peer_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(peer_of(ip("192.0.2.7")), peer_of(ip("192.0.2.8")));
    }

    #[test]
    fn a_peer_spreading_over_its_64_gets_no_more_slots() {
        let peers = Arc::new(Peers::default());
        let first = peers.take(ip("2001:db8::1"), 2).expect("first slot");
        let second = peers.take(ip("2001:db8::2"), 2).expect("second slot");
        assert!(
            peers.take(ip("2001:db8::3"), 2).is_none(),
            "a third address of the same /64"
        );
        assert!(
            peers.take(ip("2001:db8:0:1::1"), 2).is_some(),
            "another /64 is another peer"
        );
        drop(first);
        assert!(
            peers.take(ip("2001:db8::4"), 2).is_some(),
            "a slot freed is free again"
        );
        drop(second);
    }
}
