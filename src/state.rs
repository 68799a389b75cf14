//! The page's flow as a pure reducer: no DOM, no browser calls, so `cargo test` drives it natively.
//! Effects (camera, frame loop, recorder, network) watch the state's `*_key()` values and report
//! back with [`Action`]s; an action that no longer fits the current screen is ignored.

use std::rc::Rc;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{AttemptCreated, LivenessMode, SessionInfo, UploadAnswer};
use faceid_core::quality::QualityHint;
use faceid_core::redirect::build_redirect_url;
use faceid_core::{Locale, ResultCode};

use crate::api::ApiError;
use crate::camera::CameraError;
use crate::upload::UploadEvent;
use crate::viewport::{shows_landscape_hint, DeviceKind, Orientation};

/// No face for this long during the challenge restarts the attempt (a blink or a few dropped
/// frames are shorter; the reflection decoder cannot work without the face for longer).
pub const FACE_LOST_MS: f64 = 600.0;
/// Not ready after this long in guidance: show advice (the page keeps waiting, it never fails).
pub const SLOW_GUIDANCE_MS: f64 = 30_000.0;
/// Progress bars move in steps of this fraction, so a frame that changes progress by a hair does
/// not re-render the page.
pub const PROGRESS_STEP: f32 = 0.05;

/// Why the BizToken cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Missing, unknown or malformed.
    Invalid,
    /// 14: already completed.
    Finished,
    /// 15: expired.
    Expired,
    /// 16: no attempts left.
    Exhausted,
}

impl TokenProblem {
    /// The token problem a result code stands for, if it is one.
    pub fn from_code(code: ResultCode) -> Option<TokenProblem> {
        match code {
            ResultCode::TokenFinished => Some(TokenProblem::Finished),
            ResultCode::TokenExpired => Some(TokenProblem::Expired),
            ResultCode::RetryLimit => Some(TokenProblem::Exhausted),
            _ => None,
        }
    }

    pub fn result_code(self) -> Option<ResultCode> {
        match self {
            TokenProblem::Invalid => None,
            TokenProblem::Finished => Some(ResultCode::TokenFinished),
            TokenProblem::Expired => Some(ResultCode::TokenExpired),
            TokenProblem::Exhausted => Some(ResultCode::RetryLimit),
        }
    }
}

/// What core said about one camera frame (the parts the flow needs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameFeedback {
    /// Frame time on the page clock (`performance.now()`).
    pub t_ms: f64,
    pub hint: Option<QualityHint>,
    pub ready: bool,
    pub progress: f32,
    pub face: bool,
}

/// The guidance screen: live hints until the quality gate is satisfied.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Guidance {
    /// None before the first analysed frame and while everything is fine.
    pub hint: Option<QualityHint>,
    /// Toward ready, 0..=1, in [`PROGRESS_STEP`]s.
    pub progress: f32,
    /// Whether any frame has been analysed yet.
    pub analysing: bool,
    /// Page time of the first analysed frame.
    pub started_ms: Option<f64>,
    /// Not ready after [`SLOW_GUIDANCE_MS`]: advice is shown.
    pub slow: bool,
    /// The previous attempt was restarted because the face left the frame.
    pub face_lost: bool,
}

