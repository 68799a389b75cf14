//! The whole page, start to finish, in the browser: a synthetic camera showing a real face photo,
//! the real frame analysis, recorder and colour display, and the in-memory H5 API (which fails the
//! first upload once, so the retry under the same attemptId is part of the run).
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use faceid_core::challenge::{ColourChallenge, ColourStep};
use faceid_core::protocol::{
    AttemptCreated, LivenessMode, SessionInfo, UploadAnswer, MAX_UPLOAD_BYTES,
};
use faceid_core::{Locale, ResultCode, Rgb8};
use faceid_h5::api::{ApiError, MemoryApi};
use faceid_h5::camera::{Camera, CameraError, CameraRequest};
use faceid_h5::components::app::{App, AppProps, EmbedHooks};
use faceid_h5::config::PageConfig;
use faceid_h5::media::RECORDER_MIME_PREFERENCE;
use faceid_h5::web::camera::CameraStream;
use faceid_h5::web::events::next_event;
use faceid_h5::web::frame_loop::FrameLoop;
use faceid_h5::web::recorder::Recording;
use js_sys::{Array, Function, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Blob, CanvasRenderingContext2d, HtmlCanvasElement, HtmlElement, HtmlImageElement};

wasm_bindgen_test_configure!(run_in_browser);

const ASTRONAUT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/faces/astronaut.png"
));

/// A camera that films a photo: the astronaut's face, cropped so it sits in the oval guide.
/// `face_visible` switched off paints a blank grey frame instead (the person left the picture).
struct PhotoCamera {
    image: HtmlImageElement,
    painters: RefCell<Vec<FrameLoop>>,
    face_visible: Rc<Cell<bool>>,
}

impl PhotoCamera {
    async fn load() -> PhotoCamera {
        let bytes = Uint8Array::from(ASTRONAUT);
        let blob = Blob::new_with_u8_array_sequence(&Array::of1(&bytes)).unwrap();
        let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
        let image = HtmlImageElement::new().unwrap();
        let loaded = next_event(&image, "load");
        image.set_src(&url);
        loaded.await.expect("the photo loads");
        PhotoCamera {
            image,
            painters: RefCell::default(),
            face_visible: Rc::new(Cell::new(true)),
        }
    }
}

impl Camera for PhotoCamera {
    type Stream = CameraStream;

    async fn open(&self, _request: &CameraRequest) -> Result<CameraStream, CameraError> {
        let canvas: HtmlCanvasElement = common::document()
            .create_element("canvas")
            .unwrap()
            .dyn_into()
            .unwrap();
        canvas.set_width(640);
        canvas.set_height(480);
        let context: CanvasRenderingContext2d = canvas
            .get_context("2d")
            .unwrap()
            .unwrap()
            .dyn_into()
            .unwrap();
        let image = self.image.clone();
        let visible = self.face_visible.clone();
        let paint = move |_| {
            if visible.get() {
                context
                    .draw_image_with_html_image_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                        &image, 50.0, 0.0, 360.0, 270.0, 0.0, 0.0, 640.0, 480.0,
                    )
                    .unwrap();
            } else {
                context.set_fill_style_str("#808080");
                context.fill_rect(0.0, 0.0, 640.0, 480.0);
            }
        };
        paint(0.0);
        self.painters
            .borrow_mut()
            .push(FrameLoop::animation_frames(paint));
        let stream = canvas
            .capture_stream_with_frame_request_rate(30.0)
            .map_err(|_| CameraError::Unsupported)?;
        Ok(CameraStream::new(stream))
    }
}

fn challenge() -> ColourChallenge {
    ColourChallenge {
        hold_colour: Rgb8::new(255, 255, 255),
        hold_ms: 1000,
        steps: vec![
            ColourStep {
                colour: Rgb8::new(0, 0, 255),
                duration_ms: 350,
            },
            ColourStep {
                colour: Rgb8::new(0, 255, 0),
                duration_ms: 350,
            },
            ColourStep {
                colour: Rgb8::new(255, 255, 0),
                duration_ms: 350,
            },
        ],
    }
}

