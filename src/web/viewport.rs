//! Reads the viewport's orientation and the kind of device from the browser; the decision whether
//! to show the sideways-phone hint is `crate::viewport::shows_landscape_hint`.

use crate::viewport::{DeviceKind, Orientation};

/// The media query of a touch-primary device (phone, tablet): its primary pointer is a finger.
const TOUCH_PRIMARY_QUERY: &str = "(pointer: coarse)";

/// The window's orientation now (portrait when it cannot be read).
pub fn orientation() -> Orientation {
    let Some(window) = web_sys::window() else {
        return Orientation::Portrait;
    };
    let size = |v: Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>| {
        v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0)
    };
    Orientation::of_viewport(size(window.inner_width()), size(window.inner_height()))
}

/// Phone/tablet or desktop: `(pointer: coarse)`, else the user agent (desktop when neither can
/// be read).
pub fn device_kind() -> DeviceKind {
    let Some(window) = web_sys::window() else {
        return DeviceKind::Desktop;
    };
    let coarse = window
        .match_media(TOUCH_PRIMARY_QUERY)
        .ok()
        .flatten()
        .is_some_and(|m| m.matches());
    let user_agent = window.navigator().user_agent().unwrap_or_default();
    DeviceKind::classify(coarse, &user_agent)
}