/// The challenge screen.
#[derive(Clone, Debug, PartialEq)]
pub enum ChallengePhase {
    /// Waiting for `POST /attempts`.
    Requesting,
    /// Recording and showing the server's colours.
    Running {
        attempt_id: String,
        challenge: ColourChallenge,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadNote {
    None,
    Retrying,
    Offline,
    /// The server is busy; the page sends the video again shortly.
    Busy,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Uploading {
    pub attempt_id: String,
    /// Sent fraction of the current send, 0..=1, in [`PROGRESS_STEP`]s.
    pub progress: f32,
    pub note: UploadNote,
}

/// The server's answer, as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub passed: bool,
    pub code: ResultCode,
    pub retries_left: u32,
    /// Where to send the person (only http(s), built with `build_redirect_url`).
    pub redirect: Option<String>,
}

impl Outcome {
    pub fn can_try_again(&self) -> bool {
        !self.passed && self.retries_left > 0
    }
}

/// A failure shown in an alert dialog, with a way to start again.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    Camera(CameraError),
    Failure(ResultCode),
}

impl Problem {
    pub fn result_code(&self) -> ResultCode {
        match self {
            Problem::Camera(e) => e.result_code(),
            Problem::Failure(code) => *code,
        }
    }
}

/// A camera the person can pick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraChoice {
    pub device_id: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    Loading,
    /// The session could not be fetched (network); a retry is offered.
    BootFailed,
    TokenProblem(TokenProblem),
    Intro,
    /// The person declined the light challenge (photosensitivity).
    Declined,
    CameraStarting,
    Guidance(Guidance),
    Challenge(ChallengePhase),
    Uploading(Uploading),
    Outcome(Outcome),
    Problem(Problem),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FlowState {
    pub token: Option<String>,
    pub locale: Locale,
    /// `?lang=` or the embedder chose the locale; the session's does not override it.
    pub locale_forced: bool,
    pub session: Option<SessionInfo>,
    pub screen: Screen,
    /// A phone or tablet held sideways (shown as an inline hint during capture); never set on a
    /// desktop, whatever its window's shape.
    pub landscape: bool,
    /// The page runs inside a frame: it posts its result to the parent and never redirects.
    pub framed: bool,
    /// Page time since when no face has been seen during the challenge.
    pub face_missing_since: Option<f64>,
    pub cameras: Vec<CameraChoice>,
    pub chosen_camera: Option<String>,
    /// Bumped whenever the session must be fetched.
    pub boot_run: u32,
    /// Bumped whenever the camera must be (re)opened.
    pub camera_run: u32,
    /// Bumped whenever a new attempt must be requested.
    pub attempt_run: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Fetch the session (again).
    Boot,
    SessionLoaded(SessionInfo),
    SessionFailed(ApiError),
    Start,
    DeclineFlash,
    BackToIntro,
    CamerasListed(Vec<CameraChoice>),
    ChooseCamera(String),
    CameraOpened,
    CameraFailed(CameraError),
    FrameAnalysed(FrameFeedback),
    OrientationChanged {
        orientation: Orientation,
        device: DeviceKind,
    },
    AttemptCreated(AttemptCreated),
    AttemptFailed(ApiError),
    /// The challenge could not run (no recorder, unsafe challenge, recording too large …).
    ChallengeFailed(ResultCode),
    /// The recording of this attempt is complete and stored; upload it.
    Recorded {
        attempt_id: String,
    },
    /// Page hidden or camera lost during capture.
    Interrupted,
    Upload(UploadEvent),
    UploadAnswered(UploadAnswer),
    UploadFailed(ResultCode),
    TryAgain,
}

fn quantise(progress: f32) -> f32 {
    if !progress.is_finite() {
        return 0.0;
    }
    let p = progress.clamp(0.0, 1.0);
    ((p / PROGRESS_STEP).floor() * PROGRESS_STEP).min(1.0)
}

impl FlowState {
    /// The state at page load. Without a token the page can only say so.
    pub fn new(
        token: Option<String>,
        forced_locale: Option<Locale>,
        chosen_camera: Option<String>,
    ) -> FlowState {
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        FlowState {
            screen: if token.is_some() {
                Screen::Loading
            } else {
                Screen::TokenProblem(TokenProblem::Invalid)
            },
            token,
            locale: forced_locale.unwrap_or_default(),
            locale_forced: forced_locale.is_some(),
            session: None,
            landscape: false,
            framed: false,
            face_missing_since: None,
            cameras: Vec::new(),
            chosen_camera,
            boot_run: 0,
            camera_run: 0,
            attempt_run: 0,
        }
    }

    pub fn mode(&self) -> LivenessMode {
        self.session
            .as_ref()
            .map(|s| s.mode)
            .unwrap_or(LivenessMode::Light)
    }

    /// Some while the session must be fetched.
    pub fn boot_key(&self) -> Option<u32> {
        matches!(self.screen, Screen::Loading).then_some(self.boot_run)
    }

