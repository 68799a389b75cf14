//! The H5 API (PROTOCOL.md §2): session, attempts, video upload. JSON, camelCase; every error is
//! `{"errCode", "errMsg"}` with a matching HTTP status.
//!
//! Codes this module answers with, beyond the engine's verdicts:
//! unknown token 15 (404), expired token 15 (410), finished token 14 (409), retry budget spent 16
//! (403), browser rate limit 2018 (429), upload over 8 MB 1107 (413), empty video 1107 (400),
//! unknown attempt 1003 (404), upload without its attempt's token 15 (403), another attempt of the
//! token already passed 14 (409), verification queue full 1001 (503 with Retry-After), broken
//! upload 1008 (400), a repeated upload still waiting for the first one after [`BUSY_WAIT_LIMIT`]
//! 1001 (503 with Retry-After), the server's own storage or database failing 4 (507 / 500). An
//! attempt whose video arrives more than 60 s after it was issued is answered 1001 ("timed out,
//! try again") and counts as used.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{
    AttemptCreated, AttemptRequest, H5Error, SessionInfo, UploadAnswer, UploadReport,
    ATTEMPT_TTL_MS, MAX_UPLOAD_BYTES,
};
use faceid_core::redirect::build_redirect_url;
use faceid_core::{Locale, ResultCode};
use futures_util::StreamExt;
use rand_core::SeedableRng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;

use crate::app::{AppState, Shared};
use crate::config::ServerConfig;
use crate::store::{
    AttemptRecord, AttemptRefusal, AttemptResult, Claim, FinishRefusal, RateLimit, StoreError,
    TokenRecord, TokenStatus,
};
use crate::verify::VerifyOutcome;

/// The browser cookie (a random id; PROTOCOL.md §3's per-browser limit counts under it).
pub const BROWSER_COOKIE: &str = "faceid_browser";
/// The cookie lives a year: long enough to span the daily window many times over.
const BROWSER_COOKIE_MAX_AGE_SECS: u64 = 365 * 86_400;
/// The report part is small JSON (a dozen timeline entries and a few fields).
pub const MAX_REPORT_BYTES: usize = 64 * 1024;
/// After an upload goes over the limit, up to this much more is read and discarded so the client
/// receives the 413 answer instead of a reset connection; beyond it the connection is dropped.
const OVERSIZE_DRAIN_BYTES: u64 = MAX_UPLOAD_BYTES;
/// A repeated upload that arrives while the first is still being verified waits for its answer,
/// polling this often.
const BUSY_POLL: Duration = Duration::from_millis(100);
/// How long that repeated upload waits, its own body unread, before it is answered busy (503, code
/// 1001, `Retry-After`) and comes back. Its sender's TCP window stays shut meanwhile, and senders
/// give up on a shut window: reqwest's default `TCP_USER_TIMEOUT` drops the connection after 30 s
/// (os error 110), so a longer wait would end in a dropped connection instead of an answer. A
/// third of that.
pub const BUSY_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// An upload must arrive within this: 8 MB at 1 Mbit/s takes about 67 s, and a sender slower than
/// that would only hold a connection open (the attempt itself expires after 60 s).
pub const UPLOAD_TIME_LIMIT: Duration = Duration::from_secs(90);
/// How often a verifying instance renews its lease: longer than a renewal takes to fail when the
/// database does not answer (5 s: the PostgreSQL store's connect timeout, SQLite's busy timeout),
/// so a failed renewal is over before the next one is due.
pub const LEASE_RENEWAL_INTERVAL: Duration = Duration::from_secs(6);
/// Renewals per lease: two renewals in a row can fail (a database hiccup of up to two intervals,
/// a stalled thread) before the lease runs out.
pub const LEASE_RENEWALS: u32 = 3;
/// The lease without `--lease-secs`: [`LEASE_RENEWALS`] × [`LEASE_RENEWAL_INTERVAL`] = 18 s. The
/// owner renews it for as long as it works, so it need not cover a verification (upload, queue,
/// verification, storing), only outlast two missed renewals. It is also how long the page's retry
/// waits for another instance after the owner died: at most 18 s after the owner's last renewal,
/// inside the attempt's 60 s ([`ATTEMPT_TTL_MS`]), so the retry is verified, not answered 1001.
pub const DEFAULT_LEASE: Duration =
    Duration::from_secs(LEASE_RENEWAL_INTERVAL.as_secs() * LEASE_RENEWALS as u64);

/// How long an upload's claim holds its attempt against other instances: `--lease-secs` when
/// given, else [`DEFAULT_LEASE`]. Renewed every lease ÷ [`LEASE_RENEWALS`].
pub fn attempt_lease(config: &ServerConfig) -> Duration {
    config.lease.unwrap_or(DEFAULT_LEASE)
}

