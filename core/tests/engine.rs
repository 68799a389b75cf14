//! The face engine (BlazeFace + FaceMesh on faceid-core's own inference) on the real photos of
//! `shared/data/faces`: every clearly visible face found, no false ones, sane measures, and
//! tracking by landmarks. Native only (reads the photos from disk).
#![cfg(not(target_arch = "wasm32"))]

use faceid_core::engine::blazeface::{BlazeFace, Detection, INPUT, MIN_SCORE};
use faceid_core::engine::crop::{RgbImage, Roi};
use faceid_core::engine::{Face, FaceEngine, FACE_DETECTION_MODEL};

/// The 29 faces of group29-gray.png (1666×1136): centre and approximate width in pixels. Taken
/// from the detector's output and checked one by one on the photo (the 29 people of the 1927
/// Solvay conference; the painted boxes in the photo are not used).
const GROUP_FACES: [(f32, f32, f32); 29] = [
    (491.0, 155.0, 48.0),
    (492.0, 284.0, 51.0),
    (1290.0, 239.0, 54.0),
    (1451.0, 246.0, 55.0),
    (1113.0, 232.0, 49.0),
    (921.0, 123.0, 45.0),
    (1304.0, 122.0, 49.0),
    (797.0, 223.0, 47.0),
    (399.0, 111.0, 47.0),
    (1388.0, 291.0, 52.0),
    (692.0, 297.0, 57.0),
    (238.0, 241.0, 56.0),
    (1518.0, 311.0, 55.0),
    (78.0, 225.0, 51.0),
    (133.0, 282.0, 54.0),
    (1396.0, 68.0, 46.0),
    (638.0, 128.0, 56.0),
    (594.0, 232.0, 54.0),
    (406.0, 229.0, 51.0),
    (1166.0, 123.0, 49.0),
    (946.0, 219.0, 46.0),
    (314.0, 294.0, 59.0),
    (1069.0, 285.0, 62.0),
    (268.0, 70.0, 46.0),
    (895.0, 285.0, 54.0),
    (1193.0, 286.0, 56.0),
    (789.0, 153.0, 51.0),
    (1040.0, 134.0, 47.0),
    (1467.0, 133.0, 33.0),
];

/// Where the astronaut's face is in astronaut.png (as in tests/vision.rs): centre and width.
const ASTRONAUT_FACE_CENTRE: (f32, f32) = (225.0, 117.0);
const ASTRONAUT_FACE_WIDTH: f32 = 98.0;

