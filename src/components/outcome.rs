//! The server's answer: success (and the way back when the page is not framed and has a
//! RedirectUrl), or the reason in words the person can act on
//! and "try again" while attempts are left.

use faceid_core::Locale;
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;
use crate::state::Outcome;

#[derive(Properties, PartialEq)]
pub struct OutcomeProps {
    pub locale: Locale,
    pub outcome: Outcome,
    pub on_try_again: Callback<()>,
    /// Follows the redirect.
    pub on_continue: Callback<String>,
}

#[function_component]
pub fn OutcomeScreen(props: &OutcomeProps) -> Html {
    let t = texts(props.locale);
    let o = &props.outcome;
    let heading = use_focused_heading(o.passed);
    let continue_button = o.redirect.clone().map(|url| {
        let on_continue = props.on_continue.clone();
        html! {
            <button type="button" class="fid-button fid-primary" onclick={move |_: MouseEvent| on_continue.emit(url.clone())}>
                { t.continue_label }
            </button>
        }
    });
    if o.passed {
        return html! {
            <section class="fid-screen fid-outcome fid-passed">
                <h1 class="fid-title" tabindex="-1" ref={heading}>{ t.passed_title }</h1>
                <div class="fid-mark" aria-hidden="true"></div>
                // Inside a frame or without a RedirectUrl nobody takes the person anywhere.
                <p class="fid-body" role="status">
                    { if o.redirect.is_some() { t.redirecting } else { t.passed_done } }
                </p>
                { continue_button.unwrap_or_default() }
            </section>
        };
    }
    html! {
        <section class="fid-screen fid-outcome fid-failed" role="alertdialog" aria-modal="true"
                 aria-labelledby="fid-outcome-title" aria-describedby="fid-outcome-body">
            <h1 id="fid-outcome-title" class="fid-title" tabindex="-1" ref={heading}>{ t.failed_title }</h1>
            <p id="fid-outcome-body" class="fid-body">{ o.code.message(props.locale) }</p>
            <p class="fid-code">{ format!("{}{}", t.code_prefix, o.code.code()) }</p>
            if o.can_try_again() {
                <p class="fid-body">{ format!("{}{}", t.retries_left_prefix, o.retries_left) }</p>
                <button type="button" class="fid-button fid-primary" onclick={props.on_try_again.reform(|_: MouseEvent| ())}>
                    { t.try_again }
                </button>
            } else {
                <p class="fid-body">{ t.no_retries_body }</p>
                { continue_button.unwrap_or_default() }
            }
        </section>
    }
}
