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
use wasm_bindgen::{JsCast, JsValue};
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

/// The page's stylesheet, added once to the test document.
fn load_page_styles() {
    let doc = common::document();
    if doc.get_element_by_id("fid-test-styles").is_some() {
        return;
    }
    let style = doc.create_element("style").unwrap();
    style.set_id("fid-test-styles");
    style.set_text_content(Some(include_str!("../www/faceid.css")));
    doc.head().unwrap().append_child(&style).unwrap();
}

/// `getComputedStyle(element)[property]`.
fn computed(element: &web_sys::Element, property: &str) -> String {
    let window = web_sys::window().unwrap();
    let get: js_sys::Function = Reflect::get(&window, &"getComputedStyle".into())
        .unwrap()
        .into();
    let style = get.call1(&window, element).unwrap();
    Reflect::get(&style, &property.into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

fn passed(redirect: Option<&str>) -> Screen {
    Screen::Outcome(Outcome {
        passed: true,
        code: ResultCode::Passed,
        retries_left: 1,
        redirect: redirect.map(String::from),
    })
}

#[wasm_bindgen_test]
async fn passed_without_a_redirect_says_what_is_true_and_offers_no_button() {
    // Framed (the reducer builds no redirect then) or no RedirectUrl: nobody takes the person back.
    for locale in [Locale::ZhCn, Locale::En] {
        let t = faceid_h5::i18n::texts(locale);
        let (root, app) = common::render_screen(state(passed(None), locale)).await;
        let all = root.text_content().unwrap_or_default();
        assert!(all.contains(t.passed_done), "{all}");
        assert!(!all.contains(t.redirecting), "{all}");
        assert!(
            root.query_selector("button").unwrap().is_none(),
            "no redirect button"
        );
        app.destroy();
        root.remove();

        let (root, app) =
            common::render_screen(state(passed(Some("https://b.example/?token=T")), locale)).await;
        let all = root.text_content().unwrap_or_default();
        assert!(all.contains(t.redirecting), "{all}");
        assert!(!all.contains(t.passed_done), "{all}");
        assert_eq!(
            common::text_of(&root, "button").as_deref(),
            Some(t.continue_label)
        );
        app.destroy();
        root.remove();
    }
}

#[wasm_bindgen_test]
async fn the_focused_heading_has_no_ring_and_focused_buttons_do() {
    load_page_styles();
    let (root, app) = common::render_screen(state(Screen::Intro, Locale::En)).await;
    // The page's styles apply under .fid-root (the App's wrapper).
    root.set_class_name("fid-root");
    let heading: web_sys::HtmlElement = root
        .query_selector("h1")
        .unwrap()
        .expect("a heading")
        .dyn_into()
        .unwrap();
    assert_eq!(
        common::document().active_element().as_ref(),
        Some(heading.as_ref()),
        "focus still moves to the heading"
    );
    assert_eq!(computed(&heading, "outlineStyle"), "none");

    // Script focus with no pointer seen matches :focus-visible in Chrome, as keyboard focus does.
    let button: web_sys::HtmlElement = root
        .query_selector("button.fid-primary")
        .unwrap()
        .expect("the start button")
        .dyn_into()
        .unwrap();
    button.focus().unwrap();
    assert!(button.matches(":focus-visible").unwrap());
    assert_eq!(computed(&button, "outlineStyle"), "solid");
    assert_eq!(computed(&button, "outlineWidth"), "3px");
    app.destroy();
    root.remove();
}

#[wasm_bindgen_test]
async fn a_desktop_browser_gets_no_turn_your_phone_hint() {
    // This headless desktop Chrome: no coarse pointer, desktop user agent, window wider than tall.
    let device = faceid_h5::web::viewport::device_kind();
    assert_eq!(device, faceid_h5::viewport::DeviceKind::Desktop);
    let mut s = FlowState::new(Some("TOK".into()), Some(Locale::En), None);
    s.session = Some(common::session(Locale::En, 2));
    s.screen = Screen::Guidance(Guidance::default());
    let s = Rc::new(s).reduce(faceid_h5::state::Action::OrientationChanged {
        orientation: faceid_h5::viewport::Orientation::Landscape,
        device,
    });
    let (root, app) = common::render_screen(s).await;
    let all = root.text_content().unwrap_or_default();
    assert!(!all.contains(faceid_h5::i18n::EN.landscape_hint), "{all}");
    app.destroy();
    root.remove();
}