fn section_class(root: &web_sys::Element) -> String {
    root.query_selector("section.fid-screen")
        .ok()
        .flatten()
        .map(|s| s.class_name())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn a_person_goes_from_intro_to_a_passed_result() {
    let session = SessionInfo {
        mode: LivenessMode::Light,
        locale: Locale::En,
        retries_left: 3,
        expires_at: 0,
        max_video_bytes: MAX_UPLOAD_BYTES,
        // No redirect: the test page must stay where it is.
        redirect_url: None,
        extra: None,
    };
    let attempt = AttemptCreated {
        attempt_id: "ATT-1".into(),
        challenge: challenge(),
        expires_at: 0,
    };
    let passed = UploadAnswer {
        err_code: ResultCode::Passed,
        err_msg: "ok".into(),
        passed: true,
        retries_left: 2,
        redirect_url: None,
    };
    let api: Rc<MemoryApi<Recording>> = Rc::new(MemoryApi::new(
        Ok(session),
        Ok(attempt),
        [
            Err(ApiError::Network("connection reset".into())),
            Ok(passed),
        ],
    ));
    let camera = Rc::new(PhotoCamera::load().await);

    let results: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let on_result = {
        let results = results.clone();
        Closure::<dyn Fn(JsValue)>::new(move |m: JsValue| results.borrow_mut().push(m))
    };
    let hooks = EmbedHooks {
        on_result: Some(on_result.as_ref().unchecked_ref::<Function>().clone()),
        on_error: None,
        parent_origin: None,
    };
    let config = PageConfig {
        api_base: String::new(),
        token: Some("TOK".into()),
        locale: None,
    };
    let root = common::fresh("div");
    let app = yew::Renderer::<App<MemoryApi<Recording>, PhotoCamera>>::with_root_and_props(
        root.clone(),
        AppProps {
            config,
            hooks,
            api: api.clone(),
            camera,
        },
    )
    .render();

    assert!(
        common::wait_until(|| section_class(&root).contains("fid-intro"), 50, 100).await,
        "intro"
    );
    let start: HtmlElement = root
        .query_selector(".fid-intro .fid-primary")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    start.click();

    let mut phases: Vec<String> = Vec::new();
    let finished = common::wait_until(
        || {
            let class = section_class(&root);
            let phase = if class.contains("fid-flashing") {
                "flashing"
            } else if class.contains("fid-capture") {
                "capture"
            } else if class.contains("fid-upload") {
                "upload"
            } else {
                "other"
            };
            if phases.last().map(String::as_str) != Some(phase) {
                phases.push(phase.to_string());
            }
            class.contains("fid-outcome")
        },
        50,
        600,
    )
    .await;
    assert!(
        finished,
        "the flow ends; screens seen: {phases:?}, now {}",
        section_class(&root)
    );
    assert!(
        section_class(&root).contains("fid-passed"),
        "{}",
        section_class(&root)
    );
    assert!(
        phases.iter().any(|p| p == "flashing") && phases.iter().any(|p| p == "upload"),
        "{phases:?}"
    );

    // The server side of the run: one attempt, uploaded twice (one network failure), same id.
    assert_eq!(api.attempts_created(), 1);
    let uploads = api.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(uploads
        .iter()
        .all(|u| u.attempt_id == "ATT-1" && u.token == "TOK" && u.video_len > 0));
    let report = &uploads[0].report;
    assert_eq!(
        uploads[1].report, *report,
        "the retry sends the same report"
    );
    let colours: Vec<Rgb8> = report.shown.iter().map(|d| d.colour).collect();
    assert_eq!(
        colours,
        challenge()
            .schedule(0.0)
            .iter()
            .map(|d| d.colour)
            .collect::<Vec<_>>()
    );
    assert_eq!(report.hold_start_ms, Some(report.shown[0].start_ms));
    assert!(report
        .shown
        .windows(2)
        .all(|w| w[1].start_ms > w[0].start_ms));
    assert!(RECORDER_MIME_PREFERENCE.contains(&report.recorder_mime.as_str()));
    assert_eq!((report.frame_width, report.frame_height), (640, 480));
    assert!(report.page_decode.is_some());

    // The embedder heard about it.
    let results = results.borrow();
    assert_eq!(results.len(), 1);
    let message = js_sys::JSON::stringify(&results[0])
        .unwrap()
        .as_string()
        .unwrap();
    assert!(
        message.contains("\"kind\":\"result\"")
            && message.contains("\"passed\":true")
            && message.contains("\"bizToken\":\"TOK\""),
        "{message}"
    );

    app.destroy();
}

fn phase_of(root: &web_sys::Element) -> &'static str {
    let class = section_class(root);
    if class.contains("fid-flashing") {
        "flashing"
    } else if class.contains("fid-capture") {
        "capture"
    } else if class.contains("fid-upload") {
        "upload"
    } else if class.contains("fid-outcome") {
        "outcome"
    } else {
        "other"
    }
}

