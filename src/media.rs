//! Sizes and formats of what the page captures: the analysis frame, the recording, its MIME type.

use faceid_core::analysis::{ANALYSIS_HEIGHT, ANALYSIS_WIDTH};

/// Recorder MIME types in order of preference: H.264 MP4 first (Safari/iOS WeChat and the most
/// compact for the server's ffmpeg), then VP8 WebM, then whatever WebM the browser picks.
pub const RECORDER_MIME_PREFERENCE: [&str; 3] = [
    "video/mp4;codecs=avc1",
    "video/webm;codecs=vp8",
    "video/webm",
];
/// PROTOCOL.md §5 recommends about 1 Mbit/s; 4 s of it is ~0.5 MB, far below the 8 MB cap.
pub const RECORDER_BITS_PER_SECOND: u32 = 1_000_000;
/// The largest recording we send (PROTOCOL.md §5 recommends 320–480 wide; 640x480 keeps detail for the server).
pub const MAX_RECORDING_WIDTH: u32 = 640;
pub const MAX_RECORDING_HEIGHT: u32 = 480;
/// Frame rate of the downscaling canvas stream (matches the ideal camera rate).
pub const RECORDING_FRAME_RATE: f64 = 30.0;

/// The first MIME type of [`RECORDER_MIME_PREFERENCE`] the browser can record.
pub fn choose_recorder_mime(is_supported: impl Fn(&str) -> bool) -> Option<&'static str> {
    RECORDER_MIME_PREFERENCE
        .iter()
        .copied()
        .find(|m| is_supported(m))
}

/// The largest size with the aspect ratio of `width`x`height` that fits in `max_w`x`max_h`, never
/// larger than the source and at least 1x1 (even sizes, which video encoders need).
pub fn fit_within(width: u32, height: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (max_w.max(1), max_h.max(1));
    }
    if width <= max_w && height <= max_h {
        return (width, height);
    }
    let scale = (max_w as f64 / width as f64).min(max_h as f64 / height as f64);
    let even = |v: f64| ((v.floor() as u32) & !1).max(2);
    (
        even(width as f64 * scale).min(max_w),
        even(height as f64 * scale).min(max_h),
    )
}

/// The size a camera frame is drawn at for `FrameAnalyser` (at or below ANALYSIS_WIDTH x ANALYSIS_HEIGHT).
pub fn analysis_size(video_width: u32, video_height: u32) -> (u32, u32) {
    fit_within(video_width, video_height, ANALYSIS_WIDTH, ANALYSIS_HEIGHT)
}

/// The recording size for a camera delivering `width`x`height`, and whether it must be downscaled.
pub fn recording_size(width: u32, height: u32) -> ((u32, u32), bool) {
    let size = fit_within(width, height, MAX_RECORDING_WIDTH, MAX_RECORDING_HEIGHT);
    (size, size != (width, height))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn mime_preference_order() {
        assert_eq!(
            choose_recorder_mime(|_| true),
            Some("video/mp4;codecs=avc1")
        );
        assert_eq!(
            choose_recorder_mime(|m| m.starts_with("video/webm")),
            Some("video/webm;codecs=vp8")
        );
        assert_eq!(
            choose_recorder_mime(|m| m == "video/webm"),
            Some("video/webm")
        );
        assert_eq!(choose_recorder_mime(|_| false), None);
    }

    #[test]
    fn sizes_keep_aspect_and_limits() {
        assert_eq!(analysis_size(640, 480), (ANALYSIS_WIDTH, ANALYSIS_HEIGHT));
        assert_eq!(analysis_size(1280, 720), (320, 180));
        assert_eq!(analysis_size(160, 120), (160, 120));
        assert_eq!(recording_size(640, 480), ((640, 480), false));
        assert_eq!(recording_size(1920, 1080), ((640, 360), true));
        assert_eq!(recording_size(1080, 1920), ((270 & !1, 480), true));
        let (w, h) = analysis_size(0, 0);
        assert!(w > 0 && h > 0);
    }
}
