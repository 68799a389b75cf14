//! What will happen, the photosensitivity notice (light mode) with a way to decline, and Start.

use faceid_core::protocol::LivenessMode;
use faceid_core::Locale;
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;

#[derive(Properties, PartialEq)]
pub struct IntroProps {
    pub locale: Locale,
    pub mode: LivenessMode,
    pub on_start: Callback<()>,
    pub on_decline: Callback<()>,
}

#[function_component]
pub fn Intro(props: &IntroProps) -> Html {
    let t = texts(props.locale);
    let heading = use_focused_heading(());
    let light = props.mode == LivenessMode::Light;
    html! {
        <section class="fid-screen fid-intro">
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ t.intro_title }</h1>
            <p class="fid-body">{ t.intro_lead }</p>
            <ol class="fid-steps">
                <li>{ t.intro_step_position }</li>
                <li>{ if light { t.intro_step_hold } else { t.intro_step_hold_silent } }</li>
                <li>{ t.intro_step_upload }</li>
            </ol>
            if light {
                <div class="fid-notice" role="note" aria-labelledby="fid-notice-title">
                    <h2 id="fid-notice-title" class="fid-subtitle">{ t.flash_notice_title }</h2>
                    <p>{ t.flash_notice_body }</p>
                </div>
            }
            <button type="button" class="fid-button fid-primary" onclick={props.on_start.reform(|_: MouseEvent| ())}>
                { t.start }
            </button>
            if light {
                <button type="button" class="fid-button fid-secondary" onclick={props.on_decline.reform(|_: MouseEvent| ())}>
                    { t.decline }
                </button>
            }
        </section>
    }
}
