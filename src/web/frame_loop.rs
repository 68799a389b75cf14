//! A per-frame callback that cancels itself when dropped: requestVideoFrameCallback on a video
//! element where the browser has it (one call per camera frame), else requestAnimationFrame.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlVideoElement;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pacing {
    VideoFrames,
    AnimationFrames,
}

/// A camera frame is presented well within this long of its capture (pipelines add 1–3 frames).
const MAX_CAPTURE_LAG_MS: f64 = 1_000.0;

type FrameClosure = Closure<dyn FnMut(f64, JsValue)>;

struct Inner {
    video: Option<HtmlVideoElement>,
    pacing: Pacing,
    pending: Cell<Option<u32>>,
    stopped: Cell<bool>,
    in_callback: Cell<bool>,
    closure: RefCell<Option<FrameClosure>>,
}

impl Inner {
    fn schedule(&self) {
        if self.stopped.get() {
            return;
        }
        let closure = self.closure.borrow();
        let Some(closure) = closure.as_ref() else {
            return;
        };
        let callback: &Function = closure.as_ref().unchecked_ref();
        let id = match (self.pacing, &self.video) {
            (Pacing::VideoFrames, Some(video)) => {
                Reflect::get(video, &"requestVideoFrameCallback".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
                    .and_then(|f| f.call1(video, callback).ok())
                    .and_then(|id| id.as_f64())
            }
            _ => web_sys::window()
                .and_then(|w| w.request_animation_frame(callback).ok())
                .map(f64::from),
        };
        self.pending.set(id.map(|id| id as u32));
    }

    fn cancel(&self) {
        let Some(id) = self.pending.take() else {
            return;
        };
        match (self.pacing, &self.video) {
            (Pacing::VideoFrames, Some(video)) => {
                if let Some(cancel) = Reflect::get(video, &"cancelVideoFrameCallback".into())
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok())
                {
                    let _ = cancel.call1(video, &JsValue::from(id));
                }
            }
            _ => {
                if let Some(w) = web_sys::window() {
                    let _ = w.cancel_animation_frame(id as i32);
                }
            }
        }
    }
}

/// A running frame loop. `on_frame` receives the frame's timestamp on the `performance.now()`
/// clock: the camera's capture time where the browser reports it, else the frame's presentation time.
pub struct FrameLoop {
    inner: Rc<Inner>,
}

/// Whether `video` supports requestVideoFrameCallback.
pub fn has_video_frame_callback(video: &HtmlVideoElement) -> bool {
    Reflect::get(video, &"requestVideoFrameCallback".into())
        .map(|f| f.is_function())
        .unwrap_or(false)
}

impl FrameLoop {
    /// Calls `on_frame` once per new frame of `video`.
    pub fn video_frames(
        video: &HtmlVideoElement,
        on_frame: impl FnMut(f64) + 'static,
    ) -> FrameLoop {
        let pacing = if has_video_frame_callback(video) {
            Pacing::VideoFrames
        } else {
            Pacing::AnimationFrames
        };
        FrameLoop::start(Some(video.clone()), pacing, on_frame)
    }

    /// Calls `on_frame` once per display frame (requestAnimationFrame).
    pub fn animation_frames(on_frame: impl FnMut(f64) + 'static) -> FrameLoop {
        FrameLoop::start(None, Pacing::AnimationFrames, on_frame)
    }

    fn start(
        video: Option<HtmlVideoElement>,
        pacing: Pacing,
        mut on_frame: impl FnMut(f64) + 'static,
    ) -> FrameLoop {
        let inner = Rc::new(Inner {
            video,
            pacing,
            pending: Cell::new(None),
            stopped: Cell::new(false),
            in_callback: Cell::new(false),
            closure: RefCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let closure: FrameClosure = Closure::new(move |now: f64, metadata: JsValue| {
            let Some(inner) = weak.upgrade() else { return };
            inner.pending.set(None);
            if inner.stopped.get() {
                return;
            }
            // requestVideoFrameCallback metadata: captureTime is when the camera took the frame.
            // A value far from `now` is on some other clock (seen in older browsers): not used.
            let t = if metadata.is_object() {
                Reflect::get(&metadata, &"captureTime".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .filter(|c| (now - c).abs() <= MAX_CAPTURE_LAG_MS)
                    .unwrap_or(now)
            } else {
                now
            };
            inner.in_callback.set(true);
            on_frame(t);
            inner.in_callback.set(false);
            inner.schedule();
        });
        *inner.closure.borrow_mut() = Some(closure);
        inner.schedule();
        FrameLoop { inner }
    }

    /// Stops calling back (also done on drop).
    pub fn stop(&self) {
        self.inner.stopped.set(true);
        self.inner.cancel();
    }
}

impl Drop for FrameLoop {
    fn drop(&mut self) {
        self.stop();
        let closure = self
            .inner
            .closure
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.take());
        if self.inner.in_callback.get() {
            // Dropped from inside its own callback (e.g. the flash ended the loop): free the
            // closure after the callback has returned.
            wasm_bindgen_futures::spawn_local(async move { drop(closure) });
        } else {
            drop(closure);
        }
    }
}
