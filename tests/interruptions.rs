//! The whole page meeting the interruptions a phone throws at it: the page hidden during the
//! challenge, the camera track ending, the network dropping before the upload.
//!
//! What is simulated, and how: headless Chrome cannot really hide its page, unplug its camera or go
//! offline, so the tests shadow `document.hidden`/`visibilityState` and `navigator.onLine` with own
//! properties (Object.defineProperty) and dispatch the real DOM events the browser would fire
//! (`visibilitychange`, `ended`, `offline`/`online`). Everything else is the real page.
#![cfg(target_arch = "wasm32")]

mod common;

use common::page::{
    long_challenge, memory_api, phase_of, press, preview_track, section_class, start_page,
    RunningPage,
};
use common::{BLUE, GREEN, YELLOW};
use faceid_core::ResultCode;
use faceid_h5::components::app::EmbedHooks;
use gloo::timers::future::TimeoutFuture;
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Event, EventTarget, MediaStreamTrack, MediaStreamTrackState};

wasm_bindgen_test_configure!(run_in_browser);

/// Own properties shadowing the browser's getters on `target` until dropped.
struct Shadowed {
    target: Object,
    names: Vec<&'static str>,
}

impl Shadowed {
    fn new(target: &JsValue, values: &[(&'static str, JsValue)]) -> Shadowed {
        let target: Object = target.clone().unchecked_into();
        for (name, value) in values {
            let descriptor = Object::new();
            Reflect::set(&descriptor, &"value".into(), value).unwrap();
            Reflect::set(&descriptor, &"configurable".into(), &true.into()).unwrap();
            Object::define_property(&target, &(*name).into(), &descriptor);
        }
        Shadowed {
            target,
            names: values.iter().map(|(name, _)| *name).collect(),
        }
    }
}

impl Drop for Shadowed {
    fn drop(&mut self) {
        for name in &self.names {
            Reflect::delete_property(&self.target, &(*name).into()).unwrap();
        }
    }
}

fn fire(target: &EventTarget, name: &str) {
    target.dispatch_event(&Event::new(name).unwrap()).unwrap();
}

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn text(root: &web_sys::Element) -> String {
    root.text_content().unwrap_or_default()
}

/// The page, started, with a long challenge running as attempt `attempt_id`; the camera's track.
async fn page_in_challenge(attempt_id: &str) -> (RunningPage, MediaStreamTrack) {
    let page = start_page(
        memory_api(attempt_id, long_challenge(), [Ok(common::passed())]),
        EmbedHooks::default(),
    )
    .await;
    assert!(
        common::wait_until(|| phase_of(&page.root) == "flashing", 50, 300).await,
        "the challenge starts, now {}",
        section_class(&page.root)
    );
    let track = page.camera.last_track();
    assert_eq!(track.ready_state(), MediaStreamTrackState::Live);
    assert!(
        preview_track(&page.root) == track,
        "the page works on the camera's own track, not a copy that nothing stops"
    );
    (page, track)
}

/// The 3003 dialog shows (heading and code), nothing was uploaded, and the page let go of the
/// camera it had (`track`).
async fn assert_aborted_with_3003(page: &RunningPage, track: &MediaStreamTrack) {
    let root = &page.root;
    let shows_3003 = || {
        common::text_of(root, "[role=alertdialog] h1").as_deref()
            == Some("Verification interrupted")
            && text(root).contains(&ResultCode::Interrupted.code().to_string())
    };
    assert!(
        common::wait_until(shows_3003, 50, 100).await,
        "now {}: {}",
        section_class(root),
        text(root)
    );
    assert!(
        page.api.uploads().is_empty(),
        "the broken attempt is not uploaded"
    );
    assert_eq!(
        track.ready_state(),
        MediaStreamTrackState::Ended,
        "the page lets go of the camera"
    );
}

#[wasm_bindgen_test]
async fn hiding_the_page_during_the_challenge_aborts_with_3003_and_offers_to_start_again() {
    let (page, track) = page_in_challenge("ATT-3").await;
    let (root, api) = (&page.root, &page.api);

    // The person switches app: the document reports hidden and fires visibilitychange.
    let hidden = Shadowed::new(
        &common::document(),
        &[
            ("hidden", true.into()),
            ("visibilityState", "hidden".into()),
        ],
    );
    assert!(common::document().hidden(), "the shadowing took");
    fire(&common::document(), "visibilitychange");

    assert_aborted_with_3003(&page, &track).await;

    // Back on the page, the person starts again: a new attempt runs to the end.
    drop(hidden);
    fire(&common::document(), "visibilitychange");
    assert!(!common::document().hidden());
    assert_eq!(
        common::text_of(root, "[role=alertdialog] button").as_deref(),
        Some("Start again")
    );
    press(root, "[role=alertdialog] button");
    assert!(
        common::wait_until(|| phase_of(root) == "outcome", 50, 600).await,
        "ends, now {}",
        section_class(root)
    );
    assert!(section_class(root).contains("fid-passed"));
    assert_eq!(page.camera.times_opened(), 2, "the camera opens again");
    assert_eq!(api.attempts_created(), 2, "a new attempt after the restart");
    assert_eq!(api.uploads().len(), 1);
    page.app.destroy();
}

#[wasm_bindgen_test]
async fn an_ended_event_on_the_camera_track_during_the_challenge_aborts_with_3003() {
    let (page, track) = page_in_challenge("ATT-4").await;
    let root = &page.root;

    // The camera goes away (unplugged, taken by another app): Chrome fires `ended` on the track.
    // (`stop()` from the page's side fires nothing, so the event is dispatched here.)
    fire(&track, "ended");

    assert_aborted_with_3003(&page, &track).await;
    assert!(
        root.query_selector("[role=alertdialog] button")
            .unwrap()
            .is_some(),
        "a way to start again"
    );
    page.app.destroy();
}

#[wasm_bindgen_test]
async fn a_simulated_offline_spell_holds_the_upload_until_the_online_event() {
    // navigator.onLine reads false from before the flow starts; the `offline` event is what the
    // browser would fire when the connection drops.
    let offline = Shadowed::new(&window().navigator(), &[("onLine", false.into())]);
    assert!(!window().navigator().on_line(), "the shadowing took");
    fire(&window(), "offline");

    let page = start_page(
        memory_api(
            "ATT-5",
            common::challenge(&[BLUE, GREEN, YELLOW]),
            [Ok(common::passed())],
        ),
        EmbedHooks::default(),
    )
    .await;
    let (root, api) = (&page.root, &page.api);
    let waiting = || text(root).contains("You are offline");
    // Stops early if the flow ends without waiting (what a broken offline check would do).
    common::wait_until(|| waiting() || phase_of(root) == "outcome", 50, 300).await;
    assert!(
        waiting(),
        "the upload screen says it waits for the network; now {}: {}",
        section_class(root),
        text(root)
    );
    assert_eq!(phase_of(root), "upload");
    assert_eq!(api.attempts_created(), 1);
    assert!(api.uploads().is_empty(), "nothing is sent while offline");
    // Still waiting a while later (it waits for an event, not a timer).
    TimeoutFuture::new(1_500).await;
    assert_eq!(phase_of(root), "upload");
    assert!(api.uploads().is_empty(), "nothing is sent while offline");

    // The connection comes back.
    drop(offline);
    assert!(window().navigator().on_line());
    fire(&window(), "online");
    assert!(
        common::wait_until(|| phase_of(root) == "outcome", 50, 200).await,
        "the upload resumes and ends, now {}",
        section_class(root)
    );
    assert!(section_class(root).contains("fid-passed"));
    let uploads = api.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].attempt_id, "ATT-5");
    assert_eq!(api.attempts_created(), 1, "the same attempt, not a new one");
    page.app.destroy();
}
