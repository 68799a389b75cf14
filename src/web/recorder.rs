//! MediaRecorder: the first supported MIME type, about 1 Mbit/s, at most 640x480 (downscaled
//! through a canvas stream when the camera delivers more). Dropping a [`Recorder`] stops it and
//! its downscaler without delivering anything.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use faceid_core::ResultCode;
use gloo::events::EventListener;
use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Blob, BlobEvent, BlobPropertyBag, CanvasRenderingContext2d, HtmlCanvasElement,
    HtmlVideoElement, MediaRecorder, MediaRecorderOptions, MediaStream, MediaStreamTrack,
    RecordingState,
};

use super::camera::stop_tracks;
use super::events::next_event;
use super::frame_loop::FrameLoop;
use crate::media::{
    choose_recorder_mime, recording_size, RECORDER_BITS_PER_SECOND, RECORDING_FRAME_RATE,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecorderError {
    #[error("this browser has no MediaRecorder")]
    NoMediaRecorder,
    #[error("no supported recording format")]
    NoFormat,
    #[error("the stream has no video track")]
    NoVideo,
    #[error("recorder failed: {0}")]
    Failed(String),
    #[error("the recording is empty")]
    Empty,
}

impl RecorderError {
    pub fn result_code(&self) -> ResultCode {
        match self {
            RecorderError::Empty => ResultCode::VideoEmptyOrTooLarge,
            RecorderError::NoMediaRecorder
            | RecorderError::NoFormat
            | RecorderError::NoVideo
            | RecorderError::Failed(_) => ResultCode::CannotRecord,
        }
    }
}

/// A finished recording.
#[derive(Debug, Clone)]
pub struct Recording {
    pub blob: Blob,
    pub mime: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

impl crate::api::VideoPayload for Recording {
    fn byte_len(&self) -> u64 {
        self.bytes
    }
}

/// Whether MediaRecorder exists here.
pub fn has_media_recorder() -> bool {
    web_sys::window()
        .map(|w| Reflect::has(&w, &"MediaRecorder".into()).unwrap_or(false))
        .unwrap_or(false)
}

/// The MIME type this browser will record in, if any.
pub fn supported_mime() -> Option<&'static str> {
    if !has_media_recorder() {
        return None;
    }
    choose_recorder_mime(MediaRecorder::is_type_supported)
}

/// Copies the camera into a smaller canvas whose stream is recorded instead.
struct Downscaler {
    stream: MediaStream,
    _frames: FrameLoop,
}

impl Drop for Downscaler {
    fn drop(&mut self) {
        stop_tracks(&self.stream);
    }
}

fn downscaler(
    video: &HtmlVideoElement,
    width: u32,
    height: u32,
) -> Result<Downscaler, RecorderError> {
    let fail = |e: JsValue| RecorderError::Failed(super::describe(&e));
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or(RecorderError::NoVideo)?;
    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .map_err(fail)?
        .unchecked_into();
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(fail)?
        .ok_or_else(|| RecorderError::Failed("no 2d context".into()))?
        .unchecked_into();
    let stream = canvas
        .capture_stream_with_frame_request_rate(RECORDING_FRAME_RATE)
        .map_err(fail)?;
    let video = video.clone();
    let (w, h) = (f64::from(width), f64::from(height));
    let frames = FrameLoop::video_frames(&video.clone(), move |_| {
        // A frame that fails to draw is simply missing from the recording.
        let _ = context.draw_image_with_html_video_element_and_dw_and_dh(&video, 0.0, 0.0, w, h);
    });
    Ok(Downscaler {
        stream,
        _frames: frames,
    })
}

/// A running recording.
pub struct Recorder {
    recorder: MediaRecorder,
    mime: String,
    size: (u32, u32),
    chunks: Rc<RefCell<Vec<Blob>>>,
    started_at: Rc<Cell<Option<f64>>>,
    _listeners: Vec<EventListener>,
    _downscaler: Option<Downscaler>,
}

impl Recorder {
    /// Starts recording the video of `stream` (shown in `video`, used as the downscaler's source).
    pub fn start(
        stream: &MediaStream,
        video: &HtmlVideoElement,
    ) -> Result<Recorder, RecorderError> {
        if !has_media_recorder() {
            return Err(RecorderError::NoMediaRecorder);
        }
        let mime = supported_mime().ok_or(RecorderError::NoFormat)?;
        let track: MediaStreamTrack = stream
            .get_video_tracks()
            .get(0)
            .dyn_into()
            .map_err(|_| RecorderError::NoVideo)?;
        let settings = track.get_settings();
        let camera_size = (
            settings
                .get_width()
                .map(|w| w.max(0) as u32)
                .unwrap_or(video.video_width()),
            settings
                .get_height()
                .map(|h| h.max(0) as u32)
                .unwrap_or(video.video_height()),
        );
        let (size, needs_downscale) = recording_size(camera_size.0, camera_size.1);
        let downscaler = if needs_downscale {
            Some(downscaler(video, size.0, size.1)?)
        } else {
            None
        };
        // `Clone::clone`, not `MediaStream::clone`: the JS method copies the tracks, and a copied
        // track would outlive the handles that stop the originals.
        let source = downscaler
            .as_ref()
            .map(|d| Clone::clone(&d.stream))
            .unwrap_or_else(|| {
                // Record the video only: a camera stream never carries audio here, but be explicit.
                MediaStream::new_with_tracks(&Array::of1(&track))
                    .unwrap_or_else(|_| Clone::clone(stream))
            });

        let options = MediaRecorderOptions::new();
        options.set_mime_type(mime);
        options.set_video_bits_per_second(RECORDER_BITS_PER_SECOND);
        let recorder =
            MediaRecorder::new_with_media_stream_and_media_recorder_options(&source, &options)
                .map_err(|e| RecorderError::Failed(super::describe(&e)))?;

        let chunks: Rc<RefCell<Vec<Blob>>> = Rc::default();
        let started_at: Rc<Cell<Option<f64>>> = Rc::default();
        let on_data = {
            let chunks = chunks.clone();
            EventListener::new(&recorder, "dataavailable", move |event| {
                if let Some(blob) = event.dyn_ref::<BlobEvent>().and_then(|e| e.data()) {
                    if blob.size() > 0.0 {
                        chunks.borrow_mut().push(blob);
                    }
                }
            })
        };
        let on_start = {
            let started_at = started_at.clone();
            EventListener::once(&recorder, "start", move |_| {
                started_at.set(Some(super::now_ms()))
            })
        };
        recorder
            .start()
            .map_err(|e| RecorderError::Failed(super::describe(&e)))?;
        Ok(Recorder {
            recorder,
            mime: mime.to_string(),
            size,
            chunks,
            started_at,
            _listeners: vec![on_data, on_start],
            _downscaler: downscaler,
        })
    }

    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// The recorded frame size.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Resolves with the `performance.now()` time the recorder started (its clock's zero).
    pub async fn started(&self) -> Result<f64, RecorderError> {
        if let Some(t) = self.started_at.get() {
            return Ok(t);
        }
        let event = next_event(&self.recorder, "start")
            .await
            .map_err(|e| RecorderError::Failed(super::describe(&e)))?;
        // Our own `start` listener was registered first and has already run.
        Ok(self.started_at.get().unwrap_or_else(|| event.time_stamp()))
    }

    /// Stops and returns the recording.
    pub async fn finish(self) -> Result<Recording, RecorderError> {
        if self.recorder.state() != RecordingState::Inactive {
            let stopped = next_event(&self.recorder, "stop");
            self.recorder
                .stop()
                .map_err(|e| RecorderError::Failed(super::describe(&e)))?;
            stopped
                .await
                .map_err(|e| RecorderError::Failed(super::describe(&e)))?;
        }
        let parts = Array::new();
        for chunk in self.chunks.borrow().iter() {
            parts.push(chunk);
        }
        let bag = BlobPropertyBag::new();
        bag.set_type(&self.mime);
        let blob = Blob::new_with_blob_sequence_and_options(&parts, &bag)
            .map_err(|e| RecorderError::Failed(super::describe(&e)))?;
        let bytes = blob.size().max(0.0) as u64;
        if bytes == 0 {
            return Err(RecorderError::Empty);
        }
        Ok(Recording {
            blob,
            mime: self.mime.clone(),
            bytes,
            width: self.size.0,
            height: self.size.1,
        })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.recorder.state() != RecordingState::Inactive {
            let _ = self.recorder.stop();
        }
    }
}
