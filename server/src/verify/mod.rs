//! Verifying an uploaded recording against the challenge the server issued.
//!
//! ffmpeg (RGBA frames at analysis size with their presentation times and the video's own size) →
//! `FrameAnalyser` per frame (face, regions) → `ReflectionDecoder` against the issued challenge on
//! the timeline [`timeline::choose`] picks. The sharpest well-lit single-face frame is kept as a
//! JPEG. Blocking and CPU-heavy: run it on a blocking thread, bounded by a semaphore.

pub mod ffmpeg;
pub mod timeline;

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use faceid_core::analysis::{face_region, FrameAnalyser, ANALYSIS_HEIGHT, ANALYSIS_WIDTH};
use faceid_core::challenge::ColourChallenge;
use faceid_core::frame::{PixelRect, RgbaFrame};
use faceid_core::protocol::UploadReport;
use faceid_core::quality::QualityHint;
use faceid_core::reflection::{DecodeReport, ReflectionDecoder, ReflectionSample};
use faceid_core::ResultCode;

use ffmpeg::DecodeError;
pub use ffmpeg::MediaTools;
pub use timeline::TimelineSource;

/// PROTOCOL.md §3 code 1108 / §5: videos below 320×240 (either orientation) are refused.
pub const MIN_VIDEO_LONG_SIDE: u32 = 320;
pub const MIN_VIDEO_SHORT_SIDE: u32 = 240;
/// PROTOCOL.md §5: light mode needs at least 2 s of frames (else 1303).
pub const MIN_RECORDING_MS: f64 = 2_000.0;
/// Frames analysed at most: 20 s at 30 fps. A light challenge lasts under 4 s; an upload within
/// 8 MB could otherwise carry hours of tiny frames.
pub const MAX_FRAMES: usize = 600;
/// JPEG quality of the stored best frame: visually clean at analysis size, ~15 KB.
pub const BEST_FRAME_JPEG_QUALITY: u8 = 90;
/// Mean face luma the best frame aims for (mid-grey in 8-bit sRGB).
const BEST_FRAME_TARGET_LUMA: f32 = 128.0;

/// What verifying one upload found.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyOutcome {
    pub code: ResultCode,
    pub score: Option<f32>,
    pub delay_ms: Option<f32>,
    pub best_frame: Option<BestFrame>,
    pub frames: usize,
    /// The video's own frame size (display orientation), once a frame was decoded.
    pub video_size: Option<(u32, u32)>,
    pub timeline: Option<TimelineSource>,
    /// Why the page's log was not used as it stands (None when it was, or no decode ran).
    pub log_problem: Option<String>,
    /// Engine error detail for the server log (never shown to the person).
    pub detail: Option<String>,
    /// The light decoder's figures and the rule that decided (None when it did not run).
    pub decode: Option<DecodeReport>,
}

impl VerifyOutcome {
    pub(crate) fn refused(code: ResultCode, detail: impl Into<String>) -> VerifyOutcome {
        VerifyOutcome {
            code,
            score: None,
            delay_ms: None,
            best_frame: None,
            frames: 0,
            video_size: None,
            timeline: None,
            log_problem: None,
            detail: Some(detail.into()),
            decode: None,
        }
    }
}

/// The kept best frame.
#[derive(Clone, Debug, PartialEq)]
pub struct BestFrame {
    pub jpeg: Vec<u8>,
    pub score: f32,
    pub t_ms: f64,
}

/// The verification engine's settings.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub tools: MediaTools,
    pub decoder: ReflectionDecoder,
    /// The whole engine (decode + analysis + decoder) must finish within this, else 1001.
    pub time_limit: Duration,
}

impl Verifier {
    pub fn new(tools: MediaTools, time_limit: Duration) -> Verifier {
        Verifier {
            tools,
            decoder: ReflectionDecoder::default(),
            time_limit,
        }
    }

