//! faceid-h5: the H5 liveness page (Yew/WebAssembly).
//!
//! Pure logic (compiles and is tested natively): [`state`] (the flow as a reducer), [`i18n`]
//! (strings per locale), [`camera`] (requests, error mapping, fallback), [`api`] (the H5 API as a
//! trait), [`upload`] (size check and retry policy), [`flash`] (the colour timeline), [`media`]
//! (sizes and recorder formats), [`config`] (page options), [`viewport`] (when the
//! sideways-phone hint applies).
//!
//! Browser glue (wasm32 only): `web` (camera, frame loop, recorder, flash display, XHR client,
//! listeners: each a handle that cleans up on drop), `components` (one Yew component a file) and
//! `mount`, the JS entry point.
//!
//! # Hosting and embedding
//! `www/index.html` + `www/boot.js` load `pkg/faceid_h5.js` (from `scripts/build-page.sh`: wasm-pack
//! build --target web --profile page, then wasm-opt) and mount the page on `#app`; the token comes from
//! `?token=`, the locale from `?lang=` (else the session's). A PC page embeds the H5 page in a frame that may use the camera:
//!
//! ```html
//! <iframe src="https://faceid.example/h5/?token=BIZTOKEN" allow="camera" width="480" height="800"></iframe>
//! <script type="module" src="/host.js"></script>
//! ```
//! and hears how it ended through `message` events whose data is a
//! `faceid_core::protocol::ParentMessage` (`{source: "faceid-h5", kind: "result" | "error",
//! bizToken, errCode, errMsg, passed}`). Inside a frame the page does not redirect itself.
//! A page on the same origin can instead call `mount(element, {token, apiBase, locale, onResult,
//! onError, parentOrigin})` itself; every style is scoped under `.fid-root` (`www/faceid.css`).

pub mod api;
pub mod camera;
pub mod config;
pub mod flash;
pub mod i18n;
pub mod media;
pub mod state;
pub mod upload;
pub mod viewport;

#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
pub use web::mount::mount;