    /// Some while the camera must be open (its handle is dropped as soon as this changes).
    pub fn camera_key(&self) -> Option<u32> {
        matches!(
            self.screen,
            Screen::CameraStarting | Screen::Guidance(_) | Screen::Challenge(_)
        )
        .then_some(self.camera_run)
    }

    /// Some while an attempt must be requested.
    pub fn attempt_key(&self) -> Option<u32> {
        matches!(self.screen, Screen::Challenge(ChallengePhase::Requesting))
            .then_some(self.attempt_run)
    }

    /// The running attempt (recording and colours) while there is one.
    pub fn running_attempt(&self) -> Option<(&str, &ColourChallenge)> {
        match &self.screen {
            Screen::Challenge(ChallengePhase::Running {
                attempt_id,
                challenge,
            }) => Some((attempt_id, challenge)),
            _ => None,
        }
    }

    /// Some(attempt id) while its recording must be uploaded.
    pub fn upload_key(&self) -> Option<String> {
        match &self.screen {
            Screen::Uploading(u) => Some(u.attempt_id.clone()),
            _ => None,
        }
    }

    fn with_screen(&self, screen: Screen) -> FlowState {
        FlowState {
            screen,
            ..self.clone()
        }
    }

    fn open_camera(&self) -> FlowState {
        FlowState {
            screen: Screen::CameraStarting,
            camera_run: self.camera_run.wrapping_add(1),
            ..self.clone()
        }
    }

    fn failure(&self, code: ResultCode) -> FlowState {
        match TokenProblem::from_code(code) {
            Some(problem) => self.with_screen(Screen::TokenProblem(problem)),
            None => self.with_screen(Screen::Problem(Problem::Failure(code))),
        }
    }

    /// Marks the page as running inside a frame (the embedder, not the page, decides where to go).
    pub fn in_frame(self, framed: bool) -> FlowState {
        FlowState { framed, ..self }
    }

    /// The business's RedirectUrl with our parameters (None inside a frame, without one, or if it
    /// is not http(s)).
    pub fn redirect_target(&self) -> Option<String> {
        if self.framed {
            return None;
        }
        let session = self.session.as_ref()?;
        let base = session.redirect_url.as_deref()?;
        let token = self.token.as_deref()?;
        build_redirect_url(base, token, session.extra.as_deref()).ok()
    }

