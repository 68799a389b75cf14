//! Upload retries: the policy with the in-memory API, and the real XHR path against a URL that fails.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::protocol::{UploadAnswer, UploadReport};
use faceid_core::ResultCode;
use faceid_h5::api::{ApiError, H5Api, MemoryApi};
use faceid_h5::config::PageConfig;
use faceid_h5::upload::{upload_with_retries, RetryPolicy, UploadEvent};
use faceid_h5::web::network::BrowserNetwork;
use faceid_h5::web::recorder::Recording;
use faceid_h5::web::xhr::{send, Body, XhrApi};
use js_sys::{Array, Uint8Array};
use wasm_bindgen_test::*;
use web_sys::{Blob, BlobPropertyBag};

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens on the discard port: every request fails at the network level.
const DEAD_BASE: &str = "http://127.0.0.1:9";

fn report() -> UploadReport {
    UploadReport {
        shown: vec![],
        hold_start_ms: Some(12.0),
        recorder_mime: "video/webm".into(),
        frame_width: 640,
        frame_height: 480,
        page_decode: None,
        user_agent: "wasm-bindgen-test".into(),
    }
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_sends: 3,
        first_delay_ms: 20,
        max_delay_ms: 40,
        ..RetryPolicy::default()
    }
}

fn recording() -> Recording {
    let bytes = Uint8Array::from(&[0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3, 4][..]);
    let bag = BlobPropertyBag::new();
    bag.set_type("video/webm");
    let blob = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&bytes), &bag).unwrap();
    Recording {
        bytes: blob.size() as u64,
        blob,
        mime: "video/webm".into(),
        width: 640,
        height: 480,
    }
}

/// Uploads `video` as attempt "ATT-9" with the quick policy and the browser's clock and
/// connectivity; returns the result and every event the person would have been shown.
async fn upload<A: H5Api>(
    api: &A,
    video: &A::Video,
) -> (Result<UploadAnswer, ResultCode>, Vec<UploadEvent>) {
    let events: Rc<RefCell<Vec<UploadEvent>>> = Rc::default();
    let sink = events.clone();
    let result = upload_with_retries(
        api,
        &BrowserNetwork,
        quick(),
        "TOK",
        "ATT-9",
        video,
        &report(),
        Rc::new(move |e| sink.borrow_mut().push(e)),
    )
    .await;
    let events = events.take();
    (result, events)
}

#[wasm_bindgen_test]
async fn retries_after_a_network_failure_with_the_same_attempt_id() {
    let answer = common::passed();
    let api = MemoryApi::new(
        Err(ApiError::Status(500)),
        Err(ApiError::Status(500)),
        [
            Err(ApiError::Network("connection reset".into())),
            Ok(answer.clone()),
        ],
    );
    let (result, events) = upload(&api, &vec![7u8; 100]).await;
    assert_eq!(result, Ok(answer));
    let uploads = api.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads
        .iter()
        .all(|u| u.attempt_id == "ATT-9" && u.video_len == 100 && u.report == report()));
    assert!(events
        .iter()
        .any(|e| matches!(e, UploadEvent::Retrying { send: 1, .. })));
}

#[wasm_bindgen_test]
async fn the_real_xhr_path_reports_network_failures_and_gives_up_with_1008() {
    let err = send(
        "GET",
        &format!("{DEAD_BASE}/api/h5/v1/session?token=T"),
        Body::None,
        5_000,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.is_transient());

    let api = XhrApi::new(PageConfig {
        api_base: DEAD_BASE.into(),
        ..PageConfig::default()
    });
    let form = XhrApi::upload_form(&recording(), &report()).unwrap();
    assert!(form.has("video") && form.has("report"));

    let (result, events) = upload(&api, &recording()).await;
    assert_eq!(result, Err(ResultCode::NetworkUnstable));
    let retries: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            UploadEvent::Retrying { send, .. } => Some(*send),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        vec![1, 2],
        "three sends of the same upload, two waits between them"
    );
}
