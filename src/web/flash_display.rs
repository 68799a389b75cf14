//! The light challenge on screen: a full-viewport canvas painted with the server's colours, with
//! a transparent oval cut out over the face, driven by requestAnimationFrame. Each colour's display
//! time is the rAF timestamp of the frame it was first painted in.

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::challenge::{ColourChallenge, DisplayedColour};
use faceid_core::Rgb8;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, DomRect, HtmlCanvasElement};

use super::frame_loop::FrameLoop;
use crate::flash::{FlashFrame, FlashRun};

/// The oval left transparent, in CSS pixels of the viewport (normally the guide ellipse's box).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cutout {
    pub cx: f64,
    pub cy: f64,
    pub rx: f64,
    pub ry: f64,
}

impl Cutout {
    pub fn from_rect(rect: &DomRect) -> Cutout {
        Cutout {
            cx: rect.x() + rect.width() / 2.0,
            cy: rect.y() + rect.height() / 2.0,
            rx: rect.width() / 2.0,
            ry: rect.height() / 2.0,
        }
    }
}

/// What the display did.
#[derive(Clone, Debug, PartialEq)]
pub struct FlashResult {
    pub shown: Vec<DisplayedColour>,
    pub hold_start_ms: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("no 2d context on the overlay canvas")]
    NoContext,
    #[error("the display stopped before the sequence ended")]
    Stopped,
}

fn paint(
    canvas: &HtmlCanvasElement,
    context: &CanvasRenderingContext2d,
    colour: Rgb8,
    cutout: Option<Cutout>,
) {
    let window = web_sys::window();
    let width = window
        .as_ref()
        .and_then(|w| w.inner_width().ok())
        .and_then(|v| v.as_f64())
        .unwrap_or(1.0)
        .max(1.0);
    let height = window
        .as_ref()
        .and_then(|w| w.inner_height().ok())
        .and_then(|v| v.as_f64())
        .unwrap_or(1.0)
        .max(1.0);
    if canvas.width() != width as u32 || canvas.height() != height as u32 {
        canvas.set_width(width as u32);
        canvas.set_height(height as u32);
    }
    context.set_global_composite_operation("source-over").ok();
    context.set_fill_style_str(&colour.to_hex());
    context.fill_rect(0.0, 0.0, width, height);
    if let Some(c) = cutout {
        // Scale from CSS pixels of the viewport to canvas pixels (equal unless resized mid-frame).
        let (sx, sy) = (
            f64::from(canvas.width()) / width,
            f64::from(canvas.height()) / height,
        );
        context
            .set_global_composite_operation("destination-out")
            .ok();
        context.begin_path();
        if context
            .ellipse(
                c.cx * sx,
                c.cy * sy,
                c.rx * sx,
                c.ry * sy,
                0.0,
                0.0,
                std::f64::consts::TAU,
            )
            .is_ok()
        {
            context.set_fill_style_str("#000");
            context.fill();
        }
        context.set_global_composite_operation("source-over").ok();
    }
}

struct Shared {
    run: FlashRun,
    result: Option<FlashResult>,
    resolve: Option<js_sys::Function>,
}

/// A running flash sequence; dropping it stops the animation.
pub struct FlashDisplay {
    shared: Rc<RefCell<Shared>>,
    done: js_sys::Promise,
    frames: Option<FrameLoop>,
}

impl FlashDisplay {
    /// Starts painting `challenge` on `canvas`. `recorder_start_ms` is the recorder's start on the
    /// `performance.now()` clock; `cutout` is asked for the oval at each colour change;
    /// `on_shown` is told about each colour right after it was painted.
    pub fn start(
        canvas: HtmlCanvasElement,
        challenge: &ColourChallenge,
        recorder_start_ms: f64,
        cutout: impl Fn() -> Option<Cutout> + 'static,
        mut on_shown: impl FnMut(DisplayedColour) + 'static,
    ) -> Result<FlashDisplay, FlashError> {
        let context: CanvasRenderingContext2d = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| wasm_bindgen::JsCast::dyn_into(c).ok())
            .ok_or(FlashError::NoContext)?;
        let shared = Rc::new(RefCell::new(Shared {
            run: FlashRun::new(challenge, recorder_start_ms),
            result: None,
            resolve: None,
        }));
        let done = js_sys::Promise::new(&mut |resolve, _reject| {
            shared.borrow_mut().resolve = Some(resolve)
        });
        let weak = Rc::downgrade(&shared);
        let frames = FrameLoop::animation_frames(move |t| {
            let Some(shared) = weak.upgrade() else { return };
            let step = shared.borrow_mut().run.on_frame(t);
            match step {
                FlashFrame::Paint(colour) => {
                    paint(&canvas, &context, colour, cutout());
                    let last = shared.borrow().run.shown().last().copied();
                    if let Some(shown) = last {
                        on_shown(shown);
                    }
                }
                FlashFrame::Keep => {}
                FlashFrame::Finished => {
                    let mut s = shared.borrow_mut();
                    if s.result.is_none() {
                        s.result = Some(FlashResult {
                            shown: s.run.shown().to_vec(),
                            hold_start_ms: s.run.hold_start_ms(),
                        });
                        if let Some(resolve) = s.resolve.take() {
                            let _ = resolve.call0(&JsValue::NULL);
                        }
                    }
                }
            }
        });
        Ok(FlashDisplay {
            shared,
            done,
            frames: Some(frames),
        })
    }

    /// Resolves when the last colour's time is over.
    pub async fn finished(&mut self) -> Result<FlashResult, FlashError> {
        JsFuture::from(self.done.clone())
            .await
            .map_err(|_| FlashError::Stopped)?;
        self.frames.take();
        self.shared
            .borrow()
            .result
            .clone()
            .ok_or(FlashError::Stopped)
    }
}
