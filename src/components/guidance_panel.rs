//! The live hint under the preview: announced when it changes, progress toward ready, the
//! sideways-phone hint, advice when it takes long, and the camera selector.

use faceid_core::Locale;
use yew::prelude::*;

use super::camera_select::CameraSelect;
use crate::i18n::texts;
use crate::state::{CameraChoice, Guidance};

#[derive(Properties, PartialEq)]
pub struct GuidancePanelProps {
    pub locale: Locale,
    pub guidance: Guidance,
    pub landscape: bool,
    pub cameras: Vec<CameraChoice>,
    pub chosen: Option<String>,
    pub on_choose: Callback<String>,
}

#[function_component]
pub fn GuidancePanel(props: &GuidancePanelProps) -> Html {
    let t = texts(props.locale);
    let g = &props.guidance;
    let hint = match (g.analysing, g.hint) {
        (false, _) => t.guidance_starting,
        (true, Some(hint)) => hint.message(props.locale),
        (true, None) => t.guidance_good,
    };
    let percent = (g.progress * 100.0).round().clamp(0.0, 100.0) as u32;
    html! {
        <div class="fid-panel">
            <p class="fid-hint" role="status" aria-live="polite" aria-atomic="true">{ hint }</p>
            <progress class="fid-progress" max="100" value={percent.to_string()} aria-label={t.guidance_progress_label}></progress>
            if props.landscape {
                <p class="fid-note">{ t.landscape_hint }</p>
            }
            if g.face_lost {
                <p class="fid-note">{ t.face_lost_notice }</p>
            }
            if g.slow {
                <p class="fid-advice">{ t.slow_advice }</p>
            }
            if props.cameras.len() > 1 {
                <CameraSelect locale={props.locale} cameras={props.cameras.clone()} chosen={props.chosen.clone()}
                              on_choose={props.on_choose.clone()} />
            }
        </div>
    }
}
