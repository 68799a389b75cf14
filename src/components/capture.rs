//! The live camera: mirrored preview with the oval guide, per-frame analysis by faceid-core, and,
//! during the challenge, the recorder and the full-screen colours. Mounted from "opening the
//! camera" until the recording is done, so the video element and the analyser live across phases.

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{PageDecode, UploadReport, MAX_UPLOAD_BYTES};
use faceid_core::quality::OvalGuide;
use faceid_core::reflection::{ReflectionDecoder, ReflectionSample};
use faceid_core::{Locale, ResultCode};
use gloo::events::EventListener;
use gloo::timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlCanvasElement, HtmlVideoElement, MediaStream, MediaStreamTrack};
use yew::prelude::*;

use super::guidance_panel::GuidancePanel;
use super::hooks::use_focused_heading;
use crate::i18n::texts;
use crate::state::{Action, ChallengePhase, FlowState, FrameFeedback, Screen};
use crate::upload::check_upload_size;
use crate::web::camera::list_cameras;
use crate::web::flash_display::{Cutout, FlashDisplay};
use crate::web::frame_loop::FrameLoop;
use crate::web::frame_sampler::{FrameSampler, LandmarkModel};
use crate::web::recorder::{Recorder, Recording};
use crate::web::task::Task;
use crate::web::viewport;

/// Recording continues this long after the last colour: the decoder searches delays up to 400 ms
/// (screen latency plus camera pipeline), so the reflection of the last colour must be on tape.
pub const RECORDING_TAIL_MS: u32 = 500;
/// Room for about 30 s of samples at 30 fps without growing during a challenge.
const SAMPLE_CAPACITY: usize = 1024;

/// A finished attempt, ready to upload.
#[derive(Debug, Clone)]
pub struct PreparedUpload {
    pub attempt_id: String,
    pub recording: Recording,
    pub report: UploadReport,
}

#[derive(Properties, PartialEq)]
pub struct CaptureProps {
    pub state: Rc<FlowState>,
    pub stream: Option<MediaStream>,
    pub dispatch: Callback<Action>,
    pub on_recorded: Callback<PreparedUpload>,
    #[prop_or_default]
    pub landmark_model: LandmarkModel,
}

/// Frame-loop state shared between the loop and the challenge task.
#[derive(Default)]
struct Shared {
    sampler: Option<FrameSampler>,
    sampler_failed: bool,
    /// The latest `landmark_model` prop (the frame loop outlives renders).
    landmark_model: LandmarkModel,
    frame_error_logged: bool,
    /// Set while recording: the recorder's start and the samples on its clock.
    recording: Option<(f64, Vec<ReflectionSample>)>,
}

fn user_agent() -> String {
    web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .unwrap_or_default()
}

/// Records one attempt: recorder, colours, tail, page decode, report, size check.
#[allow(clippy::too_many_arguments)]
async fn run_challenge(
    attempt_id: String,
    challenge: ColourChallenge,
    stream: MediaStream,
    video: HtmlVideoElement,
    overlay: HtmlCanvasElement,
    guide: NodeRef,
    shared: Rc<RefCell<Shared>>,
    max_bytes: u64,
) -> Result<PreparedUpload, ResultCode> {
    // The server's challenge is checked against the photosensitivity limits before it is shown.
    challenge
        .validate()
        .map_err(|_| ResultCode::LivenessFailed)?;
    let recorder = Recorder::start(&stream, &video).map_err(|e| e.result_code())?;
    let start_ms = recorder.started().await.map_err(|e| e.result_code())?;
    shared.borrow_mut().recording = Some((start_ms, Vec::with_capacity(SAMPLE_CAPACITY)));
    let cutout = move || {
        guide
            .cast::<Element>()
            .map(|e| Cutout::from_rect(&e.get_bounding_client_rect()))
    };
    let mut flash = FlashDisplay::start(overlay, &challenge, start_ms, cutout, |_| {})
        .map_err(|_| ResultCode::LivenessFailed)?;
    let flashed = flash
        .finished()
        .await
        .map_err(|_| ResultCode::Interrupted)?;
    TimeoutFuture::new(RECORDING_TAIL_MS).await;
    let recording = recorder.finish().await.map_err(|e| e.result_code())?;
    let samples = shared
        .borrow_mut()
        .recording
        .take()
        .map(|(_, s)| s)
        .unwrap_or_default();
    let verdict = ReflectionDecoder::default().decode(&samples, &flashed.shown);
    let report = UploadReport {
        shown: flashed.shown,
        hold_start_ms: flashed.hold_start_ms,
        recorder_mime: recording.mime.clone(),
        frame_width: recording.width,
        frame_height: recording.height,
        page_decode: Some(PageDecode {
            code: verdict.code,
            score: verdict.score,
            delay_ms: verdict.delay_ms,
        }),
        user_agent: user_agent(),
    };
    let report_bytes = serde_json::to_string(&report)
        .map(|j| j.len() as u64)
        .unwrap_or(0);
    check_upload_size(recording.bytes, report_bytes, max_bytes)?;
    Ok(PreparedUpload {
        attempt_id,
        recording,
        report,
    })
}

