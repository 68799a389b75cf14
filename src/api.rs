//! The H5 API client (PROTOCOL.md §2) as a trait: the browser implementation is `web::xhr::XhrApi`,
//! tests use [`MemoryApi`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use faceid_core::protocol::{AttemptCreated, H5Error, SessionInfo, UploadAnswer, UploadReport};
use faceid_core::ResultCode;

/// Why an H5 API call did not produce an answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The request never got an HTTP answer (offline, DNS, connection reset, CORS, timeout).
    #[error("network failure: {0}")]
    Network(String),
    /// The server answered with an error body `{errCode, errMsg}`.
    #[error("server error {status}: {} {}", .error.err_code.code(), .error.err_msg)]
    Server { status: u16, error: H5Error },
    /// The server answered with an unexpected status and no error body we understand.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The answer could not be parsed.
    #[error("unreadable answer: {0}")]
    BadAnswer(String),
    /// The server is busy (503 with `Retry-After`): the same request may be sent again after
    /// `retry_after_ms` (the upload waits and resends; the person sees "busy, retrying").
    #[error("server busy; retry after {retry_after_ms} ms")]
    Busy { retry_after_ms: u32 },
}

impl ApiError {
    /// Whether the same request may succeed if sent again (the upload is idempotent per attempt).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network(_) => true,
            // Gateways and overloaded servers: 408 timeout, 429 throttled by a proxy, 5xx.
            ApiError::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            ApiError::Busy { .. } => true,
            ApiError::Server { .. } | ApiError::BadAnswer(_) => false,
        }
    }

    /// The result code the person sees for this failure.
    pub fn result_code(&self) -> ResultCode {
        match self {
            ApiError::Server { error, .. } => error.err_code,
            ApiError::Network(_) | ApiError::Status(_) => ResultCode::NetworkUnstable,
            ApiError::BadAnswer(_) => ResultCode::LivenessFailed,
            // Still busy when the page stopped waiting: the engine could not be reached.
            ApiError::Busy { .. } => ResultCode::EngineTimeout,
        }
    }
}

/// Turns an HTTP status and body into an answer or an [`ApiError`].
pub fn parse_answer<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
) -> Result<T, ApiError> {
    if (200..300).contains(&status) {
        return serde_json::from_str(body).map_err(|e| ApiError::BadAnswer(e.to_string()));
    }
    match serde_json::from_str::<H5Error>(body) {
        Ok(error) => Err(ApiError::Server { status, error }),
        Err(_) => Err(ApiError::Status(status)),
    }
}

/// Like [`parse_answer`], with the answer's `Retry-After` header: a 503 that carries one in
/// seconds is [`ApiError::Busy`].
pub fn parse_answer_with_retry_after<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
    retry_after: Option<&str>,
) -> Result<T, ApiError> {
    let seconds = retry_after.and_then(|v| v.trim().parse::<u32>().ok());
    match seconds {
        Some(s) if status == 503 => Err(ApiError::Busy {
            retry_after_ms: s.saturating_mul(1000),
        }),
        _ => parse_answer(status, body),
    }
}

/// The calls the page makes.
#[allow(async_fn_in_trait)] // used single-threaded in the browser; no Send bound wanted
pub trait H5Api {
    /// The recording as this client sends it.
    type Video;

    async fn session(&self, token: &str) -> Result<SessionInfo, ApiError>;

    async fn create_attempt(&self, token: &str) -> Result<AttemptCreated, ApiError>;

    /// Uploads one attempt's recording and report; `progress` receives the sent fraction 0..=1.
    async fn upload_video(
        &self,
        token: &str,
        attempt_id: &str,
        video: &Self::Video,
        report: &UploadReport,
        progress: Rc<dyn Fn(f32)>,
    ) -> Result<UploadAnswer, ApiError>;

    /// The landmark model file the server hosts (`LANDMARK_MODEL_PATH`). Without it the page
    /// finds faces with the detector alone.
    async fn landmark_model(&self) -> Result<Vec<u8>, ApiError>;
}

/// A recording as a client sends it; the in-memory API only needs its size.
pub trait VideoPayload {
    fn byte_len(&self) -> u64;
}

impl VideoPayload for Vec<u8> {
    fn byte_len(&self) -> u64 {
        self.len() as u64
    }
}

/// One upload as the in-memory server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedUpload {
    pub token: String,
    pub attempt_id: String,
    pub video_len: u64,
    pub report: UploadReport,
}