    /// Verifies the recording at `video` against `challenge` (the one the server issued).
    pub fn verify(
        &self,
        video: &Path,
        challenge: &ColourChallenge,
        report: Option<&UploadReport>,
    ) -> VerifyOutcome {
        let deadline = Instant::now() + self.time_limit;
        let mut analyser = FrameAnalyser::with_embedded_landmarks();
        let mut samples: Vec<ReflectionSample> = Vec::with_capacity(MAX_FRAMES);
        let mut best = BestFrameKeeper::default();
        let mut frame_error: Option<String> = None;
        let mut source: Option<(u32, u32)> = None;
        // The first frame's size may refuse the whole video (too small, or above PROTOCOL.md §5).
        let mut size_refusal: Option<(ResultCode, String)> = None;
        let decoded = ffmpeg::decode_rgba(
            &self.tools,
            video,
            ANALYSIS_WIDTH,
            ANALYSIS_HEIGHT,
            deadline,
            &mut |info, rgba| {
                if source.is_none() {
                    source = Some((info.source_width, info.source_height));
                    let (width, height) = (info.source_width, info.source_height);
                    let long = width.max(height);
                    let short = width.min(height);
                    if !ffmpeg::within_size_limit(width, height) {
                        let why = ffmpeg::Undecodable::TooLarge { width, height };
                        size_refusal = Some((ResultCode::VideoUndecodable, why.to_string()));
                        return ControlFlow::Break(());
                    }
                    if long < MIN_VIDEO_LONG_SIDE || short < MIN_VIDEO_SHORT_SIDE {
                        size_refusal = Some((
                            ResultCode::VideoResolutionTooLow,
                            format!("{width}x{height}"),
                        ));
                        return ControlFlow::Break(());
                    }
                }
                if samples.len() >= MAX_FRAMES {
                    return ControlFlow::Break(());
                }
                let frame = match RgbaFrame::new(rgba, info.width, info.height, info.width * 4) {
                    Ok(f) => f,
                    Err(e) => {
                        frame_error = Some(e.to_string());
                        return ControlFlow::Break(());
                    }
                };
                match analyser.analyse(&frame, info.t_ms) {
                    Ok(a) => {
                        samples.push(a.sample);
                        if let (Some(face), 1) = (a.face, a.face_count) {
                            best.offer(
                                &analyser,
                                &face,
                                matches!(a.quality.hint, None | Some(QualityHint::HoldStill)),
                                info.t_ms,
                            );
                        }
                        ControlFlow::Continue(())
                    }
                    Err(e) => {
                        frame_error = Some(e.to_string());
                        ControlFlow::Break(())
                    }
                }
            },
        );
        if let Some((code, detail)) = size_refusal {
            let mut o = VerifyOutcome::refused(code, detail);
            o.video_size = source;
            return o;
        }
        let mut outcome = match decoded {
            Ok(_) => VerifyOutcome::refused(ResultCode::LivenessFailed, String::new()),
            Err(e) => {
                return VerifyOutcome {
                    video_size: source,
                    ..VerifyOutcome::refused(decode_error_code(&e), e.to_string())
                }
            }
        };
        outcome.detail = None;
        outcome.video_size = source;
        outcome.frames = samples.len();
        outcome.best_frame = best.encode();
        if let Some(e) = frame_error {
            outcome.code = ResultCode::VideoUndecodable;
            outcome.detail = Some(e);
            return outcome;
        }

        let first = samples.iter().map(|s| s.t_ms).fold(f64::INFINITY, f64::min);
        let last = samples
            .iter()
            .map(|s| s.t_ms)
            .fold(f64::NEG_INFINITY, f64::max);
        let span = last - first;
        if span.is_nan() || span < MIN_RECORDING_MS {
            outcome.code = ResultCode::RecordingTooShort;
            outcome.detail = Some(format!(
                "{} frames over {:.0} ms",
                samples.len(),
                (last - first).max(0.0)
            ));
            return outcome;
        }
        if samples.iter().all(|s| s.face.is_none()) {
            outcome.code = ResultCode::NoCompleteFace;
            return outcome;
        }
        let (shown, hold_start) = match report {
            Some(r) => (r.shown.as_slice(), r.hold_start_ms),
            None => (&[][..], None),
        };
        let Some((timeline, source, mismatch)) =
            timeline::choose(challenge, shown, hold_start, first, last)
        else {
            outcome.code = ResultCode::LivenessFailed;
            outcome.detail = Some("no usable display timeline in the report".into());
            return outcome;
        };
        outcome.timeline = Some(source);
        outcome.log_problem = mismatch.map(|m| m.to_string());
        let (verdict, decode) = self.decoder.decode_with_report(&samples, &timeline);
        outcome.code = verdict.code;
        outcome.score = Some(verdict.score);
        outcome.delay_ms = Some(verdict.delay_ms);
        outcome.decode = Some(decode);
        outcome
    }
}

/// The person-facing code of a decoding failure.
fn decode_error_code(e: &DecodeError) -> ResultCode {
    match e {
        DecodeError::Timeout => ResultCode::EngineTimeout,
        DecodeError::Undecodable(_) => ResultCode::VideoUndecodable,
        // The tools are missing, the scratch file vanished or the pipe broke: the server's fault.
        DecodeError::Spawn { .. } | DecodeError::Io(_) => ResultCode::InternalError,
    }
}

/// Keeps a copy of the best-scoring frame (sharp, well exposed, one frontal face inside the guide)
/// in one reused buffer.
#[derive(Default)]
struct BestFrameKeeper {
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    score: f32,
    t_ms: f64,
}

impl BestFrameKeeper {
    fn offer(
        &mut self,
        analyser: &FrameAnalyser,
        face: &faceid_core::FaceBox,
        well_placed: bool,
        t_ms: f64,
    ) {
        let image = analyser.image();
        let (w, h) = (image.width(), image.height());
        let sharpness = image.sharpness(PixelRect::from_face_box(face, w, h));
        let stats = image.luma_stats(face_region(face, w, h), None);
        let exposure = (1.0 - (stats.mean - BEST_FRAME_TARGET_LUMA).abs() / BEST_FRAME_TARGET_LUMA)
            .clamp(0.0, 1.0)
            * (1.0 - stats.clipped).clamp(0.0, 1.0);
        // The detector is frontal-only; a face the quality gate accepts is also centred and sized.
        let placement = if well_placed { 1.0 } else { 0.5 };
        let score = sharpness * exposure * placement;
        if !score.is_finite() || score <= self.score {
            return;
        }
        self.score = score;
        self.t_ms = t_ms;
        self.width = w;
        self.height = h;
        self.rgb.clear();
        self.rgb.extend_from_slice(image.rgb());
    }

    fn encode(&self) -> Option<BestFrame> {
        if self.rgb.is_empty() {
            return None;
        }
        let (w, h) = (
            u16::try_from(self.width).ok()?,
            u16::try_from(self.height).ok()?,
        );
        let mut jpeg = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut jpeg, BEST_FRAME_JPEG_QUALITY);
        encoder
            .encode(&self.rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .ok()?;
        Some(BestFrame {
            jpeg,
            score: self.score,
            t_ms: self.t_ms,
        })
    }
}
