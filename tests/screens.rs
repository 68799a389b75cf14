//! Every screen renders in both locales, with a heading that differs between them; the embed
//! entry point mounts the whole page.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use faceid_core::quality::QualityHint;
use faceid_core::{Locale, ResultCode};
use faceid_h5::camera::CameraError;
use faceid_h5::state::{
    ChallengePhase, FlowState, Guidance, Outcome, Problem, Screen, TokenProblem, UploadNote,
    Uploading,
};
use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn every_screen() -> Vec<Screen> {
    let challenge = common::challenge(&[common::BLUE]);
    vec![
        Screen::Loading,
        Screen::BootFailed,
        Screen::TokenProblem(TokenProblem::Invalid),
        Screen::TokenProblem(TokenProblem::Finished),
        Screen::TokenProblem(TokenProblem::Expired),
        Screen::TokenProblem(TokenProblem::Exhausted),
        Screen::Intro,
        Screen::Declined,
        Screen::CameraStarting,
        Screen::Guidance(Guidance::default()),
        Screen::Guidance(Guidance {
            hint: Some(QualityHint::MoveCloser),
            analysing: true,
            slow: true,
            face_lost: true,
            progress: 0.4,
            started_ms: Some(0.0),
        }),
        Screen::Challenge(ChallengePhase::Requesting),
        Screen::Challenge(ChallengePhase::Running {
            attempt_id: "A".into(),
            challenge,
        }),
        Screen::Uploading(Uploading {
            attempt_id: "A".into(),
            progress: 0.5,
            note: UploadNote::Retrying,
        }),
        Screen::Outcome(Outcome {
            passed: true,
            code: ResultCode::Passed,
            retries_left: 2,
            redirect: Some("https://b.example/?token=T".into()),
        }),
        Screen::Outcome(Outcome {
            passed: false,
            code: ResultCode::SuspectedNonLive,
            retries_left: 2,
            redirect: None,
        }),
        Screen::Outcome(Outcome {
            passed: false,
            code: ResultCode::TooDark,
            retries_left: 0,
            redirect: None,
        }),
        Screen::Problem(Problem::Camera(CameraError::PermissionDenied)),
        Screen::Problem(Problem::Camera(CameraError::NotFound)),
        Screen::Problem(Problem::Camera(CameraError::Overconstrained)),
        Screen::Problem(Problem::Camera(CameraError::Busy)),
        Screen::Problem(Problem::Camera(CameraError::Unsupported)),
        Screen::Problem(Problem::Camera(CameraError::Other("x".into()))),
        Screen::Problem(Problem::Failure(ResultCode::Interrupted)),
        Screen::Problem(Problem::Failure(ResultCode::NetworkUnstable)),
    ]
}

fn state(screen: Screen, locale: Locale) -> Rc<FlowState> {
    let mut s = FlowState::new(Some("TOK".into()), Some(locale), None);
    s.session = Some(common::session(locale, 2));
    s.screen = screen;
    s.landscape = true;
    Rc::new(s)
}

/// Renders `screen` in `locale`; returns (heading, whole text).
async fn render(screen: Screen, locale: Locale) -> (String, String) {
    let (root, app) = common::render_screen(state(screen, locale)).await;
    let heading = common::text_of(&root, "h1").unwrap_or_default();
    let all = root.text_content().unwrap_or_default();
    app.destroy();
    root.remove();
    (heading, all)
}

#[wasm_bindgen_test]
async fn every_screen_has_a_translated_heading() {
    for screen in every_screen() {
        let (zh, zh_all) = render(screen.clone(), Locale::ZhCn).await;
        let (en, en_all) = render(screen.clone(), Locale::En).await;
        assert!(!zh.trim().is_empty(), "{screen:?} has no zh-CN heading");
        assert!(!en.trim().is_empty(), "{screen:?} has no en heading");
        assert_ne!(zh, en, "{screen:?} heading is not translated");
        assert_ne!(zh_all, en_all);
    }
}

