//! The person declined the light challenge.

use faceid_core::Locale;
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;

#[derive(Properties, PartialEq)]
pub struct DeclinedProps {
    pub locale: Locale,
    pub on_back: Callback<()>,
}

#[function_component]
pub fn Declined(props: &DeclinedProps) -> Html {
    let t = texts(props.locale);
    let heading = use_focused_heading(());
    html! {
        <section class="fid-screen fid-declined">
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ t.declined_title }</h1>
            <p class="fid-body">{ t.declined_body }</p>
            <button type="button" class="fid-button fid-secondary" onclick={props.on_back.reform(|_: MouseEvent| ())}>
                { t.back }
            </button>
        </section>
    }
}
