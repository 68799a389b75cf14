//! The H5 API over XMLHttpRequest (XHR rather than fetch for upload progress events).

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::protocol::{
    AttemptCreated, AttemptRequest, SessionInfo, UploadAnswer, UploadReport,
};
use faceid_core::redirect::percent_encode;
use gloo::events::EventListener;
use js_sys::{Array, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, FormData, ProgressEvent, XmlHttpRequest, XmlHttpRequestResponseType,
};

use super::recorder::Recording;
use crate::api::{parse_answer, parse_answer_with_retry_after, ApiError, H5Api};
use crate::config::PageConfig;

/// A JSON call that has not answered in this long is treated as a network failure.
pub const JSON_TIMEOUT_MS: u32 = 15_000;
/// An upload that has not finished in this long is retried (8 MB at a slow 2 Mbit/s takes ~34 s).
pub const UPLOAD_TIMEOUT_MS: u32 = 45_000;
/// The landmark model (643 KB) at a slow 1 Mbit/s takes ~5 s; past this the page goes on with the
/// detector alone rather than keep the person waiting.
pub const MODEL_TIMEOUT_MS: u32 = 20_000;

/// The body of one request.
pub enum Body<'a> {
    None,
    Json(String),
    Form(&'a FormData),
}

/// An HTTP answer: status, body text and the `Retry-After` header if there was one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub text: String,
    pub retry_after: Option<String>,
}

/// Sends one request and resolves with its answer. Every way the request can end without an
/// HTTP answer (error, timeout, abort) is [`ApiError::Network`]. Dropping the future aborts the
/// request.
pub async fn send(
    method: &str,
    url: &str,
    body: Body<'_>,
    timeout_ms: u32,
    progress: Option<Rc<dyn Fn(f32)>>,
) -> Result<HttpAnswer, ApiError> {
    let network = |e: JsValue| ApiError::Network(super::describe(&e));
    let xhr = exchange(method, url, body, timeout_ms, progress, false).await?;
    let status = xhr.status().map_err(network)?;
    let text = xhr.response_text().map_err(network)?.unwrap_or_default();
    let retry_after = xhr.get_response_header("Retry-After").ok().flatten();
    Ok(HttpAnswer {
        status,
        text,
        retry_after,
    })
}

/// `GET url` as bytes: the body of a 2xx answer, anything else an error (a status without a
/// body we understand is [`ApiError::Status`]).
pub async fn get_bytes(url: &str, timeout_ms: u32) -> Result<Vec<u8>, ApiError> {
    let network = |e: JsValue| ApiError::Network(super::describe(&e));
    let xhr = exchange("GET", url, Body::None, timeout_ms, None, true).await?;
    let status = xhr.status().map_err(network)?;
    if !(200..300).contains(&status) {
        return Err(ApiError::Status(status));
    }
    let body = xhr.response().map_err(network)?;
    Ok(js_sys::Uint8Array::new(&body).to_vec())
}

/// Sends one request and waits until it has been answered; `binary` reads the answer as an
/// ArrayBuffer (`xhr.response()`) instead of text.
async fn exchange(
    method: &str,
    url: &str,
    body: Body<'_>,
    timeout_ms: u32,
    progress: Option<Rc<dyn Fn(f32)>>,
    binary: bool,
) -> Result<XmlHttpRequest, ApiError> {
    let network = |e: JsValue| ApiError::Network(super::describe(&e));
    let xhr = XmlHttpRequest::new().map_err(network)?;
    xhr.open_with_async(method, url, true).map_err(network)?;
    xhr.set_timeout(timeout_ms);
    if binary {
        xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
    }
    let listeners: Rc<RefCell<Vec<EventListener>>> = Rc::default();
    if let (Some(progress), Ok(upload)) = (progress, xhr.upload()) {
        listeners
            .borrow_mut()
            .push(EventListener::new(&upload, "progress", move |event| {
                if let Some(p) = event.dyn_ref::<ProgressEvent>() {
                    if p.length_computable() && p.total() > 0.0 {
                        progress((p.loaded() / p.total()) as f32);
                    }
                }
            }));
    }
    let settled = Promise::new(&mut |resolve, reject| {
        let mut l = listeners.borrow_mut();
        l.push(EventListener::once(&xhr, "load", move |_| {
            let _ = resolve.call0(&JsValue::NULL);
        }));
        for failure in ["error", "timeout", "abort"] {
            let reject = reject.clone();
            l.push(EventListener::once(&xhr, failure, move |_| {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(failure));
            }));
        }
    });
    let sent = match body {
        Body::None => xhr.send(),
        Body::Json(json) => {
            xhr.set_request_header("Content-Type", "application/json")
                .map_err(network)?;
            xhr.send_with_opt_str(Some(&json))
        }
        Body::Form(form) => xhr.send_with_opt_form_data(Some(form)),
    };
    sent.map_err(network)?;
    let guard = AbortOnDrop(Some(xhr.clone()));
    let outcome = JsFuture::from(settled).await;
    guard.disarm();
    drop(listeners);
    outcome.map_err(|e| ApiError::Network(e.as_string().unwrap_or_else(|| "failed".into())))?;
    Ok(xhr)
}

