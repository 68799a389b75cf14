//! The upload with a visible progress bar and what the network is doing.

use faceid_core::Locale;
use yew::prelude::*;

use super::hooks::use_focused_heading;
use crate::i18n::texts;
use crate::state::{UploadNote, Uploading};

#[derive(Properties, PartialEq)]
pub struct UploadProgressProps {
    pub locale: Locale,
    pub uploading: Uploading,
}

#[function_component]
pub fn UploadProgress(props: &UploadProgressProps) -> Html {
    let t = texts(props.locale);
    let heading = use_focused_heading(());
    let percent = (props.uploading.progress * 100.0).round().clamp(0.0, 100.0) as u32;
    let note = match props.uploading.note {
        UploadNote::None => t.uploading_body,
        UploadNote::Retrying => t.uploading_retrying,
        UploadNote::Offline => t.uploading_offline,
        UploadNote::Busy => t.uploading_busy,
    };
    html! {
        <section class="fid-screen fid-upload" aria-busy="true">
            <h1 class="fid-title" tabindex="-1" ref={heading}>{ t.uploading_title }</h1>
            <progress class="fid-progress" max="100" value={percent.to_string()} aria-label={t.uploading_title}></progress>
            <p class="fid-body" role="status" aria-live="polite">{ note }</p>
        </section>
    }
}
