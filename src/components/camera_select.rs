//! Picking one of several cameras.

use faceid_core::Locale;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::i18n::texts;
use crate::state::CameraChoice;

#[derive(Properties, PartialEq)]
pub struct CameraSelectProps {
    pub locale: Locale,
    pub cameras: Vec<CameraChoice>,
    pub chosen: Option<String>,
    pub on_choose: Callback<String>,
}

#[function_component]
pub fn CameraSelect(props: &CameraSelectProps) -> Html {
    let t = texts(props.locale);
    let on_change = props.on_choose.reform(|e: Event| {
        e.target_dyn_into::<HtmlSelectElement>()
            .map(|s| s.value())
            .unwrap_or_default()
    });
    html! {
        <label class="fid-camera-select">
            <span>{ t.camera_select_label }</span>
            <select onchange={on_change}>
                { for props.cameras.iter().enumerate().map(|(i, c)| {
                    let label = if c.label.is_empty() { format!("{} {}", t.camera_unnamed, i + 1) } else { c.label.clone() };
                    let selected = props.chosen.as_deref() == Some(c.device_id.as_str());
                    html! { <option value={c.device_id.clone()} {selected}>{ label }</option> }
                }) }
            </select>
        </label>
    }
}
