//! Helpers shared by the browser suites.
#![allow(dead_code)]

pub mod page;

use std::rc::Rc;

use faceid_core::challenge::{ColourChallenge, ColourStep};
use faceid_core::protocol::{LivenessMode, SessionInfo, UploadAnswer, MAX_UPLOAD_BYTES};
use faceid_core::{Locale, ResultCode, Rgb8};
use faceid_h5::camera::open_with_fallback;
use faceid_h5::components::screen_view::{ScreenView, ScreenViewProps};
use faceid_h5::state::FlowState;
use faceid_h5::web::camera::{CameraStream, WebCamera};
use gloo::timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlVideoElement};
use yew::AppHandle;

pub const WHITE: Rgb8 = Rgb8::new(255, 255, 255);
pub const BLUE: Rgb8 = Rgb8::new(0, 0, 255);
pub const GREEN: Rgb8 = Rgb8::new(0, 255, 0);
pub const CYAN: Rgb8 = Rgb8::new(0, 255, 255);
pub const YELLOW: Rgb8 = Rgb8::new(255, 255, 0);

/// A challenge of the shape the server deals: 1 s of white, then 350 ms per colour.
pub fn challenge(colours: &[Rgb8]) -> ColourChallenge {
    ColourChallenge {
        hold_colour: WHITE,
        hold_ms: 1000,
        steps: colours
            .iter()
            .map(|&colour| ColourStep {
                colour,
                duration_ms: 350,
            })
            .collect(),
    }
}

/// A light-mode session without a redirect (a test page must stay where it is).
pub fn session(locale: Locale, retries_left: u32) -> SessionInfo {
    SessionInfo {
        mode: LivenessMode::Light,
        locale,
        retries_left,
        expires_at: 0,
        max_video_bytes: MAX_UPLOAD_BYTES,
        redirect_url: None,
        extra: None,
    }
}

/// The server's answer to an accepted recording.
pub fn passed() -> UploadAnswer {
    UploadAnswer {
        err_code: ResultCode::Passed,
        err_msg: "ok".into(),
        passed: true,
        retries_left: 2,
        redirect_url: None,
    }
}

/// Renders one screen of `state` into a fresh element, with no camera and callbacks that do nothing.
pub async fn render_screen(state: Rc<FlowState>) -> (Element, AppHandle<ScreenView>) {
    let root = fresh("div");
    let props = ScreenViewProps {
        state,
        dispatch: yew::Callback::noop(),
        stream: None,
        on_recorded: yew::Callback::noop(),
        on_continue: yew::Callback::noop(),
        landmark_model: Default::default(),
    };
    let app = yew::Renderer::<ScreenView>::with_root_and_props(root.clone(), props).render();
    yew::scheduler::flush().await;
    (root, app)
}

pub fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh element appended to <body>.
pub fn fresh(tag: &str) -> Element {
    let el = document().create_element(tag).unwrap();
    document().body().unwrap().append_child(&el).unwrap();
    el
}

/// Polls `done` every `step_ms` up to `tries` times (a bounded wait, not a timing assertion).
pub async fn wait_until(mut done: impl FnMut() -> bool, step_ms: u32, tries: u32) -> bool {
    for _ in 0..tries {
        if done() {
            return true;
        }
        TimeoutFuture::new(step_ms).await;
    }
    done()
}

/// Opens Chrome's fake camera and plays it in a muted inline video element.
pub async fn open_camera() -> (CameraStream, HtmlVideoElement) {
    let camera = open_with_fallback(&WebCamera, None)
        .await
        .expect("fake camera opens");
    let video: HtmlVideoElement = fresh("video").dyn_into().unwrap();
    video.set_muted(true);
    video.set_attribute("playsinline", "").unwrap();
    video.set_src_object(Some(camera.media_stream()));
    let _ = wasm_bindgen_futures::JsFuture::from(video.play().unwrap()).await;
    assert!(
        wait_until(
            || video.video_width() > 0 && video.ready_state() >= 2,
            50,
            100
        )
        .await,
        "video plays"
    );
    (camera, video)
}

pub fn text_of(root: &Element, selector: &str) -> Option<String> {
    root.query_selector(selector)
        .ok()
        .flatten()
        .and_then(|e| e.text_content())
}

/// Loads a recorded blob into a video element and returns its decoded frame size.
pub async fn decoded_size(blob: &web_sys::Blob) -> (u32, u32) {
    let url = web_sys::Url::create_object_url_with_blob(blob).unwrap();
    let video: HtmlVideoElement = fresh("video").dyn_into().unwrap();
    video.set_muted(true);
    video.set_src(&url);
    assert!(
        wait_until(|| video.video_width() > 0, 50, 100).await,
        "the recording decodes"
    );
    let size = (video.video_width(), video.video_height());
    video.remove();
    web_sys::Url::revoke_object_url(&url).unwrap();
    size
}