    /// The next state, or None when the action does not apply (the current state is kept).
    fn next(&self, action: Action) -> Option<FlowState> {
        use Screen as S;
        let next = match (&self.screen, action) {
            (S::BootFailed, Action::Boot) => FlowState {
                screen: S::Loading,
                boot_run: self.boot_run.wrapping_add(1),
                ..self.clone()
            },
            (S::Loading, Action::SessionLoaded(session)) => {
                let locale = if self.locale_forced {
                    self.locale
                } else {
                    session.locale
                };
                let screen = if session.retries_left == 0 {
                    S::TokenProblem(TokenProblem::Exhausted)
                } else {
                    S::Intro
                };
                FlowState {
                    screen,
                    locale,
                    session: Some(session),
                    ..self.clone()
                }
            }
            (S::Loading, Action::SessionFailed(error)) => match &error {
                // The server answers an unknown token with 404 (and code 15): the link is invalid.
                ApiError::Server { status: 404, .. } => {
                    self.with_screen(S::TokenProblem(TokenProblem::Invalid))
                }
                ApiError::Server { error, .. } => self.with_screen(S::TokenProblem(
                    TokenProblem::from_code(error.err_code).unwrap_or(TokenProblem::Invalid),
                )),
                ApiError::Network(_)
                | ApiError::Status(_)
                | ApiError::BadAnswer(_)
                | ApiError::Busy { .. } => self.with_screen(S::BootFailed),
            },
            (S::Intro, Action::Start) => self.open_camera(),
            (S::Intro, Action::DeclineFlash) if self.mode() == LivenessMode::Light => {
                self.with_screen(S::Declined)
            }
            (S::Declined, Action::BackToIntro) => self.with_screen(S::Intro),
            (_, Action::CamerasListed(cameras)) => {
                if cameras == self.cameras {
                    return None;
                }
                FlowState {
                    cameras,
                    ..self.clone()
                }
            }
            (S::CameraStarting | S::Guidance(_), Action::ChooseCamera(id)) => {
                if self.chosen_camera.as_deref() == Some(id.as_str()) {
                    return None;
                }
                FlowState {
                    chosen_camera: Some(id),
                    ..self.open_camera()
                }
            }
            (S::CameraStarting, Action::CameraOpened) => {
                self.with_screen(S::Guidance(Guidance::default()))
            }
            (S::CameraStarting, Action::CameraFailed(e)) => {
                self.with_screen(S::Problem(Problem::Camera(e)))
            }
            (S::Guidance(g), Action::FrameAnalysed(f)) => {
                let started = g.started_ms.unwrap_or(f.t_ms);
                if f.ready {
                    FlowState {
                        screen: S::Challenge(ChallengePhase::Requesting),
                        face_missing_since: None,
                        attempt_run: self.attempt_run.wrapping_add(1),
                        ..self.clone()
                    }
                } else {
                    let updated = Guidance {
                        hint: f.hint,
                        progress: quantise(f.progress),
                        analysing: true,
                        started_ms: Some(started),
                        slow: g.slow || f.t_ms - started >= SLOW_GUIDANCE_MS,
                        face_lost: g.face_lost && f.hint.is_some(),
                    };
                    if updated == *g {
                        return None;
                    }
                    self.with_screen(S::Guidance(updated))
                }
            }
            (S::Challenge(_), Action::FrameAnalysed(f)) => {
                if f.face {
                    self.face_missing_since?;
                    FlowState {
                        face_missing_since: None,
                        ..self.clone()
                    }
                } else {
                    let since = self.face_missing_since.unwrap_or(f.t_ms);
                    if f.t_ms - since >= FACE_LOST_MS {
                        let guidance = Guidance {
                            face_lost: true,
                            ..Guidance::default()
                        };
                        FlowState {
                            screen: S::Guidance(guidance),
                            face_missing_since: None,
                            ..self.clone()
                        }
                    } else if self.face_missing_since.is_none() {
                        FlowState {
                            face_missing_since: Some(since),
                            ..self.clone()
                        }
                    } else {
                        return None;
                    }
                }
            }
            (
                S::CameraStarting | S::Guidance(_) | S::Challenge(_),
                Action::OrientationChanged {
                    orientation,
                    device,
                },
            ) => {
                let landscape = shows_landscape_hint(orientation, device);
                if landscape == self.landscape {
                    return None;
                }
                FlowState {
                    landscape,
                    ..self.clone()
                }
            }
            (S::Challenge(ChallengePhase::Requesting), Action::AttemptCreated(created)) => self
                .with_screen(S::Challenge(ChallengePhase::Running {
                    attempt_id: created.attempt_id,
                    challenge: created.challenge,
                })),
            (S::Challenge(ChallengePhase::Requesting), Action::AttemptFailed(e)) => {
                self.failure(e.result_code())
            }
            (S::Challenge(_), Action::ChallengeFailed(code)) => self.failure(code),
            (
                S::Challenge(ChallengePhase::Running { attempt_id, .. }),
                Action::Recorded {
                    attempt_id: recorded,
                },
            ) if *attempt_id == recorded => self.with_screen(S::Uploading(Uploading {
                attempt_id: recorded,
                progress: 0.0,
                note: UploadNote::None,
            })),
            (S::CameraStarting | S::Guidance(_) | S::Challenge(_), Action::Interrupted) => {
                self.with_screen(S::Problem(Problem::Failure(ResultCode::Interrupted)))
            }
            (S::Uploading(u), Action::Upload(event)) => {
                let updated = match event {
                    UploadEvent::Progress(p) => Uploading {
                        progress: quantise(p),
                        note: if p > 0.0 { UploadNote::None } else { u.note },
                        ..u.clone()
                    },
                    UploadEvent::Retrying { .. } => Uploading {
                        progress: 0.0,
                        note: UploadNote::Retrying,
                        ..u.clone()
                    },
                    UploadEvent::WaitingForNetwork => Uploading {
                        note: UploadNote::Offline,
                        ..u.clone()
                    },
                    UploadEvent::Busy { .. } => Uploading {
                        progress: 0.0,
                        note: UploadNote::Busy,
                        ..u.clone()
                    },
                };
                if updated == *u {
                    return None;
                }
                self.with_screen(S::Uploading(updated))
            }
            (S::Uploading(_), Action::UploadAnswered(answer)) => {
                let finished = answer.passed || answer.retries_left == 0;
                let outcome = Outcome {
                    passed: answer.passed,
                    code: answer.err_code,
                    retries_left: answer.retries_left,
                    redirect: if finished {
                        self.redirect_target()
                    } else {
                        None
                    },
                };
                let session = self.session.clone().map(|s| SessionInfo {
                    retries_left: answer.retries_left,
                    ..s
                });
                FlowState {
                    screen: S::Outcome(outcome),
                    session,
                    ..self.clone()
                }
            }
            (S::Uploading(_), Action::UploadFailed(code)) => self.failure(code),
            (S::Outcome(o), Action::TryAgain) if o.can_try_again() => self.open_camera(),
            (S::Problem(_), Action::TryAgain) => self.open_camera(),
            _ => return None,
        };
        Some(next)
    }
}

impl FlowState {
    /// Applies `action`; returns the same `Rc` when nothing changed, so Yew skips the re-render.
    pub fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        match self.next(action) {
            Some(next) => Rc::new(next),
            None => self,
        }
    }
}