fn lease_ms(config: &ServerConfig) -> i64 {
    i64::try_from(attempt_lease(config).as_millis()).unwrap_or(i64::MAX)
}

/// The lease of an attempt this instance claimed, renewed every [`attempt_lease`] ÷
/// [`LEASE_RENEWALS`] while its upload is received, waits for a slot and is verified: a lease
/// shorter than the verification would otherwise run out under it, another instance would take the
/// attempt over and verify it again, and so on (every instance's work refused in turn). Dropping
/// it stops the renewals.
struct LeaseKeeper {
    renewing: tokio::task::JoinHandle<()>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LeaseKeeper {
    fn start(app: &Shared, attempt_id: &str) -> LeaseKeeper {
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (app, attempt_id, flag) = (app.clone(), attempt_id.to_string(), lost.clone());
        let every = attempt_lease(&app.config) / LEASE_RENEWALS;
        let renewing = tokio::spawn(async move {
            // On a fixed schedule: a renewal that is slow to fail does not push the next one later.
            let mut due = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                due.tick().await;
                let id = attempt_id.clone();
                let renewed = app
                    .blocking(move |s| {
                        let until = s.now_ms().saturating_add(lease_ms(&s.config));
                        s.store.renew_lease(&id, &s.config.instance_id, until)
                    })
                    .await;
                match renewed {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => {
                        // Taken over (this instance stalled longer than the lease) or answered
                        // meanwhile: this verification's result will not be stored.
                        tracing::warn!("an attempt's lease was lost while it was being verified");
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    // The next renewal tries again; the lease holds two more rounds.
                    Ok(Err(e)) => tracing::error!(error = %e, "renewing an attempt's lease"),
                    Err(e) => tracing::error!(error = %e, "renewing an attempt's lease"),
                }
            }
        });
        LeaseKeeper { renewing, lost }
    }

    /// Whether a renewal found the lease held by another instance (or the attempt answered).
    fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

/// How long a refused-as-busy upload is asked to wait before it comes back: a verification takes
/// about 1 s of a core (BENCHMARKS.md §6 and §8), so a full queue on two or more cores has moved on
/// by then.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;
/// Upload chunks in flight between the body reader and the multipart parser.
const UPLOAD_CHANNEL_CHUNKS: usize = 8;
const DAY_MS: i64 = 86_400_000;

/// A failure answered as `{"errCode", "errMsg"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H5Failure {
    pub code: ResultCode,
    pub status: StatusCode,
    pub locale: Locale,
    /// Sent as `Retry-After` (seconds): the server is busy, the same request may come back then.
    pub retry_after_secs: Option<u64>,
}

impl H5Failure {
    fn new(code: ResultCode, status: StatusCode, locale: Locale) -> H5Failure {
        H5Failure {
            code,
            status,
            locale,
            retry_after_secs: None,
        }
    }
    /// The verification engine cannot take this upload now: 503 with code 1001 (FaceID's "failed
    /// to call the liveness engine", PROTOCOL.md's "engine timeout, try again") and `Retry-After`,
    /// which the page turns into "busy, retrying" and a resend after that many seconds.
    fn busy(locale: Locale) -> H5Failure {
        H5Failure {
            retry_after_secs: Some(BUSY_RETRY_AFTER_SECS),
            ..H5Failure::new(
                ResultCode::EngineTimeout,
                StatusCode::SERVICE_UNAVAILABLE,
                locale,
            )
        }
    }
    /// A store or server failure: the database out of reach for a moment (unreachable, every
    /// connection busy, a lock or statement timeout behind another instance) is answered
    /// [`Self::busy`], so the page's upload waits and resends; anything else is [`Self::internal`].
    fn fault(e: impl Into<crate::ServerError>, locale: Locale) -> H5Failure {
        match e.into() {
            crate::ServerError::Store(e @ StoreError::Unavailable { .. }) => {
                tracing::warn!(error = %e, "database unavailable: answered busy");
                H5Failure::busy(locale)
            }
            e => H5Failure::internal(e, locale),
        }
    }
    /// A fault of the server itself (database, storage, a task that died): logged as an ERROR and
    /// answered with code 4, never as the person's liveness failing.
    fn internal(what: impl std::fmt::Display, locale: Locale) -> H5Failure {
        tracing::error!(error = %what, "H5 API internal error");
        H5Failure::new(
            ResultCode::InternalError,
            StatusCode::INTERNAL_SERVER_ERROR,
            locale,
        )
    }
}

impl IntoResponse for H5Failure {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(H5Error::new(self.code, self.locale))).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The locale for a request without a token: Accept-Language, else the server default.
fn request_locale(app: &AppState, headers: &HeaderMap) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|tag| Locale::parse(tag.split(';').next().unwrap_or("")))
        })
        .unwrap_or(app.config.default_locale)
}

