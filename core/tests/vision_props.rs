//! Property tests: frame validation, downscaling and the whole per-frame analysis never panic,
//! whatever sizes, strides, bytes, timestamps or detector output they are given.
#![cfg(not(target_arch = "wasm32"))]

use faceid_core::analysis::{FrameAnalyser, ANALYSIS_HEIGHT, ANALYSIS_WIDTH};
use faceid_core::face::FaceDetector;
use faceid_core::frame::{AnalysisImage, RgbaFrame};
use faceid_core::FaceBox;
use proptest::prelude::*;

/// A detector that replays arbitrary boxes (including non-finite and out-of-frame ones).
struct Replay(Vec<FaceBox>);

impl FaceDetector for Replay {
    fn detect(&mut self, _: &AnalysisImage) -> Vec<FaceBox> {
        self.0.clone()
    }
}

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -0.5f32..1.5,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(-f32::INFINITY),
        1 => Just(0.0f32),
        1 => any::<f32>(),
    ]
}

fn any_box() -> impl Strategy<Value = FaceBox> {
    (any_f32(), any_f32(), any_f32(), any_f32(), any_f32())
        .prop_map(|(x, y, w, h, score)| FaceBox { x, y, w, h, score })
}

/// A valid frame description: width, height, stride, and bytes to fill it (pseudo-random from a
/// seed, with some frames flat or striped so that tracking and detection paths are reached too).
fn frame_bytes(max_side: u32) -> impl Strategy<Value = (u32, u32, u32, Vec<u8>)> {
    (
        1..=max_side,
        1..=max_side,
        0u32..12,
        any::<u64>(),
        0u8..3,
        0usize..8,
    )
        .prop_map(|(w, h, pad, seed, kind, extra)| {
            let stride = w * 4 + pad;
            let len = (stride * (h - 1) + w * 4) as usize + extra;
            let mut x = seed | 1;
            let data = (0..len)
                .map(|i| match kind {
                    0 => {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    }
                    1 => (seed as u8).wrapping_add((i / 4 % 7) as u8 * 30),
                    _ => seed as u8,
                })
                .collect();
            (w, h, stride, data)
        })
}

fn any_time() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 0.0f64..1e6, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 1 => any::<f64>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn frame_new_never_panics(len in 0usize..4096, w in any::<u32>(), h in any::<u32>(), stride in any::<u32>(), small in any::<bool>()) {
        // Small sizes often enough to pass validation; arbitrary ones to probe overflow.
        let (w, h, stride) = if small { (w % 40, h % 40, stride % 200) } else { (w, h, stride) };
        let data = vec![7u8; len];
        if let Ok(f) = RgbaFrame::new(&data, w, h, stride) {
            prop_assert!(w > 0 && h > 0 && stride as u64 >= 4 * w as u64);
            prop_assert!(f.row(h - 1).is_some_and(|r| r.len() == 4 * w as usize));
            prop_assert!(f.row(h).is_none());
        }
    }

    #[test]
    fn downscale_never_panics_and_keeps_aspect((w, h, stride, data) in frame_bytes(400), max_w in 0u32..400, max_h in 0u32..300) {
        let f = RgbaFrame::new(&data, w, h, stride).unwrap();
        let mut img = AnalysisImage::new();
        match img.load(&f, max_w, max_h) {
            Ok(()) => {
                prop_assert!(img.width() >= 1 && img.width() <= max_w.min(w));
                prop_assert!(img.height() >= 1 && img.height() <= max_h.min(h));
                prop_assert_eq!(img.luma().len(), (img.width() * img.height()) as usize);
                prop_assert_eq!(img.rgb().len(), 3 * img.luma().len());
                // The aspect ratio is kept to within a pixel of rounding.
                let expected_h = img.width() as f64 * h as f64 / w as f64;
                prop_assert!((img.height() as f64 - expected_h).abs() <= 1.0 + h as f64 / w as f64 || img.height() == max_h.min(h) || img.width() == max_w.min(w));
            }
            Err(_) => prop_assert!(max_w == 0 || max_h == 0),
        }
    }

    #[test]
    fn analyse_never_panics_with_arbitrary_detector_output(
        frames in prop::collection::vec(frame_bytes(90), 1..4),
        boxes in prop::collection::vec(any_box(), 0..4),
        times in prop::collection::vec(any_time(), 4),
    ) {
        let mut a = FrameAnalyser::with_detector(Box::new(Replay(boxes)));
        for (k, (w, h, stride, data)) in frames.iter().enumerate() {
            let f = RgbaFrame::new(data, *w, *h, *stride).unwrap();
            let r = a.analyse(&f, times[k]).unwrap();
            prop_assert!(r.analysis_width <= ANALYSIS_WIDTH && r.analysis_height <= ANALYSIS_HEIGHT);
            prop_assert!((0.0..=1.0).contains(&r.quality.progress));
            if let Some(c) = r.sample.face {
                prop_assert!(c.is_finite());
            }
            if let Some(c) = r.sample.background {
                prop_assert!(c.is_finite());
            }
            prop_assert_eq!(r.face.is_none(), r.sample.face_box.is_none());
            // Repeat the frame: the tracking path runs on the same input.
            a.analyse(&f, times[k] + 33.0).unwrap();
        }
        a.reset();
    }
}

proptest! {
    // The real detector is the slow part: fewer cases, frames up to 130 px.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn analyse_with_the_real_detector_never_panics(frames in prop::collection::vec(frame_bytes(130), 1..3), t in any_time()) {
        let mut a = FrameAnalyser::new();
        for (w, h, stride, data) in &frames {
            let f = RgbaFrame::new(data, *w, *h, *stride).unwrap();
            let r = a.analyse(&f, t).unwrap();
            prop_assert_eq!(r.face_count == 0, r.face.is_none());
        }
    }
}
