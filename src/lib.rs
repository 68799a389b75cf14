//! faceid-h5: the H5 liveness page (Yew/WebAssembly). Placeholder until the page issue lands.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::*;

/// Auto-mounts the page on `#app` when the module loads.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    Ok(())
}