/// Loads a token and checks it can still be used.
async fn usable_token(app: &Shared, token: &str, locale: Locale) -> Result<TokenRecord, H5Failure> {
    let t = token.to_string();
    let found = app
        .blocking(move |s| s.store.token(&t))
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?;
    let Some(rec) = found else {
        return Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::NOT_FOUND,
            locale,
        ));
    };
    let locale = rec.locale;
    match rec.status {
        TokenStatus::Passed => {
            return Err(H5Failure::new(
                ResultCode::TokenFinished,
                StatusCode::CONFLICT,
                locale,
            ))
        }
        TokenStatus::Exhausted => {
            return Err(H5Failure::new(
                ResultCode::RetryLimit,
                StatusCode::FORBIDDEN,
                locale,
            ))
        }
        TokenStatus::Open => {}
    }
    if app.now_ms() > rec.expires_at_ms {
        return Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::GONE,
            locale,
        ));
    }
    Ok(rec)
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The browser's identity for the per-browser limit: our cookie, else a hash of IP and user agent.
fn browser_key(headers: &HeaderMap, peer: Option<SocketAddr>) -> (String, Option<String>) {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| {
            *k == BROWSER_COOKIE && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|(_, v)| v.to_string());
    match from_cookie {
        Some(id) => (format!("browser:{id}"), None),
        None => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ip = peer.map(|p| p.ip().to_string()).unwrap_or_default();
            let digest = hex::encode(Sha256::digest(format!("{ip}\n{ua}").as_bytes()));
            // A new cookie for next time; this request counts under IP + user agent.
            let fresh = crate::config::random_secret("", 16).ok();
            (format!("browser-ipua:{digest}"), fresh)
        }
    }
}

fn set_cookie(r: &mut Response, id: &str, secure: bool) {
    let cookie = format!(
        "{BROWSER_COOKIE}={id}; Path=/; Max-Age={BROWSER_COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `GET /api/h5/v1/session?token=…`
pub async fn session(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let locale = request_locale(&app, &headers);
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return H5Failure::new(ResultCode::TokenExpired, StatusCode::NOT_FOUND, locale)
            .into_response();
    };
    let rec = match usable_token(&app, &token, locale).await {
        Ok(r) => r,
        Err(f) => return f.into_response(),
    };
    let info = SessionInfo {
        mode: rec.mode,
        locale: rec.locale,
        retries_left: rec.retries_left(),
        expires_at: rec.expires_at_ms,
        max_video_bytes: MAX_UPLOAD_BYTES,
        redirect_url: rec.redirect_url.clone(),
        extra: rec.extra.clone(),
    };
    let mut r = no_store(Json(info).into_response());
    let (_, fresh) = browser_key(&headers, Some(peer));
    if let Some(id) = fresh {
        set_cookie(&mut r, &id, app.public_url.starts_with("https://"));
    }
    r
}

/// `POST /api/h5/v1/attempts` `{token}`
pub async fn create_attempt(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match create_attempt_inner(&app, peer, &headers, &body).await {
        Ok((created, fresh)) => {
            let mut r = no_store((StatusCode::CREATED, Json(created)).into_response());
            if let Some(id) = fresh {
                set_cookie(&mut r, &id, app.public_url.starts_with("https://"));
            }
            r
        }
        Err(f) => f.into_response(),
    }
}

async fn create_attempt_inner(
    app: &Shared,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(AttemptCreated, Option<String>), H5Failure> {
    let locale = request_locale(app, headers);
    let req: AttemptRequest = serde_json::from_slice(body)
        .map_err(|_| H5Failure::new(ResultCode::TokenExpired, StatusCode::BAD_REQUEST, locale))?;
    let rec = usable_token(app, &req.token, locale).await?;
    let locale = rec.locale;
    if rec.retries_left() == 0 {
        return Err(H5Failure::new(
            ResultCode::RetryLimit,
            StatusCode::FORBIDDEN,
            locale,
        ));
    }
    let (browser, fresh) = browser_key(headers, Some(peer));
    let now = app.now_ms();
    let limits = vec![RateLimit {
        key: browser,
        window_ms: DAY_MS,
        max: app.config.browser_per_day,
    }];
    let allowed = app
        .blocking(move |s| s.store.check_and_count(&limits, now))
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?;
    if !allowed {
        return Err(H5Failure::new(
            ResultCode::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            locale,
        ));
    }
    // A fresh challenge per attempt from a CSPRNG seeded by the operating system.
    let mut rng =
        rand_chacha::ChaCha20Rng::try_from_os_rng().map_err(|e| H5Failure::internal(e, locale))?;
    let challenge = ColourChallenge::generate(&mut rng);
    let attempt_id = uuid::Uuid::new_v4().simple().to_string();
    let expires_at = now.saturating_add(i64::try_from(ATTEMPT_TTL_MS).unwrap_or(i64::MAX));
    let (token, id, ch) = (rec.biz_token.clone(), attempt_id.clone(), challenge.clone());
    let created = app
        .blocking(move |s| s.store.create_attempt(&token, &id, &ch, now, expires_at))
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?;
    match created {
        Ok(_) => Ok((
            AttemptCreated {
                attempt_id,
                challenge,
                expires_at,
            },
            fresh,
        )),
        Err(AttemptRefusal::UnknownToken) => Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::NOT_FOUND,
            locale,
        )),
        Err(AttemptRefusal::Finished) => Err(H5Failure::new(
            ResultCode::TokenFinished,
            StatusCode::CONFLICT,
            locale,
        )),
        Err(AttemptRefusal::BudgetSpent) => Err(H5Failure::new(
            ResultCode::RetryLimit,
            StatusCode::FORBIDDEN,
            locale,
        )),
    }
}