#[cfg(target_arch = "wasm32")]
impl yew::Reducible for FlowState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        FlowState::reduce(self, action)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use faceid_core::challenge::ColourStep;
    use faceid_core::protocol::{H5Error, MAX_UPLOAD_BYTES};
    use faceid_core::Rgb8;

    fn session(locale: Locale, retries_left: u32) -> SessionInfo {
        SessionInfo {
            mode: LivenessMode::Light,
            locale,
            retries_left,
            expires_at: 1,
            max_video_bytes: MAX_UPLOAD_BYTES,
            redirect_url: Some("https://biz.example/done?from=h5".into()),
            extra: Some("order 7".into()),
        }
    }

    fn challenge() -> ColourChallenge {
        ColourChallenge {
            hold_colour: Rgb8::new(255, 255, 255),
            hold_ms: 1000,
            steps: vec![ColourStep {
                colour: Rgb8::new(0, 0, 255),
                duration_ms: 400,
            }],
        }
    }

    fn run(state: FlowState, actions: impl IntoIterator<Item = Action>) -> Rc<FlowState> {
        actions.into_iter().fold(Rc::new(state), |s, a| s.reduce(a))
    }

    fn frame(t_ms: f64, hint: Option<QualityHint>, ready: bool, face: bool) -> Action {
        Action::FrameAnalysed(FrameFeedback {
            t_ms,
            hint,
            ready,
            progress: if ready { 1.0 } else { 0.33 },
            face,
        })
    }

    fn server_error(code: ResultCode) -> ApiError {
        ApiError::Server {
            status: 400,
            error: H5Error::new(code, Locale::En),
        }
    }

    fn at_guidance() -> Rc<FlowState> {
        run(
            FlowState::new(Some("TOK".into()), None, None),
            [
                Action::SessionLoaded(session(Locale::En, 3)),
                Action::Start,
                Action::CameraOpened,
            ],
        )
    }

    #[test]
    fn boot_paths() {
        assert_eq!(
            FlowState::new(None, None, None).screen,
            Screen::TokenProblem(TokenProblem::Invalid)
        );
        assert_eq!(
            FlowState::new(Some("  ".into()), None, None).screen,
            Screen::TokenProblem(TokenProblem::Invalid)
        );

        let s = run(
            FlowState::new(Some("T".into()), None, None),
            [Action::SessionLoaded(session(Locale::En, 2))],
        );
        assert_eq!(s.screen, Screen::Intro);
        assert_eq!(s.locale, Locale::En);

        let forced = run(
            FlowState::new(Some("T".into()), Some(Locale::ZhCn), None),
            [Action::SessionLoaded(session(Locale::En, 2))],
        );
        assert_eq!(forced.locale, Locale::ZhCn);

        let exhausted = run(
            FlowState::new(Some("T".into()), None, None),
            [Action::SessionLoaded(session(Locale::En, 0))],
        );
        assert_eq!(
            exhausted.screen,
            Screen::TokenProblem(TokenProblem::Exhausted)
        );

        for (code, problem) in [
            (ResultCode::TokenFinished, TokenProblem::Finished),
            (ResultCode::TokenExpired, TokenProblem::Expired),
            (ResultCode::RetryLimit, TokenProblem::Exhausted),
            (ResultCode::FlowNotFinished, TokenProblem::Invalid),
        ] {
            let s = run(
                FlowState::new(Some("T".into()), None, None),
                [Action::SessionFailed(server_error(code))],
            );
            assert_eq!(s.screen, Screen::TokenProblem(problem), "{code:?}");
        }

        let unknown = ApiError::Server {
            status: 404,
            error: H5Error::new(ResultCode::TokenExpired, Locale::En),
        };
        let s = run(
            FlowState::new(Some("T".into()), None, None),
            [Action::SessionFailed(unknown)],
        );
        assert_eq!(s.screen, Screen::TokenProblem(TokenProblem::Invalid));

        let s = run(
            FlowState::new(Some("T".into()), None, None),
            [Action::SessionFailed(ApiError::Network("x".into()))],
        );
        assert_eq!(s.screen, Screen::BootFailed);
        let boot_run = s.boot_run;
        let s = s.reduce(Action::Boot);
        assert_eq!(s.screen, Screen::Loading);
        assert_eq!(s.boot_key(), Some(boot_run + 1));
    }

    #[test]
    fn intro_decline_and_camera_failures() {
        let intro = run(
            FlowState::new(Some("T".into()), None, None),
            [Action::SessionLoaded(session(Locale::ZhCn, 2))],
        );
        let declined = intro.clone().reduce(Action::DeclineFlash);
        assert_eq!(declined.screen, Screen::Declined);
        assert_eq!(declined.reduce(Action::BackToIntro).screen, Screen::Intro);

        let starting = intro.reduce(Action::Start);
        assert_eq!(starting.screen, Screen::CameraStarting);
        assert_eq!(starting.camera_key(), Some(1));
        let denied = starting.reduce(Action::CameraFailed(CameraError::PermissionDenied));
        assert_eq!(
            denied.screen,
            Screen::Problem(Problem::Camera(CameraError::PermissionDenied))
        );
        assert_eq!(
            denied.camera_key(),
            None,
            "the camera is released on the error screen"
        );
        let Screen::Problem(p) = &denied.screen else {
            unreachable!()
        };
        assert_eq!(p.result_code(), ResultCode::NoCameraPermission);
        let again = denied.reduce(Action::TryAgain);
        assert_eq!(again.camera_key(), Some(2));
    }

    #[test]
    fn guidance_hints_progress_and_slow_advice() {
        let g = at_guidance();
        let s = g
            .clone()
            .reduce(frame(1_000.0, Some(QualityHint::NoFace), false, false));
        let Screen::Guidance(guidance) = &s.screen else {
            panic!("{:?}", s.screen)
        };
        assert_eq!(guidance.hint, Some(QualityHint::NoFace));
        assert_eq!(guidance.progress, 0.30);
        assert!(!guidance.slow);
        // The same feedback again changes nothing: the same Rc comes back (no re-render).
        let same = s
            .clone()
            .reduce(frame(1_033.0, Some(QualityHint::NoFace), false, false));
        assert!(Rc::ptr_eq(&s, &same));
        let slow = same.reduce(frame(
            1_000.0 + SLOW_GUIDANCE_MS,
            Some(QualityHint::TooDark),
            false,
            true,
        ));
        let Screen::Guidance(guidance) = &slow.screen else {
            panic!()
        };
        assert!(guidance.slow);

        // A desktop window is wider than tall: no "turn your phone" hint (the same Rc comes back).
        let desktop = slow.clone().reduce(Action::OrientationChanged {
            orientation: Orientation::Landscape,
            device: DeviceKind::Desktop,
        });
        assert!(!desktop.landscape);
        assert!(Rc::ptr_eq(&slow, &desktop));
        let sideways = desktop.reduce(Action::OrientationChanged {
            orientation: Orientation::Landscape,
            device: DeviceKind::Handheld,
        });
        assert!(sideways.landscape);
        let upright = sideways.clone().reduce(Action::OrientationChanged {
            orientation: Orientation::Portrait,
            device: DeviceKind::Handheld,
        });
        assert!(!upright.landscape);
        let ready = sideways.reduce(frame(40_000.0, None, true, true));
        assert_eq!(ready.screen, Screen::Challenge(ChallengePhase::Requesting));
        assert_eq!(ready.attempt_key(), Some(1));
        assert!(
            ready.camera_key().is_some(),
            "the camera stays open into the challenge"
        );
    }

    fn running() -> Rc<FlowState> {
        at_guidance()
            .reduce(frame(10.0, None, true, true))
            .reduce(Action::AttemptCreated(AttemptCreated {
                attempt_id: "A1".into(),
                challenge: challenge(),
                expires_at: 1,
            }))
    }

    #[test]
    fn challenge_face_lost_restarts_and_interruption_aborts() {
        let r = running();
        assert_eq!(
            r.running_attempt().map(|(id, _)| id.to_string()),
            Some("A1".into())
        );
        assert_eq!(r.attempt_key(), None);
        let blink = r.reduce(frame(100.0, Some(QualityHint::NoFace), false, false));
        assert_eq!(blink.face_missing_since, Some(100.0));
        let back = blink.reduce(frame(200.0, None, false, true));
        assert_eq!(back.face_missing_since, None);
        assert!(back.running_attempt().is_some());
        let gone = back
            .reduce(frame(300.0, Some(QualityHint::NoFace), false, false))
            .reduce(frame(
                300.0 + FACE_LOST_MS,
                Some(QualityHint::NoFace),
                false,
                false,
            ));
        let Screen::Guidance(g) = &gone.screen else {
            panic!("{:?}", gone.screen)
        };
        assert!(g.face_lost);
        // Ready again: a new attempt is requested.
        let again = gone.reduce(frame(2_000.0, None, true, true));
        assert_eq!(again.attempt_key(), Some(2));

        let hidden = running().reduce(Action::Interrupted);
        assert_eq!(
            hidden.screen,
            Screen::Problem(Problem::Failure(ResultCode::Interrupted))
        );
        assert_eq!(hidden.camera_key(), None);
        assert_eq!(
            hidden.reduce(Action::TryAgain).screen,
            Screen::CameraStarting
        );

        let no_recorder = running().reduce(Action::ChallengeFailed(ResultCode::CannotRecord));
        assert_eq!(
            no_recorder.screen,
            Screen::Problem(Problem::Failure(ResultCode::CannotRecord))
        );
        let exhausted = at_guidance()
            .reduce(frame(10.0, None, true, true))
            .reduce(Action::AttemptFailed(server_error(ResultCode::RetryLimit)));
        assert_eq!(
            exhausted.screen,
            Screen::TokenProblem(TokenProblem::Exhausted)
        );
    }

    #[test]
    fn upload_and_outcomes() {
        let r = running();
        // A recording from another attempt is ignored.
        assert!(Rc::ptr_eq(
            &r,
            &r.clone().reduce(Action::Recorded {
                attempt_id: "OLD".into()
            })
        ));
        let up = r.reduce(Action::Recorded {
            attempt_id: "A1".into(),
        });
        assert_eq!(up.upload_key(), Some("A1".into()));
        assert_eq!(
            up.camera_key(),
            None,
            "the camera is released while uploading"
        );
        let up = up.reduce(Action::Upload(UploadEvent::Progress(0.52)));
        let Screen::Uploading(u) = &up.screen else {
            panic!()
        };
        assert_eq!(u.progress, 0.5);
        let up = up.reduce(Action::Upload(UploadEvent::Retrying {
            send: 1,
            delay_ms: 1000,
        }));
        let Screen::Uploading(u) = &up.screen else {
            panic!()
        };
        assert_eq!((u.progress, u.note), (0.0, UploadNote::Retrying));
        let busy = up
            .clone()
            .reduce(Action::Upload(UploadEvent::Busy { delay_ms: 2_000 }));
        let Screen::Uploading(u) = &busy.screen else {
            panic!()
        };
        assert_eq!((u.progress, u.note), (0.0, UploadNote::Busy));
        // Sending again clears the note once bytes go out.
        let sending = busy.reduce(Action::Upload(UploadEvent::Progress(0.3)));
        let Screen::Uploading(u) = &sending.screen else {
            panic!()
        };
        assert_eq!(u.note, UploadNote::None);

        let fail = up.clone().reduce(Action::UploadAnswered(UploadAnswer {
            err_code: ResultCode::SuspectedNonLive,
            err_msg: "x".into(),
            passed: false,
            retries_left: 1,
            redirect_url: None,
        }));
        let Screen::Outcome(o) = &fail.screen else {
            panic!()
        };
        assert!(o.can_try_again());
        assert_eq!(o.redirect, None);
        assert_eq!(fail.session.as_ref().map(|s| s.retries_left), Some(1));
        assert_eq!(fail.reduce(Action::TryAgain).screen, Screen::CameraStarting);

        let pass = up.clone().reduce(Action::UploadAnswered(UploadAnswer {
            err_code: ResultCode::Passed,
            err_msg: "ok".into(),
            passed: true,
            retries_left: 1,
            redirect_url: None,
        }));
        let Screen::Outcome(o) = &pass.screen else {
            panic!()
        };
        assert_eq!(
            o.redirect.as_deref(),
            Some("https://biz.example/done?from=h5&token=TOK&BizToken=TOK&Extra=order%207")
        );
        assert!(!o.can_try_again());
        assert!(Rc::ptr_eq(&pass, &pass.clone().reduce(Action::TryAgain)));

        let net = up.reduce(Action::UploadFailed(ResultCode::NetworkUnstable));
        assert_eq!(
            net.screen,
            Screen::Problem(Problem::Failure(ResultCode::NetworkUnstable))
        );
    }

    #[test]
    fn a_framed_page_never_offers_a_redirect() {
        let framed = Rc::new((*at_guidance()).clone().in_frame(true));
        assert_eq!(framed.redirect_target(), None);
        let passed = framed
            .reduce(frame(10.0, None, true, true))
            .reduce(Action::AttemptCreated(AttemptCreated {
                attempt_id: "A1".into(),
                challenge: challenge(),
                expires_at: 1,
            }))
            .reduce(Action::Recorded {
                attempt_id: "A1".into(),
            })
            .reduce(Action::UploadAnswered(UploadAnswer {
                err_code: ResultCode::Passed,
                err_msg: "ok".into(),
                passed: true,
                retries_left: 1,
                redirect_url: None,
            }));
        let Screen::Outcome(o) = &passed.screen else {
            panic!("{:?}", passed.screen)
        };
        assert!(o.passed);
        assert_eq!(o.redirect, None);
        // The same page at top level (same session with a RedirectUrl) offers it.
        assert!((*at_guidance())
            .clone()
            .in_frame(false)
            .redirect_target()
            .is_some());
    }

    #[test]
    fn unsafe_redirects_are_never_built() {
        let mut s = (*at_guidance()).clone();
        if let Some(sess) = s.session.as_mut() {
            sess.redirect_url = Some("javascript:alert(1)".into());
        }
        assert_eq!(s.redirect_target(), None);
    }

    #[test]
    fn choosing_another_camera_reopens_it() {
        let g = at_guidance();
        let listed = g.reduce(Action::CamerasListed(vec![
            CameraChoice {
                device_id: "a".into(),
                label: "Front".into(),
            },
            CameraChoice {
                device_id: "b".into(),
                label: "Back".into(),
            },
        ]));
        assert_eq!(listed.cameras.len(), 2);
        let chosen = listed.reduce(Action::ChooseCamera("b".into()));
        assert_eq!(chosen.screen, Screen::CameraStarting);
        assert_eq!(chosen.chosen_camera.as_deref(), Some("b"));
        assert_eq!(chosen.camera_key(), Some(2));
    }
}