#[wasm_bindgen_test]
async fn losing_the_face_during_the_challenge_restarts_the_attempt() {
    let session = SessionInfo {
        mode: LivenessMode::Light,
        locale: Locale::En,
        retries_left: 3,
        expires_at: 0,
        max_video_bytes: MAX_UPLOAD_BYTES,
        redirect_url: None,
        extra: None,
    };
    // The longest safe sequence (1 s hold + 8 x 350 ms), so the face is surely lost before it ends
    // even on a slow machine.
    let long = ColourChallenge {
        steps: [(0, 0, 255), (0, 255, 0), (0, 255, 255), (255, 255, 0)]
            .iter()
            .cycle()
            .take(8)
            .map(|&(r, g, b)| ColourStep {
                colour: Rgb8::new(r, g, b),
                duration_ms: 350,
            })
            .collect(),
        ..challenge()
    };
    long.validate().expect("a safe challenge");
    let attempt = AttemptCreated {
        attempt_id: "ATT-2".into(),
        challenge: long,
        expires_at: 0,
    };
    let passed = UploadAnswer {
        err_code: ResultCode::Passed,
        err_msg: "ok".into(),
        passed: true,
        retries_left: 2,
        redirect_url: None,
    };
    let api: Rc<MemoryApi<Recording>> =
        Rc::new(MemoryApi::new(Ok(session), Ok(attempt), [Ok(passed)]));
    let camera = Rc::new(PhotoCamera::load().await);
    let face_visible = camera.face_visible.clone();
    let config = PageConfig {
        api_base: String::new(),
        token: Some("TOK".into()),
        locale: None,
    };
    let root = common::fresh("div");
    let app = yew::Renderer::<App<MemoryApi<Recording>, PhotoCamera>>::with_root_and_props(
        root.clone(),
        AppProps {
            config,
            hooks: EmbedHooks::default(),
            api: api.clone(),
            camera,
        },
    )
    .render();
    assert!(common::wait_until(|| section_class(&root).contains("fid-intro"), 50, 100).await);
    let start: HtmlElement = root
        .query_selector(".fid-intro .fid-primary")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    start.click();

    assert!(
        common::wait_until(|| phase_of(&root) == "flashing", 50, 300).await,
        "the first attempt starts"
    );
    assert_eq!(api.attempts_created(), 1);
    face_visible.set(false);
    assert!(
        common::wait_until(|| phase_of(&root) == "capture", 50, 200).await,
        "back to guidance"
    );
    let text = root.text_content().unwrap_or_default();
    assert!(text.contains("We lost sight of your face"), "{text}");
    assert!(
        api.uploads().is_empty(),
        "the broken attempt is not uploaded"
    );

    face_visible.set(true);
    assert!(
        common::wait_until(|| phase_of(&root) == "outcome", 50, 600).await,
        "ends, now {}",
        section_class(&root)
    );
    assert!(section_class(&root).contains("fid-passed"));
    assert_eq!(api.attempts_created(), 2, "a new attempt after the restart");
    assert_eq!(api.uploads().len(), 1);
    app.destroy();
}