/// Why reading the upload stopped.
#[derive(Debug)]
enum UploadStop {
    TooLarge,
    /// The client's side: a fixed reason (never text from the body, which the log would repeat).
    Broken(&'static str),
    EmptyVideo,
    /// The server's side: the video could not be written to scratch storage (disk full …).
    Storage(std::io::Error),
}

/// Why a multipart body could not be read, as logged.
const MALFORMED_BODY: &str = "the multipart body is malformed or broke off";

/// The body as a stream of chunks, cut off with an error once it exceeds `limit` bytes. The reader
/// task then keeps reading (and discarding) up to [`OVERSIZE_DRAIN_BYTES`] more, so the client gets
/// to read our 413 answer; the returned handle finishes when it is done.
fn limited_body(
    body: Body,
    limit: u64,
) -> (
    impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>,
    tokio::task::JoinHandle<bool>,
) {
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(UPLOAD_CHANNEL_CHUNKS);
    let reader = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut total: u64 = 0;
        let mut over = false;
        let deadline = tokio::time::Instant::now() + UPLOAD_TIME_LIMIT;
        while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
            match chunk {
                Ok(bytes) => {
                    total = total.saturating_add(bytes.len() as u64);
                    if over {
                        if total > limit.saturating_add(OVERSIZE_DRAIN_BYTES) {
                            break;
                        }
                        continue;
                    }
                    if total > limit {
                        over = true;
                        let _ = tx
                            .send(Err(std::io::Error::other("upload over the size limit")))
                            .await;
                        continue;
                    }
                    // The parser stopped listening (it failed, or the upload timed out): stop.
                    if tx.send(Ok(bytes)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    break;
                }
            }
        }
        total > limit
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (stream, reader)
}

/// Streams the multipart upload: `video` to `video_path`, `report` parsed (≤ 64 KiB), other parts
/// read and dropped. The size limit applies to the whole body, while it streams.
async fn receive_upload(
    headers: &HeaderMap,
    body: Body,
    video_path: &std::path::Path,
) -> Result<(u64, Option<UploadReport>, Option<String>), UploadStop> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(UploadStop::Broken("not a multipart/form-data body"))?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_BYTES.saturating_add(OVERSIZE_DRAIN_BYTES)) {
        // Far too large to be worth draining: answer now.
        return Err(UploadStop::TooLarge);
    }
    let (stream, reader) = limited_body(body, MAX_UPLOAD_BYTES);
    let result = parse_parts(stream, boundary, video_path).await;
    let over_limit = reader.await.unwrap_or(false);
    match result {
        _ if over_limit => Err(UploadStop::TooLarge),
        Ok((0, _, _)) => Err(UploadStop::EmptyVideo),
        other => other,
    }
}

async fn parse_parts(
    stream: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    boundary: String,
    video_path: &std::path::Path,
) -> Result<(u64, Option<UploadReport>, Option<String>), UploadStop> {
    let broken = |_: multer::Error| UploadStop::Broken(MALFORMED_BODY);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut video_bytes: u64 = 0;
    let mut saw_video = false;
    let mut report: Option<UploadReport> = None;
    let mut token: Option<String> = None;
    // A write that fails (disk full) stops the writing, not the reading: the rest of the body is
    // still read (within the size and time limits) so the client receives the answer.
    let mut storage_error: Option<std::io::Error> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        match field.name() {
            Some("video") if !saw_video => {
                saw_video = true;
                let mut file = match crate::private_fs::create_file_async(video_path).await {
                    Ok(f) => Some(f),
                    Err(e) => {
                        storage_error = Some(e);
                        None
                    }
                };
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    video_bytes += chunk.len() as u64;
                    if let Some(f) = file.as_mut() {
                        if let Err(e) = f.write_all(&chunk).await {
                            storage_error = Some(e);
                            file = None;
                        }
                    }
                }
                if let Some(mut f) = file {
                    if let Err(e) = f.flush().await {
                        storage_error = Some(e);
                    }
                }
            }
            Some(name @ ("report" | "token")) => {
                let name = name.to_string();
                let mut buf: Vec<u8> = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if buf.len() + chunk.len() > MAX_REPORT_BYTES {
                        return Err(UploadStop::Broken("a report or token part is too large"));
                    }
                    buf.extend_from_slice(&chunk);
                }
                if name == "report" {
                    // An unreadable report leaves the server without the page's timeline; the
                    // verdict then says so (1003) rather than the upload failing.
                    report = serde_json::from_slice(&buf).ok();
                } else {
                    token = String::from_utf8(buf).ok();
                }
            }
            _ => while field.chunk().await.map_err(broken)?.is_some() {},
        }
    }
    if let Some(e) = storage_error {
        return Err(UploadStop::Storage(e));
    }
    Ok((video_bytes, report, token))
}

