//! The real camera (Chrome's fake device) and the camera error paths.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::engine::FACE_LANDMARK_MODEL;
use faceid_core::quality::QualityHint;
use faceid_core::{Locale, ResultCode};
use faceid_h5::camera::{open_with_fallback, CameraError, MemoryCamera};
use faceid_h5::state::{Action, FlowState, Problem, Screen};
use faceid_h5::web::camera::camera_error_from_js;
use faceid_h5::web::frame_loop::FrameLoop;
use faceid_h5::web::frame_sampler::{FrameSampler, LandmarkModel};
use wasm_bindgen_test::*;
use web_sys::{DomException, MediaStreamTrackState};

wasm_bindgen_test_configure!(run_in_browser);

/// Per analysed frame: the hint, the number of faces, the analysis size.
type FrameLog = Rc<RefCell<Vec<(Option<QualityHint>, usize, (u32, u32))>>>;

#[wasm_bindgen_test]
async fn frames_from_the_real_camera_reach_core_and_report_no_face() {
    let (camera, video) = common::open_camera().await;
    let hints: FrameLog = Rc::default();
    let costs: Rc<RefCell<Vec<f64>>> = Rc::default();
    // The page's analyser: BlazeFace, with FaceMesh once the page has loaded it (its face flag rules
    // out what the detector alone takes for a face in this pattern).
    let model = LandmarkModel::Ready(FACE_LANDMARK_MODEL.into());
    let analyser = model.analyser().expect("a loaded model gives an analyser");
    let sampler = Rc::new(RefCell::new(
        FrameSampler::with_analyser(analyser).expect("sampler"),
    ));
    let frames = {
        let (hints, sampler, video, costs) =
            (hints.clone(), sampler.clone(), video.clone(), costs.clone());
        FrameLoop::video_frames(&video.clone(), move |t_ms| {
            let mut s = sampler.borrow_mut();
            let before = faceid_h5::web::now_ms();
            let analysed = s.sample(&video, t_ms);
            costs.borrow_mut().push(faceid_h5::web::now_ms() - before);
            if let Ok(Some(a)) = analysed {
                let size = s.size();
                hints
                    .borrow_mut()
                    .push((a.quality.hint, a.face_count, size));
            }
        })
    };
    assert!(
        common::wait_until(|| hints.borrow().len() >= 5, 100, 200).await,
        "frames were analysed"
    );
    drop(frames);
    // A measurement, not an assertion: the page's whole per-frame path (draw at analysis size,
    // getImageData, copy, FrameAnalyser::analyse) on this machine.
    let costs = costs.borrow();
    let mean = costs.iter().sum::<f64>() / costs.len().max(1) as f64;
    let max = costs.iter().copied().fold(0.0, f64::max);
    wasm_bindgen_test::console_log!(
        "frame path: {} frames, mean {mean:.2} ms, max {max:.2} ms",
        costs.len()
    );
    let hints = hints.borrow();
    // Chrome's fake camera shows a test pattern, not a face.
    assert!(
        hints
            .iter()
            .all(|(hint, faces, _)| *hint == Some(QualityHint::NoFace) && *faces == 0),
        "{hints:?}"
    );
    assert!(hints
        .iter()
        .all(|(_, _, (w, h))| *w <= 320 && *h <= 240 && *w > 0 && *h > 0));

    // Dropping the handle stops the camera.
    let track = camera.video_track().expect("video track");
    assert_eq!(track.ready_state(), MediaStreamTrackState::Live);
    drop(camera);
    assert_eq!(track.ready_state(), MediaStreamTrackState::Ended);
}

#[wasm_bindgen_test]
fn real_dom_exceptions_map_to_codes() {
    let denied =
        DomException::new_with_message_and_name("Permission denied", "NotAllowedError").unwrap();
    let e = camera_error_from_js(&denied);
    assert_eq!(e, CameraError::PermissionDenied);
    assert_eq!(e.result_code(), ResultCode::NoCameraPermission);
    let busy =
        DomException::new_with_message_and_name("Could not start video source", "NotReadableError")
            .unwrap();
    assert_eq!(camera_error_from_js(&busy), CameraError::Busy);
    let over = DomException::new_with_message_and_name("", "OverconstrainedError").unwrap();
    assert_eq!(
        camera_error_from_js(&over).result_code(),
        ResultCode::CannotRecord
    );
    assert!(matches!(
        camera_error_from_js(&"odd".into()),
        CameraError::Other(_)
    ));
}

#[wasm_bindgen_test]
async fn a_denied_permission_shows_3004_in_both_locales() {
    for (locale, expected_title) in [
        (Locale::ZhCn, "无法使用摄像头"),
        (Locale::En, "Camera access is blocked"),
    ] {
        let camera = MemoryCamera::scripted([Err(CameraError::from_dom_name("NotAllowedError"))]);
        let error = open_with_fallback(&camera, None).await.unwrap_err();
        let state = std::rc::Rc::new(FlowState::new(Some("TOK".into()), Some(locale), None))
            .reduce(Action::SessionLoaded(common::session(locale, 3)))
            .reduce(Action::Start)
            .reduce(Action::CameraFailed(error));
        assert_eq!(
            state.screen,
            Screen::Problem(Problem::Camera(CameraError::PermissionDenied))
        );
        let (root, app) = common::render_screen(state).await;
        let dialog = root
            .query_selector("[role=alertdialog]")
            .unwrap()
            .expect("an alert dialog");
        let text = dialog.text_content().unwrap_or_default();
        assert!(text.contains("3004"), "{text}");
        assert_eq!(
            common::text_of(&root, "h1").as_deref(),
            Some(expected_title)
        );
        app.destroy();
    }
}
