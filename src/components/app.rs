//! The page: the flow reducer plus its effects (session, camera, attempt, upload, result).

use std::cell::Cell;
use std::rc::Rc;

use faceid_core::protocol::ParentMessage;
use faceid_core::ResultCode;
use gloo::timers::callback::Timeout;
use js_sys::Function;
use wasm_bindgen::JsValue;
use web_sys::MediaStream;
use yew::prelude::*;

use super::capture::PreparedUpload;
use super::screen_view::ScreenView;
use crate::api::H5Api;
use crate::camera::{open_with_fallback, Camera};
use crate::config::PageConfig;
use crate::state::{Action, FlowState, Screen};
use crate::upload::{upload_with_retries, RetryPolicy, UploadEvent};
use crate::web::camera::{store_camera, stored_camera, CameraStream, WebCamera};
use crate::web::frame_sampler::LandmarkModel;
use crate::web::network::BrowserNetwork;
use crate::web::recorder::Recording;
use crate::web::task::Task;
use crate::web::xhr::XhrApi;

/// How long the success message stays before the redirect: time to read it.
pub const REDIRECT_DELAY_MS: u32 = 2_500;

/// Callbacks of an embedding page (see `mount`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EmbedHooks {
    pub on_result: Option<Function>,
    pub on_error: Option<Function>,
    /// targetOrigin for messages to a framing parent ("*" unless the embedder names one).
    pub parent_origin: Option<String>,
}

/// The page's inputs. `api` and `camera` are the real browser implementations in production
/// (see [`Page`]) and in-memory or synthetic ones in tests.
#[derive(Properties)]
pub struct AppProps<A: 'static, C: 'static> {
    pub config: PageConfig,
    #[prop_or_default]
    pub hooks: EmbedHooks,
    pub api: Rc<A>,
    pub camera: Rc<C>,
}

impl<A, C> PartialEq for AppProps<A, C> {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.hooks == other.hooks
            && Rc::ptr_eq(&self.api, &other.api)
            && Rc::ptr_eq(&self.camera, &other.camera)
    }
}

/// The page as deployed: the H5 API over XHR and getUserMedia.
pub type Page = App<XhrApi, WebCamera>;

/// Whether the page runs inside a frame.
fn framed() -> Option<web_sys::Window> {
    let window = web_sys::window()?;
    let parent = window.parent().ok().flatten()?;
    (!JsValue::from(parent.clone()).loose_eq(&JsValue::from(window))).then_some(parent)
}

/// Tells the embedder (callbacks) and a framing parent (postMessage) how the flow ended.
fn notify(hooks: &EmbedHooks, message: &ParentMessage) {
    let Ok(json) = serde_json::to_string(message) else {
        return;
    };
    let Ok(value) = js_sys::JSON::parse(&json) else {
        return;
    };
    let hook = if message.kind == "result" {
        &hooks.on_result
    } else {
        &hooks.on_error
    };
    if let Some(f) = hook {
        if let Err(e) = f.call1(&JsValue::NULL, &value) {
            web_sys::console::error_2(&"faceid-h5: embedder callback threw".into(), &e);
        }
    }
    if let Some(parent) = framed() {
        let origin = hooks.parent_origin.as_deref().unwrap_or("*");
        let _ = parent.post_message(&value, origin);
    }
}

/// The message for a state that ends the flow (or needs the embedder's attention), if any.
fn final_message(state: &FlowState) -> Option<ParentMessage> {
    let (kind, code, passed) = match &state.screen {
        Screen::Outcome(o) => ("result", o.code, o.passed),
        Screen::TokenProblem(p) => (
            "error",
            p.result_code().unwrap_or(ResultCode::TokenExpired),
            false,
        ),
        Screen::Problem(p) => ("error", p.result_code(), false),
        // Declining the light challenge leaves the flow unfinished (17); the business decides what next.
        Screen::Declined => ("error", ResultCode::FlowNotFinished, false),
        _ => return None,
    };
    Some(ParentMessage {
        source: "faceid-h5".into(),
        kind: kind.into(),
        biz_token: state.token.clone().unwrap_or_default(),
        err_code: code,
        err_msg: code.message(state.locale).into(),
        passed,
    })
}

fn go_to(url: &str) {
    if let Some(window) = web_sys::window() {
        if let Err(e) = window.location().assign(url) {
            web_sys::console::error_2(&"faceid-h5: redirect failed".into(), &e);
        }
    }
}