fn photo(name: &str, grey: bool) -> (u32, u32, Vec<u8>) {
    let path = format!(
        "{}/../../shared/data/faces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut dec = png::Decoder::new(std::io::Cursor::new(std::fs::read(&path).unwrap()));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(ch)
        .flat_map(|p| {
            let l = ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8;
            if grey || ch < 3 {
                [l; 3]
            } else {
                [p[0], p[1], p[2]]
            }
        })
        .collect();
    (info.width, info.height, rgb)
}

fn centre_px(f: &Face, w: u32, h: u32) -> (f32, f32, f32) {
    let (cx, cy) = f.face_box.centre();
    (cx * w as f32, cy * h as f32, f.face_box.w * w as f32)
}

#[test]
fn every_face_of_the_group_photo_and_nothing_else() {
    let (w, h, rgb) = photo("group29-gray.png", true);
    let image = RgbImage::new(&rgb, w, h).unwrap();
    let mut engine = FaceEngine::with_embedded_landmarks().unwrap();
    let faces = engine.detect_photo(&image, 32.0).unwrap();
    let near = |f: &Face, &(x, y, s): &(f32, f32, f32)| {
        let (cx, cy, _) = centre_px(f, w, h);
        (cx - x).abs() < 0.5 * s && (cy - y).abs() < 0.5 * s
    };
    let missed: Vec<_> = GROUP_FACES
        .iter()
        .filter(|g| !faces.iter().any(|f| near(f, g)))
        .collect();
    let extra: Vec<_> = faces
        .iter()
        .filter(|f| !GROUP_FACES.iter().any(|g| near(f, g)))
        .map(|f| centre_px(f, w, h))
        .collect();
    println!(
        "group: {} faces, missed {missed:?}, extra {extra:?}",
        faces.len()
    );
    assert!(missed.is_empty(), "missed {missed:?}");
    assert!(extra.is_empty(), "false faces at {extra:?}");
    for f in &faces {
        let m = f.measures.unwrap();
        assert!(
            m.pose.yaw.abs() < 45.0 && m.pose.pitch.abs() < 30.0 && m.pose.roll.abs() < 30.0,
            "{m:?}"
        );
        assert!(m.eye_openness.iter().all(|&e| e > 0.15 && e < 0.5), "{m:?}");
    }
}

#[test]
fn the_astronaut_full_resolution_one_face_with_sane_measures() {
    let (w, h, rgb) = photo("astronaut.png", false);
    let image = RgbImage::new(&rgb, w, h).unwrap();
    let mut engine = FaceEngine::with_embedded_landmarks().unwrap();
    for faces in [
        engine.detect(&image).unwrap(),
        engine.detect_photo(&image, 20.0).unwrap(),
    ] {
        assert_eq!(faces.len(), 1, "{faces:?}");
        let f = &faces[0];
        let (cx, cy, side) = centre_px(f, w, h);
        println!(
            "astronaut: centre ({cx:.1}, {cy:.1}) side {side:.1}, {:?}",
            f.measures
        );
        assert!((cx - ASTRONAUT_FACE_CENTRE.0).abs() < 0.1 * ASTRONAUT_FACE_WIDTH);
        assert!((cy - ASTRONAUT_FACE_CENTRE.1).abs() < 0.15 * ASTRONAUT_FACE_WIDTH);
        assert!((side / ASTRONAUT_FACE_WIDTH - 1.0).abs() < 0.15, "{side}");
        let m = f.measures.unwrap();
        // She looks at the camera, head barely turned; eyes open, lips slightly apart.
        assert!(
            m.pose.yaw.abs() < 10.0 && m.pose.pitch.abs() < 10.0 && m.pose.roll.abs() < 10.0,
            "{m:?}"
        );
        assert!(m.eye_openness.iter().all(|&e| e > 0.2 && e < 0.4), "{m:?}");
        assert!(m.mouth_openness < 0.3, "{m:?}");
        let eyes_px = m.size * w as f32;
        assert!(
            eyes_px > 0.4 * side && eyes_px < 0.9 * side,
            "eye corners {eyes_px} px apart"
        );
    }
}

#[test]
fn landmarks_follow_a_moving_face_and_lose_a_vanished_one() {
    let (w, h, rgb) = photo("astronaut.png", false);
    let mut engine = FaceEngine::with_embedded_landmarks().unwrap();
    let first = engine
        .detect(&RgbImage::new(&rgb, w, h).unwrap())
        .unwrap()
        .remove(0);
    let mut landmarks = first.landmarks.clone().unwrap();
    // The photo shifted right and down by (6, 4) px per frame, edge pixels repeated.
    let shift = |dx: usize, dy: usize| -> Vec<u8> {
        let (w, h) = (w as usize, h as usize);
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x.saturating_sub(dx), y.saturating_sub(dy))))
            .flat_map(|(x, y)| {
                [
                    rgb[(y * w + x) * 3],
                    rgb[(y * w + x) * 3 + 1],
                    rgb[(y * w + x) * 3 + 2],
                ]
            })
            .collect()
    };
    let (x0, y0, _) = centre_px(&first, w, h);
    for k in 1..=4 {
        let moved = shift(6 * k, 4 * k);
        let f = engine
            .follow(&RgbImage::new(&moved, w, h).unwrap(), &landmarks)
            .unwrap()
            .expect("followed");
        let (x, y, _) = centre_px(&f, w, h);
        assert!(
            (x - x0 - 6.0 * k as f32).abs() < 3.0 && (y - y0 - 4.0 * k as f32).abs() < 3.0,
            "frame {k}: ({x}, {y})"
        );
        landmarks = f.landmarks.unwrap();
    }
    let grey = vec![120u8; rgb.len()];
    assert!(engine
        .follow(&RgbImage::new(&grey, w, h).unwrap(), &landmarks)
        .unwrap()
        .is_none());
}

