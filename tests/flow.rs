//! The whole page, start to finish, in the browser: a synthetic camera showing a real face photo,
//! the real frame analysis, recorder and colour display, and the in-memory H5 API (which fails the
//! first upload once, so the retry under the same attemptId is part of the run).
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::page::{long_challenge, memory_api, phase_of, section_class, start_page};
use common::{BLUE, GREEN, YELLOW};
use faceid_core::challenge::ColourChallenge;
use faceid_core::Rgb8;
use faceid_h5::api::ApiError;
use faceid_h5::components::app::EmbedHooks;
use faceid_h5::media::RECORDER_MIME_PREFERENCE;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn challenge() -> ColourChallenge {
    common::challenge(&[BLUE, GREEN, YELLOW])
}

#[wasm_bindgen_test]
async fn a_person_goes_from_intro_to_a_passed_result() {
    let api = memory_api(
        "ATT-1",
        challenge(),
        [
            Err(ApiError::Network("connection reset".into())),
            Ok(common::passed()),
        ],
    );
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
    let page = start_page(api, hooks).await;
    let (root, api) = (&page.root, &page.api);

    let mut phases: Vec<&str> = Vec::new();
    let finished = common::wait_until(
        || {
            let phase = phase_of(root);
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
            phase == "outcome"
        },
        50,
        600,
    )
    .await;
    assert!(
        finished,
        "the flow ends; screens seen: {phases:?}, now {}",
        section_class(root)
    );
    assert!(
        section_class(root).contains("fid-passed"),
        "{}",
        section_class(root)
    );
    assert!(
        phases.contains(&"flashing") && phases.contains(&"upload"),
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

    page.app.destroy();
}

#[wasm_bindgen_test]
async fn losing_the_face_during_the_challenge_restarts_the_attempt() {
    let api = memory_api("ATT-2", long_challenge(), [Ok(common::passed())]);
    let page = start_page(api, EmbedHooks::default()).await;
    let (root, api) = (&page.root, &page.api);
    let face_visible = page.camera.face_visible.clone();

    assert!(
        common::wait_until(|| phase_of(root) == "flashing", 50, 300).await,
        "the first attempt starts"
    );
    assert_eq!(api.attempts_created(), 1);
    face_visible.set(false);
    assert!(
        common::wait_until(|| phase_of(root) == "capture", 50, 200).await,
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
        common::wait_until(|| phase_of(root) == "outcome", 50, 600).await,
        "ends, now {}",
        section_class(root)
    );
    assert!(section_class(root).contains("fid-passed"));
    assert_eq!(api.attempts_created(), 2, "a new attempt after the restart");
    assert_eq!(api.uploads().len(), 1);
    page.app.destroy();
}
