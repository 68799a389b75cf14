//! The JS entry point: `mount(element, options)` renders the page into `element`.
//!
//! Options (all optional): `apiBase` (server origin; default same origin), `token` (default
//! `?token=` of the page URL), `locale` ("zh-CN" | "en"; default `?lang=`, then the session's),
//! `onResult(message)`, `onError(message)` (message = faceid_core::protocol::ParentMessage as a
//! plain object), `parentOrigin` (targetOrigin of the message posted to a framing parent; "*").

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::Element;
use yew::AppHandle;

use std::rc::Rc;

use crate::components::app::{AppProps, EmbedHooks, Page};
use crate::config::PageConfig;
use crate::web::camera::WebCamera;
use crate::web::xhr::XhrApi;
use faceid_core::Locale;

/// A mounted page; `unmount()` removes it and releases the camera.
#[wasm_bindgen]
pub struct MountHandle {
    app: Option<AppHandle<Page>>,
}

#[wasm_bindgen]
impl MountHandle {
    pub fn unmount(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
    }
}

fn string_option(options: &JsValue, key: &str) -> Option<String> {
    Reflect::get(options, &key.into())
        .ok()?
        .as_string()
        .filter(|s| !s.trim().is_empty())
}

fn function_option(options: &JsValue, key: &str) -> Option<Function> {
    Reflect::get(options, &key.into())
        .ok()?
        .dyn_into::<Function>()
        .ok()
}

/// The page's configuration: `options` first, then the page URL's query.
pub fn config_from(options: &JsValue) -> (PageConfig, EmbedHooks) {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let mut config = PageConfig::from_query(&query);
    let options = if options.is_object() {
        options.clone()
    } else {
        JsValue::UNDEFINED
    };
    if let Some(base) = string_option(&options, "apiBase") {
        config.api_base = base;
    }
    if let Some(token) = string_option(&options, "token") {
        config.token = Some(token);
    }
    if let Some(locale) = string_option(&options, "locale").and_then(|l| Locale::parse(&l)) {
        config.locale = Some(locale);
    }
    let hooks = EmbedHooks {
        on_result: function_option(&options, "onResult"),
        on_error: function_option(&options, "onError"),
        parent_origin: string_option(&options, "parentOrigin"),
    };
    (config, hooks)
}

/// Renders the page into `element` (scoped under `.fid-root`; www/faceid.css styles it).
#[wasm_bindgen]
pub fn mount(element: Element, options: JsValue) -> Result<MountHandle, JsValue> {
    let (config, hooks) = config_from(&options);
    let props = AppProps {
        api: Rc::new(XhrApi::new(config.clone())),
        camera: Rc::new(WebCamera),
        config,
        hooks,
    };
    let app = yew::Renderer::<Page>::with_root_and_props(element, props).render();
    Ok(MountHandle { app: Some(app) })
}
