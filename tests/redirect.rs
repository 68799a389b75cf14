//! The redirect back to the business, as built in the browser.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;

use faceid_core::protocol::{LivenessMode, SessionInfo, UploadAnswer, MAX_UPLOAD_BYTES};
use faceid_core::redirect::build_redirect_url;
use faceid_core::{Locale, ResultCode};
use faceid_h5::state::{Action, FlowState, Screen};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn keeps_query_strings_and_refuses_javascript() {
    assert_eq!(
        build_redirect_url(
            "https://shop.example/back?order=42&x=a%20b#done",
            "TOK",
            Some("e=1")
        )
        .unwrap(),
        "https://shop.example/back?order=42&x=a%20b&token=TOK&BizToken=TOK&Extra=e%3D1#done"
    );
    for bad in [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JavaScript:void(0)",
        "data:text/html,hi",
        "//evil.example",
    ] {
        assert!(build_redirect_url(bad, "TOK", None).is_err(), "{bad}");
    }
}

fn outcome_redirect(redirect_url: &str) -> Option<String> {
    let session = SessionInfo {
        mode: LivenessMode::Light,
        locale: Locale::En,
        retries_left: 2,
        expires_at: 0,
        max_video_bytes: MAX_UPLOAD_BYTES,
        redirect_url: Some(redirect_url.into()),
        extra: None,
    };
    let mut state = FlowState::new(Some("TOK".into()), None, None);
    state.session = Some(session);
    state.screen = Screen::Uploading(faceid_h5::state::Uploading {
        attempt_id: "A".into(),
        progress: 1.0,
        note: faceid_h5::state::UploadNote::None,
    });
    let done = Rc::new(state).reduce(Action::UploadAnswered(UploadAnswer {
        err_code: ResultCode::Passed,
        err_msg: String::new(),
        passed: true,
        retries_left: 2,
        redirect_url: None,
    }));
    match &done.screen {
        Screen::Outcome(o) => o.redirect.clone(),
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test]
fn the_page_redirects_only_to_http() {
    assert_eq!(
        outcome_redirect("https://b.example/r?a=1").as_deref(),
        Some("https://b.example/r?a=1&token=TOK&BizToken=TOK")
    );
    assert_eq!(outcome_redirect("javascript:alert(document.cookie)"), None);
}
