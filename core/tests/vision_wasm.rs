//! The frame analysis behaves the same in the browser as natively: the same checks on the astronaut
//! photo run under `cargo test` and, compiled to wasm32, in headless Chromium
//! (`wasm-pack test --headless --chrome core --test vision_wasm`). The BlazeFace model is embedded
//! in the wasm module exactly as in the native build.

use faceid_core::analysis::{FrameAnalyser, FrameAnalysis};
use faceid_core::frame::RgbaFrame;
use faceid_core::quality::{OvalGuide, QualityHint};

static ASTRONAUT: &[u8] = include_bytes!("../../../shared/data/faces/astronaut.png");

const W: u32 = 640;
const H: u32 = 480;
/// Face centre and width in astronaut.png pixels (as in tests/vision.rs).
const FACE_CENTRE: (f32, f32) = (225.0, 117.0);
const FACE_WIDTH: f32 = 98.0;

fn decode() -> (u32, u32, Vec<u8>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(ASTRONAUT));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type.samples(), 3, "astronaut.png is RGB");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The photo scaled so that the face is `fill` × the default oval's width, centred at `at`.
fn placed(photo: &(u32, u32, Vec<u8>), at: (f32, f32), fill: f32) -> Vec<u8> {
    let (pw, ph, rgb) = photo;
    let scale = fill * 2.0 * OvalGuide::default().rx * W as f32 / FACE_WIDTH;
    let mut out = vec![255u8; (W * H * 4) as usize];
    for y in 0..H {
        for x in 0..W {
            let px = (FACE_CENTRE.0 + (x as f32 + 0.5 - at.0 * W as f32) / scale)
                .clamp(0.0, (pw - 1) as f32) as u32;
            let py = (FACE_CENTRE.1 + (y as f32 + 0.5 - at.1 * H as f32) / scale)
                .clamp(0.0, (ph - 1) as f32) as u32;
            let (i, j) = (((y * W + x) * 4) as usize, ((py * pw + px) * 3) as usize);
            out[i..i + 3].copy_from_slice(&rgb[j..j + 3]);
        }
    }
    out
}

fn analyse(a: &mut FrameAnalyser, rgba: &[u8], t: f64) -> FrameAnalysis {
    a.analyse(&RgbaFrame::packed(rgba, W, H).unwrap(), t)
        .unwrap()
}

fn check_analysis() {
    let photo = decode();
    // Centred and large enough: found where it is, waiting for stillness, then ready.
    let good = placed(&photo, (0.5, 0.5), 0.7);
    let mut a = FrameAnalyser::new();
    let first = analyse(&mut a, &good, 0.0);
    assert_eq!(first.face_count, 1);
    let face = first.face.unwrap();
    let (cx, cy) = face.centre();
    assert!(
        (cx - 0.5).abs() < 0.05 && (cy - 0.5).abs() < 0.08,
        "{face:?}"
    );
    assert!((face.w - 0.35).abs() < 0.1, "{face:?}");
    assert_eq!(
        first.quality.hint,
        Some(QualityHint::HoldStill),
        "{:?}",
        first.quality.measures
    );
    let mut detections = 1;
    let mut last = first;
    for k in 1..20 {
        last = analyse(&mut a, &good, k as f64 * 33.0);
        detections += last.ran_detection as usize;
    }
    assert!(last.quality.ready, "{:?}", last.quality);
    assert!(detections <= 3, "{detections} detections in 20 frames");
    let skin = last.sample.face.unwrap();
    assert!(skin.r > skin.g && skin.g > skin.b, "{skin:?}");
    // Too small, and nothing at all.
    let small = placed(&photo, (0.5, 0.5), 0.35);
    assert_eq!(
        analyse(&mut FrameAnalyser::new(), &small, 0.0).quality.hint,
        Some(QualityHint::MoveCloser)
    );
    let grey = vec![128u8; (W * H * 4) as usize];
    assert_eq!(
        analyse(&mut FrameAnalyser::new(), &grey, 0.0).quality.hint,
        Some(QualityHint::NoFace)
    );
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn native_analysis_of_the_astronaut() {
    check_analysis();
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn wasm_analysis_of_the_astronaut() {
        super::check_analysis();
    }
}
