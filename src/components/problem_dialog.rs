//! A failure the person must read: an alert dialog with the reason, the result code and, when
//! something can be done, one button.

use faceid_core::{Locale, ResultCode};
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;

#[derive(Properties, PartialEq)]
pub struct ProblemDialogProps {
    pub locale: Locale,
    pub title: AttrValue,
    pub body: AttrValue,
    #[prop_or_default]
    pub code: Option<ResultCode>,
    /// The button's label; no button without it.
    #[prop_or_default]
    pub action_label: Option<AttrValue>,
    #[prop_or_default]
    pub on_action: Callback<()>,
}

#[function_component]
pub fn ProblemDialog(props: &ProblemDialogProps) -> Html {
    let t = texts(props.locale);
    let heading = use_focused_heading((props.title.clone(), props.code));
    let on_click = props.on_action.reform(|_: MouseEvent| ());
    html! {
        <section class="fid-screen fid-problem" role="alertdialog" aria-modal="true"
                 aria-labelledby="fid-problem-title" aria-describedby="fid-problem-body">
            <h1 id="fid-problem-title" class="fid-title" tabindex="-1" ref={heading}>{ props.title.clone() }</h1>
            <p id="fid-problem-body" class="fid-body">{ props.body.clone() }</p>
            if let Some(code) = props.code {
                <p class="fid-code">{ format!("{}{}", t.code_prefix, code.code()) }</p>
            }
            if let Some(label) = props.action_label.clone() {
                <button type="button" class="fid-button fid-primary" onclick={on_click}>{ label }</button>
            }
        </section>
    }
}