#[function_component]
pub fn App<A, C>(props: &AppProps<A, C>) -> Html
where
    A: H5Api<Video = Recording> + 'static,
    C: Camera<Stream = CameraStream> + 'static,
{
    let config = props.config.clone();
    let state = {
        let config = config.clone();
        use_reducer(move || {
            FlowState::new(config.token.clone(), config.locale, stored_camera())
                .in_frame(framed().is_some())
        })
    };
    let dispatch: Callback<Action> = {
        let dispatcher = state.dispatcher();
        Callback::from(move |action| dispatcher.dispatch(action))
    };
    let stream = use_state(|| None::<MediaStream>);
    let camera = use_mut_ref(|| None::<CameraStream>);
    let prepared = use_mut_ref(|| None::<PreparedUpload>);
    let token = state.token.clone().unwrap_or_default();

    // The landmark model, fetched once while the person reads the first screens.
    let landmark_model = use_state(LandmarkModel::default);
    {
        let (api, landmark_model) = (props.api.clone(), landmark_model.clone());
        use_effect_with((), move |_| {
            let task = Task::spawn(async move {
                match api.landmark_model().await {
                    Ok(bytes) => landmark_model.set(LandmarkModel::Ready(bytes.into())),
                    Err(e) => {
                        web_sys::console::warn_1(
                            &format!("faceid-h5: no landmark model ({e}); detector only").into(),
                        );
                        landmark_model.set(LandmarkModel::Unavailable);
                    }
                }
            });
            move || drop(task)
        });
    }

    // Session.
    {
        let (api, token, dispatch) = (props.api.clone(), token.clone(), dispatch.clone());
        use_effect_with(state.boot_key(), move |key| {
            let task = key.map(|_| {
                Task::spawn(async move {
                    match api.session(&token).await {
                        Ok(session) => dispatch.emit(Action::SessionLoaded(session)),
                        Err(e) => dispatch.emit(Action::SessionFailed(e)),
                    }
                })
            });
            move || drop(task)
        });
    }

    // Camera: open while the key is Some; tracks stop as soon as it changes.
    {
        let (camera, stream, dispatch) = (camera.clone(), stream.clone(), dispatch.clone());
        let source = props.camera.clone();
        let chosen = state.chosen_camera.clone();
        use_effect_with(state.camera_key(), move |key| {
            let alive = Rc::new(Cell::new(true));
            if key.is_some() {
                let (alive, camera, stream) = (alive.clone(), camera.clone(), stream.clone());
                // Not a Task: getUserMedia must run to completion so a stream that arrives after
                // the page moved on is still stopped (by dropping it) rather than leaked.
                wasm_bindgen_futures::spawn_local(async move {
                    let opened = open_with_fallback(&*source, chosen.as_deref()).await;
                    if !alive.get() {
                        return;
                    }
                    match opened {
                        Ok(opened) => {
                            // `Clone::clone`: `MediaStream::clone` is the JS method, which makes new
                            // tracks that nothing stops (the camera would stay on after the page
                            // lets it go).
                            stream.set(Some(Clone::clone(opened.media_stream())));
                            *camera.borrow_mut() = Some(opened);
                            dispatch.emit(Action::CameraOpened);
                        }
                        Err(e) => dispatch.emit(Action::CameraFailed(e)),
                    }
                });
            }
            move || {
                alive.set(false);
                camera.borrow_mut().take();
                stream.set(None);
            }
        });
    }

    // Attempt.
    {
        let (api, token, dispatch) = (props.api.clone(), token.clone(), dispatch.clone());
        use_effect_with(state.attempt_key(), move |key| {
            let task = key.map(|_| {
                Task::spawn(async move {
                    match api.create_attempt(&token).await {
                        Ok(created) => dispatch.emit(Action::AttemptCreated(created)),
                        Err(e) => dispatch.emit(Action::AttemptFailed(e)),
                    }
                })
            });
            move || drop(task)
        });
    }

    // Upload: the recording is kept (owned by the task) until the server has answered.
    {
        let (api, token, dispatch, prepared) = (
            props.api.clone(),
            token.clone(),
            dispatch.clone(),
            prepared.clone(),
        );
        use_effect_with(state.upload_key(), move |key| {
            let upload = key.as_ref().and_then(|id| {
                let p = prepared.borrow_mut().take()?;
                (p.attempt_id == *id).then_some(p)
            });
            let task = match (key, upload) {
                (Some(_), Some(upload)) => Some(Task::spawn(async move {
                    let events = dispatch.clone();
                    let on_event: Rc<dyn Fn(UploadEvent)> =
                        Rc::new(move |e| events.emit(Action::Upload(e)));
                    let result = upload_with_retries(
                        &*api,
                        &BrowserNetwork,
                        RetryPolicy::default(),
                        &token,
                        &upload.attempt_id,
                        &upload.recording,
                        &upload.report,
                        on_event,
                    )
                    .await;
                    match result {
                        Ok(answer) => dispatch.emit(Action::UploadAnswered(answer)),
                        Err(code) => dispatch.emit(Action::UploadFailed(code)),
                    }
                })),
                (Some(_), None) => {
                    dispatch.emit(Action::UploadFailed(ResultCode::VideoEmptyOrTooLarge));
                    None
                }
                _ => None,
            };
            move || drop(task)
        });
    }

    // The end of the flow: embedder callbacks, parent message, redirect after a pause.
    {
        let hooks = props.hooks.clone();
        let message = final_message(&state);
        let redirect = match &state.screen {
            Screen::Outcome(o) if o.passed => o.redirect.clone(),
            _ => None,
        };
        use_effect_with((message, redirect), move |(message, redirect)| {
            if let Some(message) = message {
                notify(&hooks, message);
            }
            // Inside a frame the embedder decides where to go (it got the message).
            let timer = redirect
                .clone()
                .filter(|_| framed().is_none())
                .map(|url| Timeout::new(REDIRECT_DELAY_MS, move || go_to(&url)));
            move || drop(timer)
        });
    }

    let on_recorded = {
        let (prepared, dispatch) = (prepared.clone(), dispatch.clone());
        Callback::from(move |p: PreparedUpload| {
            let attempt_id = p.attempt_id.clone();
            *prepared.borrow_mut() = Some(p);
            dispatch.emit(Action::Recorded { attempt_id });
        })
    };
    let dispatch_with_memory = {
        let dispatch = dispatch.clone();
        Callback::from(move |action: Action| {
            if let Action::ChooseCamera(id) = &action {
                store_camera(id);
            }
            dispatch.emit(action)
        })
    };
    let on_continue = Callback::from(|url: String| go_to(&url));
    let shared_state: Rc<FlowState> = Rc::new((*state).clone());
    html! {
        <div class="fid-root" lang={state.locale.tag()}>
            <ScreenView state={shared_state} dispatch={dispatch_with_memory} stream={(*stream).clone()}
                {on_recorded} {on_continue} landmark_model={(*landmark_model).clone()} />
        </div>
    }
}