/// `POST /api/h5/v1/attempts/{attemptId}/video?token=…` (multipart: `video`, `report`, optional
/// `token` which must then be the same). The token in the query is required and must own the
/// attempt; both are checked before any of the body is read.
pub async fn upload_video(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(attempt_id): Path<String>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = request_locale(&app, &headers);
    let upload = Upload {
        attempt_id: &attempt_id,
        query_token: q.token,
        browser: browser_key(&headers, Some(peer)).0,
        headers: &headers,
    };
    match upload_inner(&app, upload, body, locale).await {
        Ok(json) => no_store(
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                json,
            )
                .into_response(),
        ),
        Err(f) => f.into_response(),
    }
}

/// Who sends which upload.
struct Upload<'a> {
    attempt_id: &'a str,
    query_token: Option<String>,
    /// The per-browser key of the queue's fairness (cookie, else IP and user agent).
    browser: String,
    headers: &'a HeaderMap,
}

async fn upload_inner(
    app: &Shared,
    upload: Upload<'_>,
    body: Body,
    locale: Locale,
) -> Result<String, H5Failure> {
    let Upload {
        attempt_id,
        query_token,
        browser,
        headers,
    } = upload;
    let valid_id = !attempt_id.is_empty()
        && attempt_id.len() <= 64
        && attempt_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid_id {
        drain(body).await;
        return Err(H5Failure::new(
            ResultCode::LivenessFailed,
            StatusCode::NOT_FOUND,
            locale,
        ));
    }
    // The attempt id alone is no credential: the BizToken that created the attempt must come with
    // it. Checked before anything is claimed or read, so a stranger cannot hold the attempt busy.
    let Some(token) = query_token.filter(|t| !t.is_empty()) else {
        drain(body).await;
        return Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::FORBIDDEN,
            locale,
        ));
    };
    let id = attempt_id.to_string();
    let owner = app
        .blocking(move |s| s.store.attempt(&id))
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?
        .map(|a| a.biz_token);
    match owner {
        None => {
            drain(body).await;
            return Err(H5Failure::new(
                ResultCode::LivenessFailed,
                StatusCode::NOT_FOUND,
                locale,
            ));
        }
        Some(owner) if !bool::from(owner.as_bytes().ct_eq(token.as_bytes())) => {
            drain(body).await;
            return Err(H5Failure::new(
                ResultCode::TokenExpired,
                StatusCode::FORBIDDEN,
                locale,
            ));
        }
        Some(_) => {}
    }
    // A repeated upload (the page's retry) may find the first one still being verified. It waits,
    // with its own body unread, until the first one is answered — or given back because its body
    // broke off, or its lease ran out (its instance died), in which case this upload claims the
    // attempt and is verified instead. It waits at most [`BUSY_WAIT_LIMIT`], then is answered busy.
    let attempt = loop {
        let id = attempt_id.to_string();
        let now = app.now_ms();
        let lease_ms = lease_ms(&app.config);
        let claim = app
            .blocking(move |s| {
                let owner = &s.config.instance_id;
                s.store
                    .claim_attempt(&id, owner, now, now.saturating_add(lease_ms))
            })
            .await
            .map_err(|e| H5Failure::internal(e, locale))?
            .map_err(|e| H5Failure::fault(e, locale))?;
        match claim {
            Claim::Claimed(a) => break *a,
            Claim::Answered(json) => {
                drain(body).await;
                return Ok(json);
            }
            Claim::Busy => match wait_until_settled(app, attempt_id, locale).await {
                Ok(Settled::Answered(json)) => {
                    drain(body).await;
                    return Ok(json);
                }
                Ok(Settled::Released) => {}
                // Still busy after [`BUSY_WAIT_LIMIT`] (or the store failed): answered now, the
                // body read and dropped by a task of its own so the client receives the answer.
                Err(failure) => {
                    tokio::spawn(drain(body));
                    return Err(failure);
                }
            },
            Claim::Unknown => {
                drain(body).await;
                return Err(H5Failure::new(
                    ResultCode::LivenessFailed,
                    StatusCode::NOT_FOUND,
                    locale,
                ));
            }
        }
    };
    // A place in the verification queue, before a byte of the body is read. Without one the
    // attempt is given back and the answer is immediate: 503, come back after Retry-After. The
    // body is still read (and dropped) by a task of its own, so the client receives the answer
    // instead of a reset connection.
    let ticket = match app.verify_queue.admit(&token, &browser) {
        Ok(t) => t,
        Err(why) => {
            tracing::info!(reason = %why, queued = app.verify_queue.len(), "upload not admitted: busy");
            let id = attempt.attempt_id.clone();
            app.blocking(move |s| s.store.release_attempt(&id, &s.config.instance_id))
                .await
                .map_err(|e| H5Failure::internal(e, locale))?
                .map_err(|e| H5Failure::fault(e, locale))?;
            tokio::spawn(drain(body));
            return Err(H5Failure::busy(locale));
        }
    };
    // From here on the attempt is ours. The rest runs as its own task, so a client that goes away
    // mid-verification cannot cancel it halfway (the attempt would stay claimed); a body that
    // breaks off ends in an error, and the claim is given back.
    let me = app.clone();
    let headers = headers.clone();
    let task = tokio::spawn(async move {
        let lease = LeaseKeeper::start(&me, &attempt.attempt_id);
        let outcome = verify_claimed(&me, &attempt, &headers, body, locale, &lease).await;
        drop(lease);
        // The place in the queue is held until the answer is stored (or the upload failed).
        drop(ticket);
        if outcome.is_err() {
            let id = attempt.attempt_id.clone();
            let released = me
                .blocking(move |s| s.store.release_attempt(&id, &s.config.instance_id))
                .await;
            if let Ok(Err(e)) = released {
                tracing::error!(error = %e, "releasing an attempt");
            }
        }
        outcome
    });
    task.await.map_err(|e| H5Failure::internal(e, locale))?
}