#[wasm_bindgen_test]
async fn screens_say_what_matters() {
    let (_, intro) = render(Screen::Intro, Locale::En).await;
    assert!(
        intro.contains("Photosensitivity notice") && intro.contains("do not continue"),
        "{intro}"
    );
    let (_, hint) = render(
        Screen::Guidance(Guidance {
            hint: Some(QualityHint::MoveCloser),
            analysing: true,
            ..Guidance::default()
        }),
        Locale::En,
    )
    .await;
    assert!(
        hint.contains(QualityHint::MoveCloser.message(Locale::En)),
        "{hint}"
    );
    assert!(hint.contains("Turn your phone upright"));
    let (_, failed) = render(
        Screen::Outcome(Outcome {
            passed: false,
            code: ResultCode::TooDark,
            retries_left: 1,
            redirect: None,
        }),
        Locale::ZhCn,
    )
    .await;
    assert!(
        failed.contains(ResultCode::TooDark.message(Locale::ZhCn)) && failed.contains("再试一次"),
        "{failed}"
    );
    let (_, expired) = render(Screen::TokenProblem(TokenProblem::Expired), Locale::En).await;
    assert!(expired.contains("15"));
}

fn options(entries: &[(&str, &str)]) -> JsValue {
    let o = Object::new();
    for (k, v) in entries {
        Reflect::set(&o, &(*k).into(), &(*v).into()).unwrap();
    }
    o.into()
}

#[wasm_bindgen_test]
async fn mount_renders_the_page_and_reports_a_network_failure() {
    // No token anywhere: the invalid-link screen.
    let root = common::fresh("div");
    let mut handle = faceid_h5::mount(root.clone(), options(&[("locale", "en")])).unwrap();
    yew::scheduler::flush().await;
    assert_eq!(
        common::text_of(&root, "h1").as_deref(),
        Some("This link is not valid")
    );
    assert!(
        root.query_selector(".fid-root").unwrap().is_some(),
        "styles are scoped under .fid-root"
    );
    handle.unmount();
    yew::scheduler::flush().await;
    assert_eq!(root.child_element_count(), 0, "unmount removes the page");

    // A token and a server that cannot be reached: the retry screen.
    let root = common::fresh("div");
    let mut handle = faceid_h5::mount(
        root.clone(),
        options(&[
            ("locale", "zh-CN"),
            ("token", "TOK"),
            ("apiBase", "http://127.0.0.1:9"),
        ]),
    )
    .unwrap();
    let reached = common::wait_until(
        || common::text_of(&root, "h1").as_deref() == Some("网络连接失败"),
        50,
        200,
    )
    .await;
    assert!(reached, "{:?}", common::text_of(&root, "h1"));
    assert!(
        root.query_selector("[role=alertdialog] button")
            .unwrap()
            .is_some(),
        "a retry button"
    );
    handle.unmount();
}

#[wasm_bindgen_test]
async fn the_preview_plays_inline_and_muted() {
    let (root, app) = common::render_screen(state(Screen::CameraStarting, Locale::En)).await;
    let video = root
        .query_selector("video")
        .unwrap()
        .expect("a preview video");
    assert!(
        video.has_attribute("playsinline"),
        "iOS WeChat plays inline only with playsinline"
    );
    assert!(video.has_attribute("muted") && video.has_attribute("autoplay"));
    assert!(
        root.query_selector("svg ellipse.fid-oval")
            .unwrap()
            .is_some(),
        "the oval guide"
    );
    app.destroy();
}

#[wasm_bindgen_test]
async fn focus_moves_to_each_screens_heading() {
    for screen in [
        Screen::Intro,
        Screen::Problem(Problem::Camera(CameraError::Busy)),
        Screen::Outcome(Outcome {
            passed: true,
            code: ResultCode::Passed,
            retries_left: 1,
            redirect: None,
        }),
    ] {
        let (root, app) = common::render_screen(state(screen.clone(), Locale::En)).await;
        let heading = root.query_selector("h1").unwrap().expect("a heading");
        let focused = common::document()
            .active_element()
            .expect("something has focus");
        assert_eq!(focused, heading, "{screen:?}");
        app.destroy();
        root.remove();
    }
}
