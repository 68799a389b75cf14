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
    assert_eq!(
        common::decoded_size(&recording.blob).await,
        (recording.width, recording.height)
    );
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

#[wasm_bindgen_test]
async fn a_larger_camera_is_recorded_at_most_640x480() {
    use faceid_h5::camera::{Camera, CameraRequest};
    use faceid_h5::web::camera::WebCamera;
    use wasm_bindgen::JsCast;

    let request = CameraRequest {
        device_id: None,
        facing_user: false,
        ideal_size: Some((1280, 720)),
        ideal_frame_rate: Some(30.0),
    };
    let camera = WebCamera
        .open(&request)
        .await
        .expect("fake camera at 1280x720");
    let settings = camera.video_track().unwrap().get_settings();
    assert_eq!(
        (settings.get_width(), settings.get_height()),
        (Some(1280), Some(720)),
        "precondition: a camera larger than 640x480"
    );
    let video: web_sys::HtmlVideoElement = common::fresh("video").dyn_into().unwrap();
    video.set_muted(true);
    video.set_src_object(Some(camera.media_stream()));
    let _ = wasm_bindgen_futures::JsFuture::from(video.play().unwrap()).await;
    assert!(common::wait_until(|| video.video_width() == 1280, 50, 100).await);

    let recorder = Recorder::start(camera.media_stream(), &video).expect("recorder starts");
    assert_eq!(
        recorder.size(),
        (640, 360),
        "downscaled through a canvas, aspect kept"
    );
    recorder.started().await.expect("start event");
    TimeoutFuture::new(1_000).await;
    let recording = recorder.finish().await.expect("a recording");
    assert!(recording.bytes > 0);
    assert_eq!((recording.width, recording.height), (640, 360));
    assert_eq!(
        common::decoded_size(&recording.blob).await,
        (640, 360),
        "the video itself is 640x360"
    );
}