async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        total += chunk.len() as u64;
        if total > MAX_UPLOAD_BYTES.saturating_add(OVERSIZE_DRAIN_BYTES) {
            break;
        }
    }
}

/// How an attempt that another upload was verifying came to rest.
enum Settled {
    /// Verified: the stored answer.
    Answered(String),
    /// Given back (that upload broke off), or its claimant's lease ran out: it can be claimed.
    Released,
}

async fn wait_until_settled(
    app: &Shared,
    attempt_id: &str,
    locale: Locale,
) -> Result<Settled, H5Failure> {
    let deadline = tokio::time::Instant::now() + BUSY_WAIT_LIMIT;
    loop {
        tokio::time::sleep(BUSY_POLL).await;
        let id = attempt_id.to_string();
        let a = app
            .blocking(move |s| s.store.attempt(&id))
            .await
            .map_err(|e| H5Failure::internal(e, locale))?
            .map_err(|e| H5Failure::fault(e, locale))?;
        let now = app.now_ms();
        match a {
            Some(AttemptRecord {
                result: Some(r), ..
            }) => return Ok(Settled::Answered(r.answer_json)),
            Some(a) if a.claimable_at(now) => return Ok(Settled::Released),
            Some(_) => {}
            None => {
                return Err(H5Failure::new(
                    ResultCode::LivenessFailed,
                    StatusCode::NOT_FOUND,
                    locale,
                ))
            }
        }
        if tokio::time::Instant::now() > deadline {
            // The first upload's verification is still running (here or on another instance), or
            // its instance died and its lease has not run out yet: come back after Retry-After.
            return Err(H5Failure::busy(locale));
        }
    }
}

