//! faceid-h5: the H5 liveness page (Yew/WebAssembly).
//!
//! Pure logic (compiles and is tested natively): [`state`] (the flow as a reducer), [`i18n`]
//! (strings per locale), [`camera`] (requests, error mapping, fallback), [`api`] (the H5 API as a
//! trait), [`upload`] (size check and retry policy), [`flash`] (the colour timeline), [`media`]
//! (sizes and recorder formats), [`config`] (page options).
//!
//! Browser glue (wasm32 only): `web` (camera, frame loop, recorder, flash display, XHR client,
//! listeners: each a handle that cleans up on drop), `components` (one Yew component a file) and
//! [`mount`], the JS entry point.

pub mod api;
pub mod camera;
pub mod config;
pub mod flash;
pub mod i18n;
pub mod media;
pub mod state;
pub mod upload;

#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
pub use web::mount::mount;
