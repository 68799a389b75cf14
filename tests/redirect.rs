//! The redirect back to the business, as built in the browser.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use faceid_core::protocol::SessionInfo;
use faceid_core::redirect::build_redirect_url;
use faceid_core::Locale;
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
        redirect_url: Some(redirect_url.into()),
        ..common::session(Locale::En, 2)
    };
    let mut state = FlowState::new(Some("TOK".into()), None, None);
    state.session = Some(session);
    state.screen = Screen::Uploading(faceid_h5::state::Uploading {
        attempt_id: "A".into(),
        progress: 1.0,
        note: faceid_h5::state::UploadNote::None,
    });
    let done = Rc::new(state).reduce(Action::UploadAnswered(common::passed()));
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