/// Removes a scratch file when dropped (the upload failed or the video moved to media storage).
struct ScratchFile(std::path::PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn verify_claimed(
    app: &Shared,
    attempt: &AttemptRecord,
    headers: &HeaderMap,
    body: Body,
    locale: Locale,
    lease: &LeaseKeeper,
) -> Result<String, H5Failure> {
    let received_at = app.now_ms();
    let token_id = attempt.biz_token.clone();
    let token = app
        .blocking(move |s| s.store.token(&token_id))
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?
        .ok_or_else(|| H5Failure::new(ResultCode::TokenExpired, StatusCode::NOT_FOUND, locale))?;
    let locale = token.locale;
    // Another attempt of this token already passed (or the budget ended the flow): this one is not
    // verified, recorded or billed, like a new session or attempt would not be.
    match token.status {
        TokenStatus::Passed => {
            drain(body).await;
            return Err(H5Failure::new(
                ResultCode::TokenFinished,
                StatusCode::CONFLICT,
                locale,
            ));
        }
        TokenStatus::Exhausted => {
            drain(body).await;
            return Err(H5Failure::new(
                ResultCode::RetryLimit,
                StatusCode::FORBIDDEN,
                locale,
            ));
        }
        TokenStatus::Open => {}
    }
    if received_at > token.expires_at_ms {
        drain(body).await;
        return Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::GONE,
            locale,
        ));
    }
    if received_at > attempt.expires_at_ms {
        drain(body).await;
        let outcome = VerifyOutcome::refused(
            ResultCode::EngineTimeout,
            "attempt expired before its video arrived",
        );
        return record(app, attempt, outcome, None, locale).await;
    }

    // A random name, not the attempt id: nothing that identifies the attempt appears in paths a
    // tool might print.
    let scratch_name = uuid::Uuid::new_v4().simple().to_string();
    let scratch = ScratchFile(app.scratch_dir.join(format!("{scratch_name}.upload")));
    let received =
        tokio::time::timeout(UPLOAD_TIME_LIMIT, receive_upload(headers, body, &scratch.0))
            .await
            .unwrap_or(Err(UploadStop::Broken("the upload took too long")));
    let (_, report, part_token) = match received {
        Ok(r) => r,
        Err(UploadStop::TooLarge) => {
            return Err(H5Failure::new(
                ResultCode::VideoEmptyOrTooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                locale,
            ))
        }
        Err(UploadStop::EmptyVideo) => {
            return Err(H5Failure::new(
                ResultCode::VideoEmptyOrTooLarge,
                StatusCode::BAD_REQUEST,
                locale,
            ))
        }
        Err(UploadStop::Storage(e)) => {
            // Not the person's network (1008) and not their liveness (1003): the server's storage.
            tracing::error!(error = %e, "storing an upload failed");
            return Err(H5Failure::new(
                ResultCode::InternalError,
                StatusCode::INSUFFICIENT_STORAGE,
                locale,
            ));
        }
        Err(UploadStop::Broken(why)) => {
            tracing::info!(reason = why, "upload broke off");
            return Err(H5Failure::new(
                ResultCode::NetworkUnstable,
                StatusCode::BAD_REQUEST,
                locale,
            ));
        }
    };
    if part_token
        .as_deref()
        .is_some_and(|t| t.trim() != token.biz_token)
    {
        return Err(H5Failure::new(
            ResultCode::TokenExpired,
            StatusCode::FORBIDDEN,
            locale,
        ));
    }

    // Another instance took the attempt over while this upload arrived: its answer is the one.
    if lease.lost() {
        return Err(H5Failure::busy(locale));
    }
    // Bounded concurrency: one verification per permit, on a blocking thread.
    let permit = app
        .verify_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| H5Failure::internal(e, locale))?;
    let me = app.clone();
    let path = scratch.0.clone();
    let challenge = attempt.challenge.clone();
    let page_code = report
        .as_ref()
        .and_then(|r| r.page_decode.as_ref())
        .map(|d| d.code.code());
    let started = std::time::Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        me.verifier.verify(&path, &challenge, report.as_ref())
    })
    .await
    .map_err(|e| H5Failure::internal(e, locale))?;
    tracing::info!(
        code = outcome.code.code(),
        frames = outcome.frames,
        score = outcome.score.unwrap_or(f32::NAN),
        delay_ms = outcome.delay_ms.unwrap_or(f32::NAN),
        timeline = outcome.timeline.map_or("-", |t| t.name()),
        log_problem = outcome.log_problem.as_deref().unwrap_or("-"),
        detail = outcome.detail.as_deref().unwrap_or("-"),
        verify_ms = started.elapsed().as_millis() as u64,
        page_code = page_code.map_or(-1, i64::from),
        rule = outcome.decode.as_ref().map_or("-", |d| d.rule.name()),
        sequence_p = outcome.decode.as_ref().map_or(f64::NAN, |d| d.sequence_p),
        step_f = outcome.decode.as_ref().map_or(f64::NAN, |d| d.step_f),
        relief_uneven_t = outcome
            .decode
            .as_ref()
            .map_or(f64::NAN, |d| d.relief.t_uneven),
        relief_dome_t = outcome
            .decode
            .as_ref()
            .map_or(f64::NAN, |d| d.relief.t_screen_dome),
        relief_alive_t = outcome
            .decode
            .as_ref()
            .map_or(f64::NAN, |d| d.relief.t_alive),
        relief_critical_t = outcome
            .decode
            .as_ref()
            .map_or(f64::NAN, |d| d.relief.t_critical),
        "verified"
    );
    if outcome.code == ResultCode::InternalError {
        // ffmpeg missing, the scratch file gone: not the person's fault, and not a verdict. The
        // attempt is given back so the page's retry is verified once the server is whole again.
        return Err(H5Failure::internal(
            outcome.detail.as_deref().unwrap_or("verification failed"),
            locale,
        ));
    }
    record(app, attempt, outcome, Some(scratch), locale).await
}

