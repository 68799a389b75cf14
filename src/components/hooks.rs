//! Hooks shared by the screens.

use web_sys::HtmlElement;
use yew::prelude::*;

/// A ref for the screen's heading, focused when the screen mounts and whenever `screen_key`
/// changes, so keyboard and screen-reader users land on each new screen's title.
#[hook]
pub fn use_focused_heading<K: PartialEq + 'static>(screen_key: K) -> NodeRef {
    let heading = use_node_ref();
    {
        let heading = heading.clone();
        use_effect_with(screen_key, move |_| {
            if let Some(element) = heading.cast::<HtmlElement>() {
                // Focus fails only on detached elements; nothing to do then.
                let _ = element.focus();
            }
        });
    }
    heading
}