#[test]
fn frame_analyser_with_landmarks_tracks_by_mesh_and_reports_measures() {
    use faceid_core::analysis::FrameAnalyser;
    use faceid_core::engine::FACE_LANDMARK_MODEL;
    use faceid_core::face::REDETECT_EVERY;
    use faceid_core::frame::RgbaFrame;
    let (pw, ph, rgb) = photo("astronaut.png", false);
    // The photo's left 512×384 as a 4:3 frame.
    let (w, h) = (512u32, 384u32);
    let rgba: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let i = ((y * pw + x) * 3) as usize;
            [rgb[i], rgb[i + 1], rgb[i + 2], 255]
        })
        .collect();
    assert!(ph >= h);
    let frame = RgbaFrame::packed(&rgba, w, h).unwrap();
    let mut a = FrameAnalyser::with_landmark_model(FACE_LANDMARK_MODEL).unwrap();
    let n = 2 * REDETECT_EVERY as usize;
    let mut detections = 0;
    for k in 0..n {
        let r = a.analyse(&frame, k as f64 * 33.0).unwrap();
        detections += r.ran_detection as usize;
        let face = r.face.expect("face");
        let (cx, cy) = face.centre();
        assert!(
            (cx * w as f32 - ASTRONAUT_FACE_CENTRE.0).abs() < 0.15 * ASTRONAUT_FACE_WIDTH,
            "{face:?}"
        );
        assert!(
            (cy * h as f32 - ASTRONAUT_FACE_CENTRE.1).abs() < 0.2 * ASTRONAUT_FACE_WIDTH,
            "{face:?}"
        );
        let m = r.measures.expect("measures with the landmark model");
        assert!(m.pose.yaw.abs() < 10.0 && m.eye_openness[0] > 0.2, "{m:?}");
    }
    assert!(detections <= 2, "{detections} detections in {n} frames");
    // Without the landmark model: no measures.
    let r = FrameAnalyser::new().analyse(&frame, 0.0).unwrap();
    assert!(r.face.is_some() && r.measures.is_none());
}

/// `w × h` pixels of a packed RGB image of width `stride` from (`x0`, `y0`).
fn crop(rgb: &[u8], stride: u32, (x0, y0): (u32, u32), (w, h): (u32, u32)) -> Vec<u8> {
    (y0..y0 + h)
        .flat_map(|y| {
            let at = ((y * stride + x0) * 3) as usize;
            rgb[at..at + (w * 3) as usize].iter().copied()
        })
        .collect()
}

/// Largest difference allowed between the two paths' boxes for one face (centre and size), in
/// pixels of the network's input (one is 2.5 pixels of the 320×240 analysis image). The tensors
/// sample the frame on the same pixel grid; what differs is the context far from the face (black
/// bars, or the zero padding the frame's own tensor's convolutions see at its edges), which moves
/// some anchors' scores and so the weighted merge. Measured: the astronaut 0.03 px; over the
/// group photo's windows median 0.2, worst 3.0 (two small faces whose merged box changed size).
const SAME_FACE_INPUT_PX: f32 = 3.5;
/// Median over all compared faces of the largest box difference, input pixels (measured 0.2).
const SAME_FACES_MEDIAN_INPUT_PX: f32 = 0.5;
/// Largest score difference for one face (measured 0.10 at worst, 0.01 median).
const SAME_FACE_SCORE: f32 = 0.12;
/// A face this far above the score threshold in one path must be found by the other; weaker ones
/// may fall either side of the threshold (scores move by up to [`SAME_FACE_SCORE`]).
const CLEAR_SCORE: f32 = MIN_SCORE + 0.15;

/// Whether the detection's box lies whole inside a `w × h` frame. Faces cut by the frame's edge
/// are left out of the comparison: there the letterboxed tensor shows black bars and the frame's
/// own tensor its convolutions' zero padding (mid-grey), so what the model sees differs.
fn whole_inside(d: &Detection, w: f32, h: f32) -> bool {
    d.cx - d.w / 2.0 >= 0.0
        && d.cy - d.h / 2.0 >= 0.0
        && d.cx + d.w / 2.0 <= w
        && d.cy + d.h / 2.0 <= h
}

