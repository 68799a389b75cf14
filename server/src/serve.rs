//! Serving connections: HTTP/1.1 through hyper, with the limits a server facing the internet needs.
//!
//! - **Request heads** must arrive within `header_read_timeout` from the moment the connection
//!   is ready for one: a new connection, and an idle kept-alive one waiting for its next request
//!   (hyper starts the same timer for both), so it is also the idle timeout.
//! - **Responses** must keep moving: a connection whose writes make no progress for
//!   `write_stall_timeout` (a client that stopped reading its answer) is closed.
//! - **Request bodies** must arrive by a deadline per route ([`body_deadline`]): a body that
//!   trickles or stalls fails the handler reading it, instead of holding it forever.
//! - **Connections** are capped at `max_connections` (lowered to half the process's open-file
//!   limit, which SQLite, media files and ffmpeg's pipes share). At the cap, a new connection
//!   replaces the oldest one that has no request in progress (idle keep-alive, a request head
//!   still arriving); if every connection is busy with a request, the new one is closed at once.
//!   So a crowd of idle or slow-head connections cannot keep a real request out.
//! - **Shutdown** stops accepting, lets requests in progress finish, closes idle connections, and
//!   after `shutdown_grace` closes whatever is still open: it never waits on a stalled client.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::app::Shared;

/// After a failed accept (out of file descriptors, most often) wait this long before the next:
/// retrying at once would spin, and connections closing meanwhile free descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Of the process's open-file limit, connections may use at most this share; SQLite, media files,
/// scratch uploads and ffmpeg's three pipes per verification need the rest.
const CONNECTION_SHARE_OF_FILE_LIMIT: u64 = 2;

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub write_stall_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl ConnectionLimits {
    /// `max_connections`, lowered to a share of the open-file limit when that is known.
    pub fn effective_max_connections(&self) -> usize {
        let by_files = open_file_limit().map(|n| n / CONNECTION_SHARE_OF_FILE_LIMIT);
        let by_files = by_files
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        self.max_connections.min(by_files).max(1)
    }
}

/// The soft limit on open files (`Max open files` of /proc/self/limits), if this is Linux.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One connection as the cap sees it.
#[derive(Default)]
struct Connection {
    /// Requests whose response has not been completely written yet.
    in_flight: AtomicUsize,
    /// Chosen to make room for a new connection.
    evicted: AtomicBool,
    evict: Notify,
}

impl Connection {
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && !self.evicted.load(Ordering::SeqCst)
    }
}

/// Open connections, oldest first.
#[derive(Default)]
struct Registry {
    next_id: u64,
    open: BTreeMap<u64, Arc<Connection>>,
}

type SharedRegistry = Arc<Mutex<Registry>>;

/// Removes a connection from the registry when its task ends (also when it is aborted).
struct Registered {
    id: u64,
    registry: SharedRegistry,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.open.remove(&self.id);
        }
    }
}

/// Counts a request as in progress until its response body is dropped (written or abandoned).
struct InFlight(Arc<Connection>);

