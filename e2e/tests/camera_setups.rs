//! The harness's camera set-ups behave as the scenarios assume (not the product): a refused
//! permission rejects getUserMedia with NotAllowedError through the browser's own permission path,
//! and the replay recording made from the simulator plays as a 640x480 camera.

use std::time::Duration;

use faceid_e2e::browser::{Browser, CameraSetup};
use faceid_e2e::business::BusinessSite;
use serde_json::Value;

const OPEN_CAMERA: &str = r#"
const done = arguments[arguments.length - 1];
navigator.mediaDevices.getUserMedia({ video: true }).then(async (s) => {
  const v = document.createElement("video");
  v.muted = true; v.srcObject = s; await v.play();
  await new Promise((r) => setTimeout(r, 300));
  done({ ok: true, width: v.videoWidth, height: v.videoHeight });
}, (e) => done({ ok: false, name: e.name }));
"#;

async fn open_camera(camera: CameraSetup) -> Value {
    let site = BusinessSite::start().await.unwrap();
    let browser = Browser::start(&camera).await.unwrap();
    browser.client().goto(&site.return_url()).await.unwrap();
    let v = tokio::time::timeout(
        Duration::from_secs(30),
        browser.client().execute_async(OPEN_CAMERA, vec![]),
    )
    .await
    .unwrap()
    .unwrap();
    browser.close().await;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_permission_rejects_with_not_allowed() {
    let _serial = faceid_e2e::serial().await;
    let v = open_camera(CameraSetup::Refused).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["name"], "NotAllowedError", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_recording_plays_as_the_camera() {
    let _serial = faceid_e2e::serial().await;
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("replay.y4m");
    let photo = faceid_e2e::read_file(&faceid_e2e::astronaut_png()).unwrap();
    let recording = faceid_e2e::replay::write_y4m(&photo, &y4m, 7).unwrap();
    // Hold plus 8 steps plus the simulator's lead-in and tail, at 30 fps.
    assert!(recording.frames > 30 * 5, "{} frames", recording.frames);
    let v = open_camera(CameraSetup::File(y4m)).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(640), Some(480)),
        "{v}"
    );
}
