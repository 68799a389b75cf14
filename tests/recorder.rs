//! The real MediaRecorder on Chrome's fake camera.
#![cfg(target_arch = "wasm32")]

mod common;

use faceid_core::protocol::MAX_UPLOAD_BYTES;
use faceid_h5::media::{MAX_RECORDING_HEIGHT, MAX_RECORDING_WIDTH, RECORDER_MIME_PREFERENCE};
use faceid_h5::web::recorder::{supported_mime, Recorder};
use gloo::timers::future::TimeoutFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn records_a_non_empty_video_of_a_supported_type_under_the_cap() {
    let (camera, video) = common::open_camera().await;
    let mime = supported_mime().expect("Chrome records video");
    assert!(RECORDER_MIME_PREFERENCE.contains(&mime));

    let recorder = Recorder::start(camera.media_stream(), &video).expect("recorder starts");
    let start = recorder.started().await.expect("start event");
    assert!(start > 0.0);
    TimeoutFuture::new(1_500).await;
    let recording = recorder.finish().await.expect("a recording");

    assert!(recording.bytes > 0);
    assert!(
        recording.bytes <= MAX_UPLOAD_BYTES,
        "{} bytes",
        recording.bytes
    );
    assert_eq!(recording.blob.size() as u64, recording.bytes);
    assert_eq!(recording.mime, mime);
    let container = mime.split(';').next().unwrap();
    assert!(
        recording.blob.type_().starts_with(container),
        "{} vs {mime}",
        recording.blob.type_()
    );
    assert!(recording.width <= MAX_RECORDING_WIDTH && recording.height <= MAX_RECORDING_HEIGHT);
    assert!(recording.width > 0 && recording.height > 0);
}

#[wasm_bindgen_test]
async fn dropping_a_recorder_stops_it() {
    let (camera, video) = common::open_camera().await;
    let recorder = Recorder::start(camera.media_stream(), &video).expect("recorder starts");
    recorder.started().await.expect("start event");
    drop(recorder);
    // The camera itself keeps running: only the recorder stopped.
    let track = camera.video_track().unwrap();
    assert_eq!(track.ready_state(), web_sys::MediaStreamTrackState::Live);
}
