//! Camera frame → analysis-size RGBA → `FrameAnalyser`. The canvas, its context and the pixel
//! buffer are created once and reused for every frame.

use std::rc::Rc;

use faceid_core::analysis::{FrameAnalyser, FrameAnalysis};
use faceid_core::frame::{FrameError, RgbaFrame};
use js_sys::{Object, Reflect, Uint8ClampedArray};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement};

use crate::media::analysis_size;

/// The landmark model as the page has it: fetched once when the page starts (`App`), handed to
/// the capture, which analyses no frame while it is still loading. Without it (the fetch failed)
/// faces are found by the detector alone, which mistakes some patterns for faces (FaceMesh's face
/// flag is what rules those out, as in MediaPipe's pipeline).
#[derive(Clone, Debug, Default)]
pub enum LandmarkModel {
    #[default]
    Loading,
    Ready(Rc<[u8]>),
    Unavailable,
}

impl PartialEq for LandmarkModel {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LandmarkModel::Ready(a), LandmarkModel::Ready(b)) => Rc::ptr_eq(a, b),
            (LandmarkModel::Loading, LandmarkModel::Loading)
            | (LandmarkModel::Unavailable, LandmarkModel::Unavailable) => true,
            _ => false,
        }
    }
}

impl LandmarkModel {
    /// The analyser for this model: with landmarks when the model is ready and valid, else the
    /// detector alone; None while the model is still loading.
    pub fn analyser(&self) -> Option<FrameAnalyser> {
        match self {
            LandmarkModel::Loading => None,
            LandmarkModel::Ready(model) => Some(
                FrameAnalyser::with_landmark_model(model).unwrap_or_else(|e| {
                    web_sys::console::warn_1(
                        &format!("faceid-h5: landmark model unusable ({e}); detector only").into(),
                    );
                    FrameAnalyser::new()
                }),
            ),
            LandmarkModel::Unavailable => Some(FrameAnalyser::new()),
        }
    }
}

/// `HTMLMediaElement.HAVE_CURRENT_DATA`: a frame can be drawn.
const HAVE_CURRENT_DATA: u16 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("no document or canvas context")]
    NoCanvas,
    #[error("drawing the frame failed: {0}")]
    Draw(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

pub struct FrameSampler {
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    pixels: Vec<u8>,
    size: (u32, u32),
    analyser: FrameAnalyser,
}

impl FrameSampler {
    pub fn with_analyser(analyser: FrameAnalyser) -> Result<FrameSampler, SamplerError> {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or(SamplerError::NoCanvas)?;
        let canvas: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(|_| SamplerError::NoCanvas)?
            .dyn_into()
            .map_err(|_| SamplerError::NoCanvas)?;
        let options = Object::new();
        // Tells the browser the pixels are read back every frame (keeps the canvas on the CPU).
        let _ = Reflect::set(&options, &"willReadFrequently".into(), &JsValue::TRUE);
        let context: CanvasRenderingContext2d = canvas
            .get_context_with_context_options("2d", &options)
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into().ok())
            .ok_or(SamplerError::NoCanvas)?;
        Ok(FrameSampler {
            canvas,
            context,
            pixels: Vec::new(),
            size: (0, 0),
            analyser,
        })
    }

    pub fn analyser_mut(&mut self) -> &mut FrameAnalyser {
        &mut self.analyser
    }

    /// The size frames are analysed at (0x0 before the first frame).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Draws the current frame of `video` at analysis size and analyses it. None while the video
    /// has no frame yet.
    pub fn sample(
        &mut self,
        video: &HtmlVideoElement,
        t_ms: f64,
    ) -> Result<Option<FrameAnalysis>, SamplerError> {
        if video.ready_state() < HAVE_CURRENT_DATA
            || video.video_width() == 0
            || video.video_height() == 0
        {
            return Ok(None);
        }
        let (w, h) = analysis_size(video.video_width(), video.video_height());
        if (w, h) != self.size {
            self.canvas.set_width(w);
            self.canvas.set_height(h);
            self.pixels.resize(w as usize * h as usize * 4, 0);
            self.size = (w, h);
        }
        self.context
            .draw_image_with_html_video_element_and_dw_and_dh(
                video,
                0.0,
                0.0,
                f64::from(w),
                f64::from(h),
            )
            .map_err(|e| SamplerError::Draw(super::describe(&e)))?;
        let image = self
            .context
            .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
            .map_err(|e| SamplerError::Draw(super::describe(&e)))?;
        // Copy straight from the JS pixel array into the reused buffer (ImageData::data() would
        // allocate a fresh Vec every frame).
        let data: Uint8ClampedArray = Reflect::get(&image, &"data".into())
            .map_err(|e| SamplerError::Draw(super::describe(&e)))?
            .unchecked_into();
        if data.length() as usize != self.pixels.len() {
            return Err(SamplerError::Draw("unexpected ImageData size".into()));
        }
        data.copy_to(&mut self.pixels);
        let frame = RgbaFrame::packed(&self.pixels, w, h)?;
        Ok(Some(self.analyser.analyse(&frame, t_ms)?))
    }
}