/// Stores media and the result, and builds the answer the uploader (and any repeat) receives.
async fn record(
    app: &Shared,
    attempt: &AttemptRecord,
    outcome: VerifyOutcome,
    video: Option<ScratchFile>,
    locale: Locale,
) -> Result<String, H5Failure> {
    let attempt_id = attempt.attempt_id.clone();
    let finished_at = app.now_ms();
    let passed = outcome.code.is_pass();
    let saved = app
        .blocking(
            move |s| -> Result<Result<String, FinishRefusal>, crate::ServerError> {
                // Still the owner, or nothing stored: the media keys are the attempt's, so an instance
                // whose lease was taken over must not write them over the other's. Storing may take
                // longer than a lease (S3 retries): the lease keeper renews it meanwhile.
                let until = s.now_ms().saturating_add(lease_ms(&s.config));
                let owner = &s.config.instance_id;
                if !s.store.renew_lease(&attempt_id, owner, until)? {
                    return Ok(Err(FinishRefusal::LeaseLost));
                }
                let video_key = match &video {
                    Some(file) => {
                        let key = format!("{attempt_id}.video");
                        s.media.put_file(&key, &file.0)?;
                        Some(key)
                    }
                    None => None,
                };
                let best_frame_key = match &outcome.best_frame {
                    Some(f) => {
                        let key = format!("{attempt_id}.jpg");
                        s.media.put_bytes(&key, &f.jpeg)?;
                        Some(key)
                    }
                    None => None,
                };
                let vanished =
                    |what: &str| StoreError::Corrupt(format!("{what} of {attempt_id} vanished"));
                let biz_token = s
                    .store
                    .attempt(&attempt_id)?
                    .ok_or_else(|| vanished("the attempt"))?
                    .biz_token;
                let token = s
                    .store
                    .token(&biz_token)?
                    .ok_or_else(|| vanished("the token"))?;
                let answer = answer_for(&token, outcome.code, passed, locale);
                let answer_json = serde_json::to_string(&answer)
                    .map_err(|e| StoreError::Corrupt(format!("answer of {attempt_id}: {e}")))?;
                let result = AttemptResult {
                    err_code: outcome.code,
                    score: outcome.score,
                    delay_ms: outcome.delay_ms,
                    answer_json,
                    video_key,
                    best_frame_key,
                    best_frame_score: outcome.best_frame.as_ref().map(|f| f.score),
                    finished_at_ms: finished_at,
                    verdict_json: outcome
                        .decode
                        .as_ref()
                        .and_then(|d| serde_json::to_string(d).ok()),
                };
                // retriesLeft was settled when the attempt was created; finishing does not change it.
                Ok(s.store
                    .finish_attempt(&attempt_id, &s.config.instance_id, &result)?
                    .map(|_| result.answer_json))
            },
        )
        .await
        .map_err(|e| H5Failure::internal(e, locale))?
        .map_err(|e| H5Failure::fault(e, locale))?;
    match saved {
        Ok(answer_json) => Ok(answer_json),
        // This instance took longer than its lease and another one claimed the attempt: that
        // one's answer is the attempt's. The page comes back for it after Retry-After.
        Err(FinishRefusal::LeaseLost) => {
            tracing::warn!("an attempt's lease ran out before its verification was stored");
            Err(H5Failure::busy(locale))
        }
        Err(FinishRefusal::UnknownAttempt) => Err(H5Failure::internal("attempt vanished", locale)),
    }
}

fn answer_for(token: &TokenRecord, code: ResultCode, passed: bool, locale: Locale) -> UploadAnswer {
    UploadAnswer {
        err_code: code,
        err_msg: code.message(locale).to_string(),
        passed,
        retries_left: if passed { 0 } else { token.retries_left() },
        redirect_url: token
            .redirect_url
            .as_deref()
            .and_then(|u| build_redirect_url(u, &token.biz_token, token.extra.as_deref()).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lease_outlasts_two_missed_renewals_and_ends_inside_an_attempt() {
        let mut config = ServerConfig::for_data_dir(std::path::Path::new("unused")).unwrap();
        // server/README.md §Database and leases: 3 renewals every 6 s.
        assert_eq!(attempt_lease(&config), Duration::from_secs(18));
        assert_eq!(
            attempt_lease(&config) / LEASE_RENEWALS,
            LEASE_RENEWAL_INTERVAL
        );
        // It does not grow with the verification's bounds: the owner renews it meanwhile.
        config.verify_timeout = Duration::from_secs(600);
        config.verify_queue = 1000;
        assert_eq!(attempt_lease(&config), Duration::from_secs(18));
        // After the owner died, the page's retry is taken over while its attempt is still valid.
        assert!(attempt_lease(&config) < Duration::from_millis(ATTEMPT_TTL_MS) / 2);
        // --lease-secs replaces it.
        config.lease = Some(Duration::from_secs(5));
        assert_eq!(attempt_lease(&config), Duration::from_secs(5));
    }
}