/// Faces of a 4:3 or 3:4 `image` found on the tensor of its own shape (`BlazeFace::detect`) and on
/// the letterboxed square (the model's own input, as MediaPipe runs it): every clear face of
/// either found by the other, boxes within [`SAME_FACE_INPUT_PX`], scores within
/// [`SAME_FACE_SCORE`]. Pushes each compared face's largest box difference (input pixels) onto
/// `diffs`.
fn same_faces_both_ways(bf: &mut BlazeFace, image: &RgbImage, what: &str, diffs: &mut Vec<f32>) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let shaped = bf.detect(image).unwrap();
    let side = w.max(h);
    let square = Roi {
        cx: w / 2.0,
        cy: h / 2.0,
        w: side,
        h: side,
        angle: 0.0,
    };
    let letterboxed = bf.detect_in(image, &square).unwrap();
    let tolerance = SAME_FACE_INPUT_PX * side / INPUT as f32;
    let worst = |a: &Detection, b: &Detection| {
        [a.cx - b.cx, a.cy - b.cy, a.w - b.w, a.h - b.h]
            .iter()
            .fold(0f32, |m, d| m.max(d.abs()))
    };
    for (these, others, path) in [
        (&letterboxed, &shaped, "letterboxed"),
        (&shaped, &letterboxed, "own tensor"),
    ] {
        let clear = |d: &&Detection| d.score >= CLEAR_SCORE && whole_inside(d, w, h);
        for b in these.iter().filter(clear) {
            let a = others
                .iter()
                .min_by(|p, q| worst(p, b).total_cmp(&worst(q, b)));
            let Some(a) = a else {
                panic!("{what}: {b:?} ({path}) not found by the other path");
            };
            diffs.push(worst(a, b) * INPUT as f32 / side);
            assert!(
                worst(a, b) <= tolerance,
                "{what}: {b:?} ({path}) vs {a:?} (tolerance {tolerance} px)"
            );
            assert!(
                (a.score - b.score).abs() <= SAME_FACE_SCORE,
                "{what}: {a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn a_4_3_frame_on_its_own_tensor_finds_the_faces_the_letterboxed_square_finds() {
    let mut bf = BlazeFace::from_bytes(FACE_DETECTION_MODEL).unwrap();
    let mut diffs = Vec::new();
    // The astronaut: a 4:3 crop (her face in its upper half) and a 3:4 one.
    let (w, _, rgb) = photo("astronaut.png", false);
    for (what, at, size) in [
        ("astronaut 4:3", (0, 0), (512, 384)),
        ("astronaut 3:4", (33, 0), (384, 512)),
    ] {
        let part = crop(&rgb, w, at, size);
        let image = RgbImage::new(&part, size.0, size.1).unwrap();
        let before = diffs.len();
        same_faces_both_ways(&mut bf, &image, what, &mut diffs);
        // Her face, and only hers, found by each path and matched by the other.
        assert_eq!(diffs.len() - before, 2, "{what}");
    }
    // The group photo in 4:3 windows where its faces are a quarter of the window wide (as a
    // person is in a camera frame), across the rows of faces.
    let (w, _, rgb) = photo("group29-gray.png", true);
    let size = (200, 150);
    for y0 in (0..=300).step_by(50) {
        for x0 in (0..=w - size.0).step_by(100) {
            let part = crop(&rgb, w, (x0, y0), size);
            let image = RgbImage::new(&part, size.0, size.1).unwrap();
            same_faces_both_ways(&mut bf, &image, &format!("group at {x0},{y0}"), &mut diffs);
        }
    }
    // Each of the 29 faces lies whole in several windows: most are compared more than once.
    assert!(diffs.len() >= 2 * 29, "{} comparisons", diffs.len());
    diffs.sort_by(f32::total_cmp);
    let median = diffs[diffs.len() / 2];
    assert!(
        median <= SAME_FACES_MEDIAN_INPUT_PX,
        "median {median} input px over {} faces",
        diffs.len()
    );
}
