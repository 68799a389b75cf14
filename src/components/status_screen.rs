//! A screen that only says what is happening (loading, opening the camera).

use yew::prelude::*;

use super::hooks::use_focused_heading;

#[derive(Properties, PartialEq)]
pub struct StatusScreenProps {
    pub title: AttrValue,
    pub body: AttrValue,
}

#[function_component]
pub fn StatusScreen(props: &StatusScreenProps) -> Html {
    let heading = use_focused_heading(props.title.clone());
    html! {
        <section class="fid-screen fid-status" aria-busy="true">
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ props.title.clone() }</h1>
            <div class="fid-spinner" aria-hidden="true"></div>
            <p class="fid-body">{ props.body.clone() }</p>
        </section>
    }
}