/// An in-memory H5 API: fixed session and attempt answers, a script of upload answers, and a log
/// of every upload it received. `V` is the recording type it accepts (bytes in native tests, the
/// browser's recording in browser tests).
#[derive(Debug)]
pub struct MemoryApi<V = Vec<u8>> {
    pub session: Result<SessionInfo, ApiError>,
    pub attempt: Result<AttemptCreated, ApiError>,
    /// The landmark model it serves (none by default: the page then uses the detector alone).
    pub landmark_model: Result<Vec<u8>, ApiError>,
    upload_answers: RefCell<VecDeque<Result<UploadAnswer, ApiError>>>,
    uploads: RefCell<Vec<RecordedUpload>>,
    attempts_created: std::cell::Cell<u32>,
    video: std::marker::PhantomData<V>,
}

impl<V> MemoryApi<V> {
    pub fn new(
        session: Result<SessionInfo, ApiError>,
        attempt: Result<AttemptCreated, ApiError>,
        upload_answers: impl IntoIterator<Item = Result<UploadAnswer, ApiError>>,
    ) -> Self {
        MemoryApi {
            session,
            attempt,
            landmark_model: Err(ApiError::Status(404)),
            upload_answers: RefCell::new(upload_answers.into_iter().collect()),
            uploads: RefCell::default(),
            attempts_created: std::cell::Cell::new(0),
            video: std::marker::PhantomData,
        }
    }

    /// How many attempts were requested.
    pub fn attempts_created(&self) -> u32 {
        self.attempts_created.get()
    }

    /// Every upload received so far, in order.
    pub fn uploads(&self) -> Vec<RecordedUpload> {
        self.uploads.borrow().clone()
    }
}

impl<V: VideoPayload> H5Api for MemoryApi<V> {
    type Video = V;

    async fn session(&self, _token: &str) -> Result<SessionInfo, ApiError> {
        self.session.clone()
    }

    async fn create_attempt(&self, _token: &str) -> Result<AttemptCreated, ApiError> {
        self.attempts_created.set(self.attempts_created.get() + 1);
        self.attempt.clone()
    }

    async fn upload_video(
        &self,
        token: &str,
        attempt_id: &str,
        video: &V,
        report: &UploadReport,
        progress: Rc<dyn Fn(f32)>,
    ) -> Result<UploadAnswer, ApiError> {
        self.uploads.borrow_mut().push(RecordedUpload {
            token: token.to_string(),
            attempt_id: attempt_id.to_string(),
            video_len: video.byte_len(),
            report: report.clone(),
        });
        let answer = self
            .upload_answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| Err(ApiError::Network("no scripted answer".into())));
        if answer.is_ok() {
            progress(1.0);
        }
        answer
    }

    async fn landmark_model(&self) -> Result<Vec<u8>, ApiError> {
        self.landmark_model.clone()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_are_parsed() {
        let e = parse_answer::<UploadAnswer>(413, r#"{"errCode":1107,"errMsg":"too large"}"#)
            .unwrap_err();
        assert_eq!(e.result_code(), ResultCode::VideoEmptyOrTooLarge);
        assert!(!e.is_transient());
        let e = parse_answer::<UploadAnswer>(502, "<html>bad gateway</html>").unwrap_err();
        assert_eq!(e, ApiError::Status(502));
        assert!(e.is_transient());
        assert_eq!(e.result_code(), ResultCode::NetworkUnstable);
        let ok: UploadAnswer = parse_answer(
            200,
            r#"{"errCode":0,"errMsg":"ok","passed":true,"retriesLeft":2,"redirectUrl":null}"#,
        )
        .unwrap();
        assert!(ok.passed);
        assert!(matches!(
            parse_answer::<UploadAnswer>(200, "{"),
            Err(ApiError::BadAnswer(_))
        ));
    }

    #[test]
    fn a_503_with_retry_after_is_busy() {
        let body = r#"{"errCode":1001,"errMsg":"busy"}"#;
        let e = parse_answer_with_retry_after::<UploadAnswer>(503, body, Some("2")).unwrap_err();
        assert_eq!(
            e,
            ApiError::Busy {
                retry_after_ms: 2_000
            }
        );
        assert!(e.is_transient());
        assert_eq!(e.result_code(), ResultCode::EngineTimeout);
        // Without the header (or with a date) a 503 is what it was before.
        let e = parse_answer_with_retry_after::<UploadAnswer>(503, body, None).unwrap_err();
        assert!(matches!(e, ApiError::Server { status: 503, .. }));
        let date = Some("Wed, 21 Oct 2015 07:28:00 GMT");
        let e = parse_answer_with_retry_after::<UploadAnswer>(503, body, date).unwrap_err();
        assert!(matches!(e, ApiError::Server { status: 503, .. }));
    }
}
