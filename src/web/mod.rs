//! Browser glue (wasm32 only). Every effect is a handle that cleans up when dropped: camera tracks
//! stop, frame loops cancel their callbacks, recorders stop, listeners detach, tasks abort.

pub mod camera;
pub mod events;
pub mod flash_display;
pub mod frame_loop;
pub mod frame_sampler;
pub mod mount;
pub mod network;
pub mod recorder;
pub mod task;
pub mod viewport;
pub mod xhr;

use wasm_bindgen::JsValue;

/// `performance.now()`: the one clock of the page (frame timestamps, recorder start, colour log).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// A short description of a thrown JS value, for logs and error variants.
pub fn describe(value: &JsValue) -> String {
    if let Some(name) = js_sys::Reflect::get(value, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
    {
        let message = js_sys::Reflect::get(value, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        return format!("{name}: {message}");
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