#[function_component]
pub fn Capture(props: &CaptureProps) -> Html {
    let state = &props.state;
    let locale: Locale = state.locale;
    let t = texts(locale);
    let video_ref = use_node_ref();
    let guide_ref = use_node_ref();
    let overlay_ref = use_node_ref();
    let shared = use_mut_ref(Shared::default);
    let video_size = use_state(|| (640u32, 480u32));
    let heading = use_focused_heading(std::mem::discriminant(&state.screen));
    let guide = OvalGuide::default();
    shared.borrow_mut().landmark_model = props.landmark_model.clone();

    // The camera stream: preview, frame loop, and every way the capture can be interrupted.
    {
        let video_ref = video_ref.clone();
        let shared = shared.clone();
        let dispatch = props.dispatch.clone();
        let video_size = video_size.clone();
        use_effect_with(props.stream.clone(), move |stream| {
            let mut handles: (Option<FrameLoop>, Vec<EventListener>, Option<Task>) =
                (None, Vec::new(), None);
            let video = video_ref.cast::<HtmlVideoElement>();
            if let (Some(stream), Some(video)) = (stream.clone(), video.clone()) {
                video.set_muted(true);
                video.set_src_object(Some(&stream));
                if let Ok(playing) = video.play() {
                    // Autoplay of a muted inline video is allowed; a refusal leaves the preview still.
                    wasm_bindgen_futures::spawn_local(async move {
                        let _ = wasm_bindgen_futures::JsFuture::from(playing).await;
                    });
                }
                let on_size = {
                    let video = video.clone();
                    move |_: &Event| {
                        if video.video_width() > 0 && video.video_height() > 0 {
                            video_size.set((video.video_width(), video.video_height()));
                        }
                    }
                };
                handles.1.push(EventListener::new(
                    &video,
                    "loadedmetadata",
                    on_size.clone(),
                ));
                handles
                    .1
                    .push(EventListener::new(&video, "resize", on_size));

                let frames = {
                    let shared = shared.clone();
                    let dispatch = dispatch.clone();
                    let video = video.clone();
                    FrameLoop::video_frames(&video.clone(), move |t_ms| {
                        let mut s = shared.borrow_mut();
                        if s.sampler.is_none() && !s.sampler_failed {
                            // No frame is analysed until the landmark model has settled.
                            let Some(analyser) = s.landmark_model.analyser() else {
                                return;
                            };
                            match FrameSampler::with_analyser(analyser) {
                                Ok(sampler) => s.sampler = Some(sampler),
                                Err(e) => {
                                    web_sys::console::error_1(
                                        &format!("faceid-h5: no frame sampler: {e}").into(),
                                    );
                                    s.sampler_failed = true;
                                }
                            }
                        }
                        let Some(sampler) = s.sampler.as_mut() else {
                            return;
                        };
                        let analysis = match sampler.sample(&video, t_ms) {
                            Ok(Some(a)) => a,
                            Ok(None) => return,
                            Err(e) => {
                                // Once is enough: the same failure would repeat every frame.
                                if !s.frame_error_logged {
                                    web_sys::console::warn_1(
                                        &format!("faceid-h5: frame skipped: {e}").into(),
                                    );
                                    s.frame_error_logged = true;
                                }
                                return;
                            }
                        };
                        if let Some((start_ms, samples)) = s.recording.as_mut() {
                            if samples.len() < samples.capacity() {
                                let mut sample = analysis.sample;
                                sample.t_ms = t_ms - *start_ms;
                                samples.push(sample);
                            }
                        }
                        drop(s);
                        dispatch.emit(Action::FrameAnalysed(FrameFeedback {
                            t_ms,
                            hint: analysis.quality.hint,
                            ready: analysis.quality.ready,
                            progress: analysis.quality.progress,
                            face: analysis.face.is_some(),
                        }));
                    })
                };
                handles.0 = Some(frames);

                for track in stream.get_video_tracks().iter() {
                    if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                        let dispatch = dispatch.clone();
                        handles
                            .1
                            .push(EventListener::new(&track, "ended", move |_| {
                                dispatch.emit(Action::Interrupted)
                            }));
                    }
                }
                if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                    let dispatch = dispatch.clone();
                    let doc = document.clone();
                    handles.1.push(EventListener::new(
                        &document,
                        "visibilitychange",
                        move |_| {
                            if doc.hidden() {
                                dispatch.emit(Action::Interrupted);
                            }
                        },
                    ));
                }
                let dispatch_list = dispatch.clone();
                handles.2 = Some(Task::spawn(async move {
                    dispatch_list.emit(Action::CamerasListed(list_cameras().await));
                }));
            }
            if let Some(window) = web_sys::window() {
                dispatch.emit(Action::OrientationChanged {
                    orientation: viewport::orientation(),
                    device: viewport::device_kind(),
                });
                for name in ["resize", "orientationchange"] {
                    let dispatch = dispatch.clone();
                    handles.1.push(EventListener::new(&window, name, move |_| {
                        dispatch.emit(Action::OrientationChanged {
                            orientation: viewport::orientation(),
                            device: viewport::device_kind(),
                        })
                    }));
                }
            }
            move || {
                drop(handles);
                if let Some(video) = video {
                    video.set_src_object(None);
                }
            }
        });
    }

    // The challenge: runs while an attempt is running, and is dropped (recorder stopped, colours
    // gone) the moment the state leaves it: face lost, page hidden, camera lost.
    {
        let running = state
            .running_attempt()
            .map(|(id, c)| (id.to_string(), c.clone()));
        let max_bytes = state
            .session
            .as_ref()
            .map(|s| s.max_video_bytes)
            .unwrap_or(MAX_UPLOAD_BYTES);
        let stream = props.stream.clone();
        let video_ref = video_ref.clone();
        let overlay_ref = overlay_ref.clone();
        let guide_ref = guide_ref.clone();
        let shared = shared.clone();
        let dispatch = props.dispatch.clone();
        let on_recorded = props.on_recorded.clone();
        use_effect_with((running, stream), move |(running, stream)| {
            let mut task = None;
            let parts = (
                running.clone(),
                stream.clone(),
                video_ref.cast::<HtmlVideoElement>(),
                overlay_ref.cast::<HtmlCanvasElement>(),
            );
            match parts {
                (Some((attempt_id, challenge)), Some(stream), Some(video), Some(overlay)) => {
                    let shared_task = shared.clone();
                    task = Some(Task::spawn(async move {
                        let result = run_challenge(
                            attempt_id,
                            challenge,
                            stream,
                            video,
                            overlay,
                            guide_ref,
                            shared_task,
                            max_bytes,
                        )
                        .await;
                        match result {
                            Ok(prepared) => on_recorded.emit(prepared),
                            Err(code) => dispatch.emit(Action::ChallengeFailed(code)),
                        }
                    }));
                }
                (Some(_), _, _, _) => {
                    dispatch.emit(Action::ChallengeFailed(ResultCode::Interrupted))
                }
                _ => {}
            }
            move || {
                drop(task);
                shared.borrow_mut().recording = None;
            }
        });
    }

    let (vw, vh) = *video_size;
    let (title, body): (&str, Html) = match &state.screen {
        Screen::Guidance(g) => (
            t.guidance_title,
            html! {
                <GuidancePanel locale={locale} guidance={g.clone()} landscape={state.landscape}
                    cameras={state.cameras.clone()} chosen={state.chosen_camera.clone()}
                    on_choose={props.dispatch.reform(Action::ChooseCamera)} />
            },
        ),
        Screen::Challenge(phase) => (
            t.challenge_title,
            html! {
                <div class="fid-panel">
                    <p class="fid-hint" role="status" aria-live="polite">
                        { if matches!(phase, ChallengePhase::Requesting) { t.challenge_preparing } else { t.recording_label } }
                    </p>
                    if state.landscape {
                        <p class="fid-note">{ t.landscape_hint }</p>
                    }
                </div>
            },
        ),
        _ => (
            t.camera_starting_title,
            html! { <p class="fid-body">{ t.camera_starting_body }</p> },
        ),
    };
    let flashing = state.running_attempt().is_some();
    let (cx, cy) = (guide.cx * vw as f32, guide.cy * vh as f32);
    let (rx, ry) = (guide.rx * vw as f32, guide.ry * vh as f32);
    html! {
        <section class={classes!("fid-screen", "fid-capture", flashing.then_some("fid-flashing"))}>
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ title }</h1>
            <div class="fid-stage">
                <video class="fid-video" ref={video_ref} autoplay=true playsinline=true muted=true
                       aria-hidden="true" disablepictureinpicture=true></video>
                <svg class="fid-guide" viewBox={format!("0 0 {vw} {vh}")} preserveAspectRatio="xMidYMid slice" aria-hidden="true">
                    <defs>
                        <mask id="fid-guide-mask">
                            <rect x="0" y="0" width={vw.to_string()} height={vh.to_string()} fill="white" />
                            <ellipse cx={cx.to_string()} cy={cy.to_string()} rx={rx.to_string()} ry={ry.to_string()} fill="black" />
                        </mask>
                    </defs>
                    <rect class="fid-dim" x="0" y="0" width={vw.to_string()} height={vh.to_string()} mask="url(#fid-guide-mask)" />
                    <ellipse class="fid-oval" ref={guide_ref} cx={cx.to_string()} cy={cy.to_string()}
                             rx={rx.to_string()} ry={ry.to_string()} />
                </svg>
            </div>
            { body }
            <canvas class={classes!("fid-flash", (!flashing).then_some("fid-hidden"))} ref={overlay_ref} aria-hidden="true"></canvas>
        </section>
    }
}
