//! Picks the screen for the current state.

use std::rc::Rc;

use web_sys::MediaStream;
use yew::prelude::*;

use super::capture::{Capture, PreparedUpload};
use super::declined::Declined;
use super::intro::Intro;
use super::outcome::OutcomeScreen;
use super::problem_dialog::ProblemDialog;
use super::status_screen::StatusScreen;
use super::upload_progress::UploadProgress;
use crate::camera::CameraError;
use crate::i18n::{texts, Texts};
use crate::state::{Action, FlowState, Problem, Screen, TokenProblem};
use crate::web::frame_sampler::LandmarkModel;

#[derive(Properties, PartialEq)]
pub struct ScreenViewProps {
    pub state: Rc<FlowState>,
    pub dispatch: Callback<Action>,
    #[prop_or_default]
    pub stream: Option<MediaStream>,
    #[prop_or_default]
    pub on_recorded: Callback<PreparedUpload>,
    /// Follows a redirect (the outcome's Continue button).
    #[prop_or_default]
    pub on_continue: Callback<String>,
    #[prop_or_default]
    pub landmark_model: LandmarkModel,
}

/// Title and explanation of a camera failure.
pub fn camera_error_text(t: &Texts, e: &CameraError) -> (&'static str, &'static str) {
    match e {
        CameraError::PermissionDenied => (t.camera_denied_title, t.camera_denied_body),
        CameraError::NotFound => (t.camera_not_found_title, t.camera_not_found_body),
        CameraError::Overconstrained => (t.camera_unsuitable_title, t.camera_unsuitable_body),
        CameraError::Busy => (t.camera_busy_title, t.camera_busy_body),
        CameraError::Unsupported => (t.camera_unsupported_title, t.camera_unsupported_body),
        CameraError::Other(_) => (t.camera_failed_title, t.camera_failed_body),
    }
}

#[function_component]
pub fn ScreenView(props: &ScreenViewProps) -> Html {
    let state = &props.state;
    let locale = state.locale;
    let t = texts(locale);
    let send = |action: Action| props.dispatch.reform(move |_: ()| action.clone());
    match &state.screen {
        Screen::Loading => html! { <StatusScreen title={t.loading_title} body={t.loading_body} /> },
        Screen::BootFailed => html! {
            <ProblemDialog {locale} title={t.boot_failed_title} body={t.boot_failed_body}
                action_label={Some(AttrValue::from(t.retry))} on_action={send(Action::Boot)} />
        },
        Screen::TokenProblem(problem) => {
            let (title, body) = match problem {
                TokenProblem::Invalid => (t.token_invalid_title, t.token_invalid_body),
                TokenProblem::Finished => (t.token_finished_title, ""),
                TokenProblem::Expired => (t.token_expired_title, ""),
                TokenProblem::Exhausted => (t.token_exhausted_title, ""),
            };
            let code = problem.result_code();
            let body = code.map(|c| c.message(locale)).unwrap_or(body);
            html! { <ProblemDialog {locale} {title} {body} {code} /> }
        }
        Screen::Intro => html! {
            <Intro {locale} mode={state.mode()} on_start={send(Action::Start)} on_decline={send(Action::DeclineFlash)} />
        },
        Screen::Declined => html! {
            <Declined {locale} on_back={send(Action::BackToIntro)} redirect={state.redirect_target()}
                on_leave={props.on_continue.clone()} />
        },
        Screen::CameraStarting | Screen::Guidance(_) | Screen::Challenge(_) => html! {
            <Capture state={state.clone()} stream={props.stream.clone()} dispatch={props.dispatch.clone()}
                on_recorded={props.on_recorded.clone()} landmark_model={props.landmark_model.clone()} />
        },
        Screen::Uploading(uploading) => {
            html! { <UploadProgress {locale} uploading={uploading.clone()} /> }
        }
        Screen::Outcome(outcome) => html! {
            <OutcomeScreen {locale} outcome={outcome.clone()} on_try_again={send(Action::TryAgain)}
                on_continue={props.on_continue.clone()} />
        },
        Screen::Problem(problem) => {
            let code = Some(problem.result_code());
            let (title, body, action) = match problem {
                Problem::Camera(e) => {
                    let (title, body) = camera_error_text(t, e);
                    (title, body, t.retry)
                }
                Problem::Failure(faceid_core::ResultCode::Interrupted) => (
                    t.interrupted_title,
                    faceid_core::ResultCode::Interrupted.message(locale),
                    t.start_again,
                ),
                Problem::Failure(c) => (t.problem_title, c.message(locale), t.try_again),
            };
            html! {
                <ProblemDialog {locale} {title} {body} {code}
                    action_label={Some(AttrValue::from(action))} on_action={send(Action::TryAgain)} />
            }
        }
    }
}
