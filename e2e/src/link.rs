//! The network between the browser and the server: a loopback TCP relay that can cut the first
//! video uploads mid-transfer, as a phone losing its connection would.
//!
//! The relay passes bytes through unchanged. It watches the browser-to-server direction for the
//! upload's request line (`POST /api/h5/v1/attempts/<id>/video`); for the first `cut_uploads`
//! uploads it forwards the request head and [`CUT_AFTER_BYTES`] of the body, closes the server's
//! side (a truncated body), and gives the browser the start of an answer that never finishes
//! ([`BROKEN_ANSWER`]) before closing its side too.
//!
//! Why an answer that breaks off rather than a bare close: Chromium silently re-sends a request
//! whose kept-alive connection closed before any answer byte arrived, so the page would never
//! see the failure and its own retry would go untested.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{HarnessError, Result};

/// Part of the upload that gets through before the cut: the head and some of the video, so the
/// server has started reading the body when the connection dies.
pub const CUT_AFTER_BYTES: usize = 32 * 1024;
/// The head of an answer whose body never arrives (the connection dies after 12 of 4096 bytes).
pub const BROKEN_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n{\"errCode\":";

/// How long the relay keeps draining a cut upload's remaining bytes before it closes anyway.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The upload's request line starts with this; its path ends in `/video` (a query may follow).
const UPLOAD_METHOD: &[u8] = b"POST /api/h5/v1/attempts/";
const UPLOAD_PATH_END: &[u8] = b"/video";
/// Bytes kept between reads so a request line split across two reads is still found (an attempt
/// id and a token query are well under this).
const TAIL_BYTES: usize = 1024;

/// Counters the test reads afterwards.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub uploads_seen: AtomicU32,
    pub uploads_cut: AtomicU32,
}

/// A listening relay; bytes go to the upstream set by [`FlakyLink::connect_to`].
pub struct FlakyLink {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    cut_uploads: u32,
    stats: Arc<LinkStats>,
    task: Option<JoinHandle<()>>,
}

impl FlakyLink {
    /// Binds a loopback port now (so the server can name it as its public URL before it starts).
    pub async fn bind(cut_uploads: u32) -> Result<FlakyLink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| HarnessError::Io {
                path: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| HarnessError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
        Ok(FlakyLink {
            addr,
            listener: Some(listener),
            cut_uploads,
            stats: Arc::default(),
            task: None,
        })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Arc<LinkStats> {
        self.stats.clone()
    }

    /// Starts relaying every accepted connection to `upstream`.
    pub fn connect_to(&mut self, upstream: SocketAddr) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let stats = self.stats.clone();
        let budget = Arc::new(AtomicU32::new(self.cut_uploads));
        self.task = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (stats, budget) = (stats.clone(), budget.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, stats, budget).await;
                    }
                });
            }
        }));
    }
}

impl Drop for FlakyLink {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Whether `window` holds a complete upload request line (`POST /api/h5/v1/attempts/<id>/video`,
/// optionally with a query). On a kept-alive connection a request follows the previous body
/// directly, so the line need not start after a newline.
fn upload_starts(window: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = find(&window[from..], UPLOAD_METHOD) {
        let start = from + i;
        let rest = &window[start + 5..];
        if let Some(line_end) = find(rest, b"\r\n") {
            let target = rest[..line_end]
                .split(|&b| b == b' ')
                .next()
                .unwrap_or_default();
            let path = target.split(|&b| b == b'?').next().unwrap_or_default();
            if path.ends_with(UPLOAD_PATH_END) {
                return true;
            }
        }
        from = start + 1;
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    stats: Arc<LinkStats>,
    budget: Arc<AtomicU32>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<()>();
    let down = tokio::spawn(async move {
        tokio::select! {
            biased;
            Ok(()) = cut_rx => {
                let _ = client_wr.write_all(BROKEN_ANSWER).await;
            }
            _ = tokio::io::copy(&mut server_rd, &mut client_wr) => {}
        }
        let _ = client_wr.shutdown().await;
        server_rd
    });
    let mut cut_tx = Some(cut_tx);
    let mut buf = vec![0u8; 16 * 1024];
    // The last bytes seen, so a request line split across reads is still found.
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL_BYTES);
    // Bytes of an upload to cut still allowed through.
    let mut cutting: Option<usize> = None;
    loop {
        let n = match client_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if cutting.is_none() {
            let mut window = tail.clone();
            window.extend_from_slice(chunk);
            if upload_starts(&window) {
                window.clear();
                stats.uploads_seen.fetch_add(1, Ordering::SeqCst);
                let cut = budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
                    .is_ok();
                if cut {
                    stats.uploads_cut.fetch_add(1, Ordering::SeqCst);
                    cutting = Some(CUT_AFTER_BYTES);
                }
            }
            let keep = window.len().saturating_sub(TAIL_BYTES);
            tail = window.split_off(keep);
        }
        match cutting {
            Some(left) if left <= n => {
                let _ = server_wr.write_all(&chunk[..left]).await;
                if let Some(tx) = cut_tx.take() {
                    let _ = tx.send(());
                }
                break;
            }
            Some(left) => {
                if server_wr.write_all(chunk).await.is_err() {
                    break;
                }
                cutting = Some(left - n);
            }
            None => {
                if server_wr.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    }
    // Both directions end. After a cut the browser gets its broken answer first, while the server
    // still waits for the rest of the body (so its own answer cannot reach the browser); only then
    // does the server see its side close. Otherwise the browser closed and the server's last
    // answer drains.
    let cut = cut_tx.is_none();
    drop(cut_tx);
    if cut {
        let server_rd = down.await;
        drop(server_wr);
        drop(server_rd);
        // Keep reading (and discarding) what the browser still sends until it gives up: closing a
        // socket with unread data sends a reset, which can destroy the broken answer before the
        // browser reads it (and a reset with no answer on a kept-alive connection is re-sent).
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Ok(n) = client_rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        return;
    }
    let _ = server_wr.shutdown().await;
    drop(server_wr);
    let _ = down.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_upload_request_line_only() {
        assert!(upload_starts(
            b"xx\r\nPOST /api/h5/v1/attempts/ABC123/video HTTP/1.1\r\nHost: a\r\n"
        ));
        assert!(upload_starts(
            b"POST /api/h5/v1/attempts/ABC/video?token=T-1 HTTP/1.1\r\n"
        ));
        // Not complete yet: the line end has not arrived.
        assert!(!upload_starts(b"POST /api/h5/v1/attempts/ABC/video?tok"));
        assert!(!upload_starts(b"POST /api/h5/v1/attempts HTTP/1.1\r\n"));
        assert!(!upload_starts(b"GET /h5/pkg/video HTTP/1.1\r\n"));
        // Right after the previous request's body on a kept-alive connection.
        assert!(upload_starts(
            b"{\"token\":\"T\"}POST /api/h5/v1/attempts/A/video?token=T HTTP/1.1\r\n"
        ));
    }
}
