//! Defences against slow and greedy clients: the connection loop with a header timeout, the
//! minimum body rate, part uploads in flight per client address, and per-address byte budgets
//! for anonymous uploads. Client addresses are kept only as keys in memory: never logged,
//! never stored.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;

use crate::error::ApiError;

tokio::task_local! {
    /// The client address of the request being handled (set by the /api middleware).
    pub static CLIENT: IpAddr;
    /// The minimum pace of the request body being read (set by the /api middleware).
    pub static PACE: Pace;
}

/// The current request's client address, if the /api middleware set one.
#[must_use]
pub fn current_client() -> Option<IpAddr> {
    CLIENT.try_with(|c| *c).ok()
}

/// How fast a request body must arrive: nothing is asked during `grace`, then on average
/// at least `rate` bytes per second since the body started.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Time before the rate applies.
    pub grace: Duration,
    /// Bytes per second; 0 is no minimum.
    pub rate: u64,
}

impl Pace {
    /// No minimum rate (for bodies that are not read from a client).
    pub const NONE: Self = Self {
        grace: Duration::ZERO,
        rate: 0,
    };

    /// The latest time at which `received + 1` bytes must have arrived for a body that
    /// started at `start`, or `None` without a minimum.
    #[must_use]
    pub fn deadline(&self, start: Instant, received: u64) -> Option<Instant> {
        if self.rate == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let secs = (received.saturating_add(1)) as f64 / self.rate as f64;
        Some(start + self.grace + Duration::from_secs_f64(secs.min(1e9)))
    }
}

/// Part uploads in flight, by client.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// Held while a part upload runs; frees its place on drop.
pub struct InFlightGuard {
    owner: Arc<InFlight>,
    client: IpAddr,
}

impl InFlight {
    /// Takes a place for `client` unless it already has `max` part uploads running.
    ///
    /// # Errors
    /// [`ApiError::TooManyParts`] when it has.
    pub fn enter(self: &Arc<Self>, client: IpAddr, max: u32) -> Result<InFlightGuard, ApiError> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(client).or_insert(0);
        if *n >= max {
            return Err(ApiError::TooManyParts(1));
        }
        *n += 1;
        Ok(InFlightGuard {
            owner: Arc::clone(self),
            client,
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut counts = self
            .owner
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// Bytes each client announced for new uploads in the current window (fixed windows that
/// start at a client's first upload).
#[derive(Debug)]
pub struct ByteBudgets {
    budget: u64,
    window: Duration,
    used: Mutex<HashMap<IpAddr, (Instant, u64)>>,
}

impl ByteBudgets {
    /// `budget` bytes per `window` per client.
    #[must_use]
    pub fn new(budget: u64, window: Duration) -> Self {
        Self {
            budget,
            window,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Charges `bytes` to `client`.
    ///
    /// # Errors
    /// [`ApiError::ClientQuota`] with the seconds until its window ends, if it would go over.
    pub fn charge(&self, client: IpAddr, bytes: u64) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = used.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1.saturating_add(bytes) > self.budget {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(ApiError::ClientQuota(left.as_secs().max(1)));
        }
        entry.1 += bytes;
        Ok(())
    }

    /// Forgets windows that ended (called by the sweeper).
    pub fn prune(&self) {
        let now = Instant::now();
        let window = self.window;
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, (start, _)| now.duration_since(*start) < window);
    }
}

/// Serves `router` on `listener` over HTTP/1.1 with a timeout on each request's headers,
/// until `shutdown` completes; then lets running requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                req.map(axum::body::Body::new)
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.changed() => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
            drop(stop);
        });
    }
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
    Ok(())
}