/// Aborts an in-flight request if the future awaiting it is dropped.
struct AbortOnDrop(Option<XmlHttpRequest>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(xhr) = self.0.take() {
            let _ = xhr.abort();
        }
    }
}

/// The H5 API of the server at `config.api_base` (same origin when empty).
#[derive(Clone, Debug, PartialEq)]
pub struct XhrApi {
    pub config: PageConfig,
}

impl XhrApi {
    pub fn new(config: PageConfig) -> XhrApi {
        XhrApi { config }
    }

    /// The multipart body: `video` (with its MIME type) and `report` (JSON).
    pub fn upload_form(video: &Recording, report: &UploadReport) -> Result<FormData, ApiError> {
        let bad = |e: JsValue| ApiError::BadAnswer(super::describe(&e));
        let json = serde_json::to_string(report).map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        let bag = BlobPropertyBag::new();
        bag.set_type("application/json");
        let report_blob =
            Blob::new_with_str_sequence_and_options(&Array::of1(&JsValue::from_str(&json)), &bag)
                .map_err(bad)?;
        let form = FormData::new().map_err(bad)?;
        let extension = if video.mime.starts_with("video/mp4") {
            "mp4"
        } else {
            "webm"
        };
        form.append_with_blob_and_filename("video", &video.blob, &format!("attempt.{extension}"))
            .map_err(bad)?;
        form.append_with_blob_and_filename("report", &report_blob, "report.json")
            .map_err(bad)?;
        Ok(form)
    }
}

impl H5Api for XhrApi {
    type Video = Recording;

    async fn session(&self, token: &str) -> Result<SessionInfo, ApiError> {
        let url = self
            .config
            .api_url(&format!("/session?token={}", percent_encode(token)));
        let answer = send("GET", &url, Body::None, JSON_TIMEOUT_MS, None).await?;
        parse_answer(answer.status, &answer.text)
    }

    async fn create_attempt(&self, token: &str) -> Result<AttemptCreated, ApiError> {
        let body = serde_json::to_string(&AttemptRequest {
            token: token.to_string(),
        })
        .map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        let answer = send(
            "POST",
            &self.config.api_url("/attempts"),
            Body::Json(body),
            JSON_TIMEOUT_MS,
            None,
        )
        .await?;
        parse_answer(answer.status, &answer.text)
    }

    async fn upload_video(
        &self,
        token: &str,
        attempt_id: &str,
        video: &Recording,
        report: &UploadReport,
        progress: Rc<dyn Fn(f32)>,
    ) -> Result<UploadAnswer, ApiError> {
        let form = XhrApi::upload_form(video, report)?;
        let url = self.config.api_url(&format!(
            "/attempts/{}/video?token={}",
            percent_encode(attempt_id),
            percent_encode(token)
        ));
        let answer = send(
            "POST",
            &url,
            Body::Form(&form),
            UPLOAD_TIMEOUT_MS,
            Some(progress),
        )
        .await?;
        parse_answer_with_retry_after(answer.status, &answer.text, answer.retry_after.as_deref())
    }

    async fn landmark_model(&self) -> Result<Vec<u8>, ApiError> {
        get_bytes(&self.config.landmark_model_url(), MODEL_TIMEOUT_MS).await
    }
}
