//! The person declined the light challenge.

use faceid_core::Locale;
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;

#[derive(Properties, PartialEq)]
pub struct DeclinedProps {
    pub locale: Locale,
    pub on_back: Callback<()>,
    /// Where "back to the service" leads, if the business gave a RedirectUrl.
    #[prop_or_default]
    pub redirect: Option<String>,
    #[prop_or_default]
    pub on_leave: Callback<String>,
}

#[function_component]
pub fn Declined(props: &DeclinedProps) -> Html {
    let t = texts(props.locale);
    let heading = use_focused_heading(());
    html! {
        <section class="fid-screen fid-declined">
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ t.declined_title }</h1>
            <p class="fid-body">{ t.declined_body }</p>
            if let Some(url) = props.redirect.clone() {
                <button type="button" class="fid-button fid-primary"
                        onclick={props.on_leave.reform(move |_: MouseEvent| url.clone())}>
                    { t.back_to_service }
                </button>
            }
            <button type="button" class="fid-button fid-secondary" onclick={props.on_back.reform(|_: MouseEvent| ())}>
                { t.back }
            </button>
        </section>
    }
}