impl InFlight {
    fn enter(conn: &Arc<Connection>) -> InFlight {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Makes room for one more connection: true if there is room (or was made by evicting the oldest
/// idle connection), false if every connection is busy with a request.
fn make_room(registry: &SharedRegistry, max: usize) -> bool {
    let Ok(r) = registry.lock() else { return false };
    let counted = r
        .open
        .values()
        .filter(|c| !c.evicted.load(Ordering::SeqCst))
        .count();
    if counted < max {
        return true;
    }
    match r.open.values().find(|c| c.idle()) {
        Some(oldest_idle) => {
            oldest_idle.evicted.store(true, Ordering::SeqCst);
            oldest_idle.evict.notify_one();
            true
        }
        None => false,
    }
}

fn register(registry: &SharedRegistry) -> Option<(Arc<Connection>, Registered)> {
    let mut r = registry.lock().ok()?;
    let id = r.next_id;
    r.next_id += 1;
    let conn = Arc::new(Connection::default());
    r.open.insert(id, conn.clone());
    Some((
        conn,
        Registered {
            id,
            registry: registry.clone(),
        },
    ))
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down within the grace period.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let max = limits.effective_max_connections();
    let registry: SharedRegistry = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: JoinSet<()> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        if !make_room(&registry, max) {
            tracing::warn!(
                max_connections = max,
                "connection refused: every connection is busy"
            );
            continue;
        }
        let Some((conn, registered)) = register(&registry) else {
            continue;
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        let stream = WriteStallLimit::new(stream, limits.write_stall_timeout);
        tasks.spawn(serve_connection(
            stream,
            peer,
            router,
            conn,
            registered,
            stop,
            limits.header_read_timeout,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "closing connections still open after the shutdown grace period"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

async fn serve_connection(
    stream: WriteStallLimit<tokio::net::TcpStream>,
    peer: SocketAddr,
    router: Router,
    conn: Arc<Connection>,
    _registered: Registered,
    mut stop: watch::Receiver<bool>,
    header_read_timeout: Duration,
) {
    let counted = conn.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let in_flight = InFlight::enter(&counted);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            // The request stays in progress until its response body is dropped.
            let response = response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _still_in_flight = &in_flight;
                    frame
                }))
            });
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = conn.evict.notified() => {}
        // The only change ever sent is the one to `true`.
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A stream whose writes fail once they have made no progress for `limit`: hyper has no write
/// timeout, and a client that never reads its answer would otherwise hold the connection (and its
/// place under the cap) for as long as it likes.
pub struct WriteStallLimit<S> {
    inner: S,
    limit: Duration,
    /// Running while writes are pending; dropped whenever one makes progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteStallLimit<S> {
    pub fn new(inner: S, limit: Duration) -> WriteStallLimit<S> {
        WriteStallLimit {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After the inner write returned `poll`: progress clears the stall timer, `Pending` starts it
    /// (or turns into an error once it has run out).
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading its answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStallLimit<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStallLimit<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, poll)
    }
}

/// Which routes get the longer upload deadline.
pub const UPLOAD_ROUTE: &str = "/api/h5/v1/attempts/{attempt_id}/video";

/// Middleware: the request body must be complete by a deadline counted from its head (the video
/// upload's own [`crate::h5::UPLOAD_TIME_LIMIT`], else the configured `request_body_timeout`).
/// Past it the body ends in an error, so whatever reads it (an extractor, the upload, a drain)
/// stops.
pub async fn body_deadline(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let upload = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str() == UPLOAD_ROUTE);
    let limit = if upload {
        crate::h5::UPLOAD_TIME_LIMIT
    } else {
        app.config.request_body_timeout
    };
    let deadline = tokio::time::Instant::now() + limit;
    let (parts, body) = req.into_parts();
    let chunks =
        futures_util::stream::unfold(Some(body.into_data_stream()), move |stream| async move {
            let mut stream = stream?;
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok::<Bytes, axum::BoxError>(bytes), Some(stream))),
                Ok(Some(Err(e))) => Some((Err(e.into()), None)),
                Ok(None) => None,
                Err(_) => Some((Err("the request body did not arrive in time".into()), None)),
            }
        });
    next.run(Request::from_parts(parts, Body::from_stream(chunks)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_evicts_the_oldest_idle_connection_and_never_a_busy_one() {
        let registry: SharedRegistry = Arc::default();
        let (busy, _b) = register(&registry).unwrap();
        let _busy_request = InFlight::enter(&busy);
        let (idle, _i) = register(&registry).unwrap();
        assert!(make_room(&registry, 3));
        assert!(make_room(&registry, 2), "the idle one makes room");
        assert!(idle.evicted.load(Ordering::SeqCst) && !busy.evicted.load(Ordering::SeqCst));
        assert!(!make_room(&registry, 1), "only a busy connection is left");
        drop(_i);
        assert_eq!(registry.lock().unwrap().open.len(), 1);
    }

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        let limits = ConnectionLimits {
            max_connections: usize::MAX,
            header_read_timeout: Duration::from_secs(1),
            write_stall_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
        };
        let files = open_file_limit().expect("Linux reports its open-file limit");
        assert_eq!(
            limits.effective_max_connections() as u64,
            files / CONNECTION_SHARE_OF_FILE_LIMIT
        );
    }
}
