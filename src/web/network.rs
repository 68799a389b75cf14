//! Timers and connectivity for the upload policy.

use gloo::timers::future::TimeoutFuture;

use super::events::next_event;
use crate::upload::UploadEnvironment;

/// The browser's clock and `navigator.onLine` / the `online` event.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserNetwork;

impl UploadEnvironment for BrowserNetwork {
    async fn sleep(&self, ms: u32) {
        TimeoutFuture::new(ms).await;
    }

    fn is_online(&self) -> bool {
        // Browsers without the flag are treated as online: a failed send still counts as a retry.
        web_sys::window()
            .map(|w| w.navigator().on_line())
            .unwrap_or(true)
    }

    async fn until_online(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        if window.navigator().on_line() {
            return;
        }
        // An error here means the listener could not be attached; carrying on retries at once.
        let _ = next_event(&window, "online").await;
    }
}
