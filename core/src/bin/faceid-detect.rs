//! faceid-detect: the face engine on still images, for checking by hand.
//!
//! Usage: `faceid-detect [--min-face PX] [--no-landmarks] IMAGE…` (PNG: grey, RGB, with or without
//! alpha, 8 or 16 bits).
//!
//! Prints one JSON line per face found: the image, the face box (in image pixels, the engine's
//! brows-to-chin square), the score, and with landmarks (the default) head pose in degrees, eye
//! openness (right, left: the person's), mouth openness, the size measure and the 468 landmarks
//! (x, y, z in image pixels). Photos are scanned in tiles for faces down to `--min-face` pixels
//! (default: 1/35 of the shorter side, at least 20 px). Exits 1 when an image cannot be read.

use std::fmt::Write as _;
use std::process::ExitCode;

use faceid_core::engine::crop::RgbImage;
use faceid_core::engine::{Face, FaceEngine};

/// Default smallest face: 1/35 of the shorter side (a group photo's faces are about 1/25).
const MIN_FACE_DIVISOR: f32 = 35.0;
/// Smallest face ever scanned for, in pixels: below this the landmarks say little.
const MIN_FACE_FLOOR: f32 = 20.0;

fn load(path: &str) -> Result<(u32, u32, Vec<u8>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec
        .read_info()
        .map_err(|e| format!("{path}: {e} (PNG images only)"))?;
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .ok_or(format!("{path}: image too large"))?
    ];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{path}: {e}"))?;
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|p| {
            if channels < 3 {
                [p[0]; 3]
            } else {
                [p[0], p[1], p[2]]
            }
        })
        .collect();
    Ok((info.width, info.height, rgb))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn line(path: &str, face: &Face, w: u32, h: u32) -> String {
    let b = &face.face_box;
    let (w, h) = (w as f32, h as f32);
    let mut s = format!(
        "{{\"image\":{},\"box\":{{\"x\":{:.1},\"y\":{:.1},\"w\":{:.1},\"h\":{:.1}}},\"score\":{:.3}",
        json_string(path),
        b.x * w,
        b.y * h,
        b.w * w,
        b.h * h,
        face.score
    );
    if let Some(m) = &face.measures {
        let _ = write!(
            s,
            ",\"pose\":{{\"yaw\":{:.1},\"pitch\":{:.1},\"roll\":{:.1}}},\"eye_openness\":[{:.3},{:.3}],\"mouth_openness\":{:.3},\"size\":{:.4}",
            m.pose.yaw, m.pose.pitch, m.pose.roll, m.eye_openness[0], m.eye_openness[1], m.mouth_openness, m.size
        );
    }
    if let Some(l) = &face.landmarks {
        s.push_str(",\"landmarks\":[");
        for (i, p) in l.points.iter().enumerate() {
            let _ = write!(
                s,
                "{}[{:.1},{:.1},{:.1}]",
                if i > 0 { "," } else { "" },
                p[0],
                p[1],
                p[2]
            );
        }
        s.push(']');
    }
    s.push('}');
    s
}

fn main() -> ExitCode {
    let mut min_face = None;
    let mut landmarks = true;
    let mut images = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--min-face" => min_face = args.next().and_then(|v| v.parse::<f32>().ok()),
            "--no-landmarks" => landmarks = false,
            "-h" | "--help" => {
                println!("usage: faceid-detect [--min-face PX] [--no-landmarks] IMAGE…");
                return ExitCode::SUCCESS;
            }
            _ => images.push(a),
        }
    }
    let engine = if landmarks {
        FaceEngine::with_embedded_landmarks()
    } else {
        FaceEngine::new()
    };
    let mut engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("faceid-detect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut status = ExitCode::SUCCESS;
    for path in &images {
        let (w, h, rgb) = match load(path) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("faceid-detect: {e}");
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let Some(image) = RgbImage::new(&rgb, w, h) else {
            eprintln!("faceid-detect: {path}: empty image");
            status = ExitCode::FAILURE;
            continue;
        };
        let min = min_face.unwrap_or((w.min(h) as f32 / MIN_FACE_DIVISOR).max(MIN_FACE_FLOOR));
        match engine.detect_photo(&image, min) {
            Ok(faces) => faces
                .iter()
                .for_each(|f| println!("{}", line(path, f, w, h))),
            Err(e) => {
                eprintln!("faceid-detect: {path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
