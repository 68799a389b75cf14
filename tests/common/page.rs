//! The whole page in the browser: a synthetic camera filming a real face photo, the in-memory H5
//! API, and the running App from its intro screen on.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{AttemptCreated, UploadAnswer};
use faceid_core::Locale;
use faceid_h5::api::{ApiError, MemoryApi};
use faceid_h5::camera::{Camera, CameraError, CameraRequest};
use faceid_h5::components::app::{App, AppProps, EmbedHooks};
use faceid_h5::config::PageConfig;
use faceid_h5::web::camera::CameraStream;
use faceid_h5::web::events::next_event;
use faceid_h5::web::frame_loop::FrameLoop;
use faceid_h5::web::recorder::Recording;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use web_sys::{
    Blob, CanvasRenderingContext2d, Element, HtmlCanvasElement, HtmlElement, HtmlImageElement,
    HtmlVideoElement, MediaStream, MediaStreamTrack,
};
use yew::AppHandle;

const ASTRONAUT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/faces/astronaut.png"
));

/// A camera that films a photo: the astronaut's face, cropped so it sits in the oval guide.
/// `face_visible` switched off paints a blank grey frame instead (the person left the picture).
pub struct PhotoCamera {
    image: HtmlImageElement,
    painters: RefCell<Vec<FrameLoop>>,
    pub face_visible: Rc<Cell<bool>>,
    /// Every stream handed to the page, oldest first.
    opened: RefCell<Vec<MediaStream>>,
}

impl PhotoCamera {
    pub async fn load() -> PhotoCamera {
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
            opened: RefCell::default(),
        }
    }

    /// How many times the page opened this camera.
    pub fn times_opened(&self) -> usize {
        self.opened.borrow().len()
    }

    /// The video track of the stream the page opened last.
    pub fn last_track(&self) -> MediaStreamTrack {
        self.opened
            .borrow()
            .last()
            .expect("the page opened the camera")
            .get_video_tracks()
            .get(0)
            .dyn_into()
            .unwrap()
    }
}

impl Camera for PhotoCamera {
    type Stream = CameraStream;

    async fn open(&self, _request: &CameraRequest) -> Result<CameraStream, CameraError> {
        let canvas: HtmlCanvasElement = super::document()
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
        // `Clone::clone`, not `stream.clone()`: the latter is JS MediaStream.clone(), new tracks.
        self.opened.borrow_mut().push(Clone::clone(&stream));
        Ok(CameraStream::new(stream))
    }
}

/// An English session with 3 tries that deals `challenge` as attempt `attempt_id` (the same one
/// on every request) and answers uploads with `answers` in order.
pub fn memory_api(
    attempt_id: &str,
    challenge: ColourChallenge,
    answers: impl IntoIterator<Item = Result<UploadAnswer, ApiError>>,
) -> MemoryApi<Recording> {
    let attempt = AttemptCreated {
        attempt_id: attempt_id.into(),
        challenge,
        expires_at: 0,
    };
    MemoryApi::new(Ok(super::session(Locale::En, 3)), Ok(attempt), answers)
}

/// The longest safe sequence (1 s hold + 8 x 350 ms), so an interruption surely lands before it
/// ends even on a slow machine.
pub fn long_challenge() -> ColourChallenge {
    use super::{BLUE, CYAN, GREEN, YELLOW};
    let long = super::challenge(&[BLUE, GREEN, CYAN, YELLOW, BLUE, GREEN, CYAN, YELLOW]);
    long.validate().expect("a safe challenge");
    long
}

/// The App running against the in-memory API and the photo camera.
pub struct RunningPage {
    pub root: Element,
    pub api: Rc<MemoryApi<Recording>>,
    pub camera: Rc<PhotoCamera>,
    pub app: AppHandle<App<MemoryApi<Recording>, PhotoCamera>>,
}

/// The video track the page's preview plays.
pub fn preview_track(root: &Element) -> MediaStreamTrack {
    let video: HtmlVideoElement = root
        .query_selector("video")
        .unwrap()
        .expect("a preview")
        .dyn_into()
        .unwrap();
    video
        .src_object()
        .expect("the preview plays a stream")
        .get_video_tracks()
        .get(0)
        .dyn_into()
        .unwrap()
}

/// Mounts the page for token "TOK", waits for the intro and presses its start button.
pub async fn start_page(api: MemoryApi<Recording>, hooks: EmbedHooks) -> RunningPage {
    let api = Rc::new(api);
    let camera = Rc::new(PhotoCamera::load().await);
    let config = PageConfig {
        api_base: String::new(),
        token: Some("TOK".into()),
        locale: None,
    };
    let root = super::fresh("div");
    let app = yew::Renderer::<App<MemoryApi<Recording>, PhotoCamera>>::with_root_and_props(
        root.clone(),
        AppProps {
            config,
            hooks,
            api: api.clone(),
            camera: camera.clone(),
        },
    )
    .render();
    assert!(
        super::wait_until(|| section_class(&root).contains("fid-intro"), 50, 100).await,
        "intro"
    );
    press(&root, ".fid-intro .fid-primary");
    RunningPage {
        root,
        api,
        camera,
        app,
    }
}

/// Clicks the element `selector` names under `root`.
pub fn press(root: &Element, selector: &str) {
    let button: HtmlElement = root
        .query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
        .dyn_into()
        .unwrap();
    button.click();
}

pub fn section_class(root: &Element) -> String {
    root.query_selector("section.fid-screen")
        .ok()
        .flatten()
        .map(|s| s.class_name())
        .unwrap_or_default()
}

/// The screen the page shows, by its section class.
pub fn phase_of(root: &Element) -> &'static str {
    let class = section_class(root);
    if class.contains("fid-flashing") {
        "flashing"
    } else if class.contains("fid-capture") {
        "capture"
    } else if class.contains("fid-upload") {
        "upload"
    } else if class.contains("fid-outcome") {
        "outcome"
    } else if class.contains("fid-problem") {
        "problem"
    } else {
        "other"
    }
}
