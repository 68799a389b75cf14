//! The quality gate before any challenge (LIVENESS.md §"Frame quality"): one face, inside the oval
//! guide, at a usable size, evenly lit, sharp, and still for about half a second. Each failing
//! condition is one [`QualityHint`] the person can act on; the page waits rather than failing.

use crate::codes::{Locale, ResultCode};
use crate::engine::measures::HeadPose;
use crate::geometry::FaceBox;

/// One thing the person should change. Variants are listed in the order they are reported: the
/// first failing condition is the hint shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub enum QualityHint {
    NoFace,
    MultipleFaces,
    CentreFace,
    MoveCloser,
    MoveBack,
    FaceTheScreen,
    Backlit,
    TooDark,
    TooBright,
    Blurry,
    HoldStill,
}

impl QualityHint {
    /// Every hint, in reporting order.
    pub const ALL: &'static [QualityHint] = &[
        QualityHint::NoFace,
        QualityHint::MultipleFaces,
        QualityHint::CentreFace,
        QualityHint::MoveCloser,
        QualityHint::MoveBack,
        QualityHint::FaceTheScreen,
        QualityHint::Backlit,
        QualityHint::TooDark,
        QualityHint::TooBright,
        QualityHint::Blurry,
        QualityHint::HoldStill,
    ];

    /// The instruction shown (and announced to screen readers) for this hint.
    pub fn message(self, locale: Locale) -> &'static str {
        match locale {
            Locale::ZhCn => zh_cn(self),
            Locale::En => en(self),
        }
    }

    /// The PROTOCOL.md §3 code for an attempt that ends while this hint holds (None for hints that
    /// only ask the person to wait or adjust slightly).
    pub fn result_code(self) -> Option<ResultCode> {
        match self {
            QualityHint::NoFace => Some(ResultCode::NoCompleteFace),
            QualityHint::CentreFace => Some(ResultCode::FaceNotFullyVisible),
            QualityHint::MoveCloser => Some(ResultCode::TooFar),
            QualityHint::MoveBack => Some(ResultCode::TooClose),
            QualityHint::TooDark => Some(ResultCode::TooDark),
            QualityHint::TooBright | QualityHint::Backlit => Some(ResultCode::TooBright),
            QualityHint::MultipleFaces
            | QualityHint::FaceTheScreen
            | QualityHint::Blurry
            | QualityHint::HoldStill => None,
        }
    }

    /// A stable identifier (for logs, CSS classes and test fixtures).
    pub fn key(self) -> &'static str {
        match self {
            QualityHint::NoFace => "noFace",
            QualityHint::MultipleFaces => "multipleFaces",
            QualityHint::CentreFace => "centreFace",
            QualityHint::MoveCloser => "moveCloser",
            QualityHint::MoveBack => "moveBack",
            QualityHint::FaceTheScreen => "faceTheScreen",
            QualityHint::Backlit => "backlit",
            QualityHint::TooDark => "tooDark",
            QualityHint::TooBright => "tooBright",
            QualityHint::Blurry => "blurry",
            QualityHint::HoldStill => "holdStill",
        }
    }
}

/// zh-CN strings.
fn zh_cn(h: QualityHint) -> &'static str {
    match h {
        QualityHint::NoFace => "未检测到人脸，请正对屏幕",
        QualityHint::MultipleFaces => "检测到多张人脸，请确保画面中只有您本人",
        QualityHint::CentreFace => "请将脸部移入框内",
        QualityHint::MoveCloser => "请靠近一些",
        QualityHint::MoveBack => "请离远一些",
        QualityHint::FaceTheScreen => "请正对屏幕，不要侧脸、低头或仰头",
        QualityHint::Backlit => "逆光，请背对光源或调整位置",
        QualityHint::TooDark => "光线太暗，请到明亮处",
        QualityHint::TooBright => "光线太强，请避开强光",
        QualityHint::Blurry => "画面模糊，请擦拭镜头或保持稳定",
        QualityHint::HoldStill => "请保持不动",
    }
}

/// en strings.
fn en(h: QualityHint) -> &'static str {
    match h {
        QualityHint::NoFace => "No face found; face the screen",
        QualityHint::MultipleFaces => "More than one face; make sure only you are in view",
        QualityHint::CentreFace => "Move your face into the oval",
        QualityHint::MoveCloser => "Move a little closer",
        QualityHint::MoveBack => "Move a little further away",
        QualityHint::FaceTheScreen => "Face the screen straight on; do not turn or tilt your head",
        QualityHint::Backlit => "The light is behind you; face the light or move",
        QualityHint::TooDark => "It is too dark; move somewhere brighter",
        QualityHint::TooBright => "It is too bright; move out of the strong light",
        QualityHint::Blurry => "The picture is blurry; clean the lens and hold steady",
        QualityHint::HoldStill => "Hold still",
    }
}

/// The oval the page draws over the preview, in normalised frame coordinates: centre (`cx`, `cy`)
/// and radii (`rx` of the frame width, `ry` of the frame height).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OvalGuide {
    pub cx: f32,
    pub cy: f32,
    pub rx: f32,
    pub ry: f32,
}

impl Default for OvalGuide {
    /// Centred; on a 4:3 preview `rx = 0.25` of the width and `ry = 0.4` of the height make an oval
    /// 0.5 × 0.8 of the height wide and tall (the 1 : 1.6 shape of a head with some margin).
    fn default() -> Self {
        OvalGuide {
            cx: 0.5,
            cy: 0.5,
            rx: 0.25,
            ry: 0.4,
        }
    }
}

impl OvalGuide {
    /// Whether every value is finite and the radii are positive.
    pub fn is_valid(&self) -> bool {
        [self.cx, self.cy, self.rx, self.ry]
            .iter()
            .all(|v| v.is_finite())
            && self.rx > 0.0
            && self.ry > 0.0
    }
}

/// Smallest face box width relative to the oval width (2·rx): a detector box covers brows to chin,
/// about 60 % of the head width, so under 45 % the head is clearly smaller than the oval.
pub const MIN_FILL: f32 = 0.45;
/// Largest face box width relative to the oval width: above 95 % the head overflows the oval and
/// the background strips of the reflection check start to be covered.
pub const MAX_FILL: f32 = 0.95;
/// Largest offset of the face centre from the oval centre, in oval radii (elliptical distance):
/// beyond a third of a radius the face visibly leaves the guide.
pub const MAX_CENTRE_OFFSET: f32 = 0.35;
/// Share of the face box that may lie outside the frame before the face is "not fully visible".
pub const MAX_OUTSIDE_FRACTION: f32 = 0.05;
/// Second faces smaller than this share of the primary face's area are ignored (faces on posters
/// or people far behind); a comparable face in view is a second person.
pub const SECOND_FACE_MIN_AREA: f32 = 0.25;
/// Largest head turn (degrees, from the landmarks' pose, `engine::measures::HeadPose`) before
/// the person is asked to face the screen. The light challenge's relief cells are laid out on a
/// frontal face, the outer cheeks' cells 0.31–0.41 of the face's width W from the nose tip. The
/// outline on the side a face turns from is 0.5 W from the nose tip facing the camera and 0.36 W
/// turned 10° (docs/light-decision.md, on the simulator's head model); carried on at that rate,
/// about 0.014 W a degree, it passes the cell's inner edge at about 14°, so beyond 15° the cell
/// lies on the background. People posing for a photo stay within ±14° (28 of the 30 faces of the
/// test photos by the landmark model's pose; the other two are at −23° and 36°), so a person
/// looking at the screen is not held back.
pub const MAX_YAW_DEG: f32 = 15.0;
/// Largest nod up or down (degrees, 0 looking straight at the camera). Not derived like the yaw
/// limit: a judgement that a chin raised or lowered further turns the forehead or chin cell, and
/// the face's front, well away from a screen held in front of it; the test photos' faces are
/// within ±15°, so it holds back nobody looking at the screen.
pub const MAX_PITCH_DEG: f32 = 20.0;
/// Mean face luma below which the reflection is lost in sensor noise (8-bit sRGB luma, ~25 %).
pub const MIN_FACE_LUMA: f32 = 65.0;
/// Mean face luma above which highlights clip and colour changes cannot be measured.
pub const MAX_FACE_LUMA: f32 = 215.0;
/// Share of clipped face pixels (luma ≥ 250) that makes the face too bright even at a normal mean.
pub const MAX_CLIPPED_FRACTION: f32 = 0.15;
/// Background brighter than the face by this much (luma) means the light is behind the person.
pub const BACKLIT_CONTRAST: f32 = 70.0;
/// Smallest variance of the face region's Laplacian (neighbours a 48th of the face width apart,
/// see `analysis::SHARPNESS_FACE_SAMPLES`) for a face of mean luma [`SHARPNESS_REFERENCE_LUMA`]:
/// the sharp astronaut measures ~1600 at that luma and a defocus of sigma ≈ 2 analysis px ~40,
/// so 200 sits near their geometric mean.
pub const MIN_SHARPNESS: f32 = 200.0;
/// The Laplacian scales with exposure, so the threshold scales with (face luma / 128)²: a dim but
/// sharp face is not called blurry.
pub const SHARPNESS_REFERENCE_LUMA: f32 = 128.0;

/// The sharpness threshold for a face of mean luma `face_luma`.
pub fn min_sharpness(face_luma: f32) -> f32 {
    let k = face_luma.clamp(16.0, 255.0) / SHARPNESS_REFERENCE_LUMA;
    MIN_SHARPNESS * k * k
}
/// How long every condition must hold before the gate is ready (LIVENESS.md: about half a second).
pub const STILL_MS: f64 = 500.0;
/// Largest movement of the face centre from where the stillness period began, in face widths.
pub const STILL_MAX_SHIFT: f32 = 0.08;
/// Largest change of face width since the stillness period began, as a ratio (10 %).
pub const STILL_MAX_SCALE: f32 = 0.10;
/// A gap between frames longer than this restarts the stillness period (the camera stalled).
pub const MAX_FRAME_GAP_MS: f64 = 1000.0;

/// The largest progress shown before ready.
const NOT_READY_MAX_PROGRESS: f32 = 0.999;

/// What one frame shows, as measured by [`crate::analysis`].
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct QualityMeasures {
    /// Faces found by the latest detection.
    pub face_count: usize,
    /// Faces comparable in size to the primary one (those that count for MultipleFaces).
    pub significant_faces: usize,
    /// Face box width relative to the oval width.
    pub fill: f32,
    /// Elliptical distance of the face centre from the oval centre, in oval radii.
    pub centre_offset: f32,
    /// Share of the face box outside the frame.
    pub outside: f32,
    /// Mean luma of the face region.
    pub face_luma: f32,
    /// Share of clipped pixels in the face region.
    pub face_clipped: f32,
    /// Mean luma of the background region.
    pub background_luma: f32,
    /// Variance of the Laplacian over the face region.
    pub sharpness: f32,
}

/// The gate's answer for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct QualityReport {
    /// The first failing condition; `HoldStill` while everything holds but not yet long enough;
    /// None once ready.
    pub hint: Option<QualityHint>,
    /// Every condition has held for [`STILL_MS`].
    pub ready: bool,
    /// 0..1 toward ready (the share of the stillness period done; 0 while a condition fails).
    pub progress: f32,
    /// The measurements the decision was made from.
    pub measures: QualityMeasures,
}

/// The input of one frame to the gate: faces and region measurements.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct QualityInput<'a> {
    pub face: Option<FaceBox>,
    /// All faces of the latest detection (the primary one included), for MultipleFaces.
    pub faces: &'a [FaceBox],
    pub face_luma: f32,
    pub face_clipped: f32,
    pub background_luma: f32,
    pub sharpness: f32,
    /// The face's head pose, when the landmark model has measured it (no check without).
    pub pose: Option<HeadPose>,
}

/// The first failing condition for one frame (ignoring stillness), with the measurements.
pub fn assess_frame(
    input: &QualityInput,
    guide: &OvalGuide,
) -> (Option<QualityHint>, QualityMeasures) {
    let mut m = QualityMeasures {
        face_count: input.faces.len(),
        face_luma: input.face_luma,
        face_clipped: input.face_clipped,
        background_luma: input.background_luma,
        sharpness: input.sharpness,
        ..QualityMeasures::default()
    };
    let Some(face) = input.face.filter(FaceBox::is_valid) else {
        return (Some(QualityHint::NoFace), m);
    };
    let guide = if guide.is_valid() {
        *guide
    } else {
        OvalGuide::default()
    };
    m.significant_faces = input
        .faces
        .iter()
        .filter(|b| b.is_valid() && b.area() >= SECOND_FACE_MIN_AREA * face.area())
        .count()
        .max(1);
    let (fx, fy) = face.centre();
    let (dx, dy) = ((fx - guide.cx) / guide.rx, (fy - guide.cy) / guide.ry);
    m.centre_offset = (dx * dx + dy * dy).sqrt();
    m.fill = face.w / (2.0 * guide.rx);
    let inside_w = (face.x + face.w).min(1.0) - face.x.max(0.0);
    let inside_h = (face.y + face.h).min(1.0) - face.y.max(0.0);
    m.outside = 1.0 - (inside_w.max(0.0) * inside_h.max(0.0)) / face.area();

    let hint = if m.significant_faces > 1 {
        Some(QualityHint::MultipleFaces)
    } else if m.centre_offset > MAX_CENTRE_OFFSET || m.outside > MAX_OUTSIDE_FRACTION {
        Some(QualityHint::CentreFace)
    } else if m.fill < MIN_FILL {
        Some(QualityHint::MoveCloser)
    } else if m.fill > MAX_FILL {
        Some(QualityHint::MoveBack)
    } else if input
        .pose
        .is_some_and(|p| !(p.yaw.abs() <= MAX_YAW_DEG && p.pitch.abs() <= MAX_PITCH_DEG))
    {
        Some(QualityHint::FaceTheScreen)
    } else if input.background_luma - input.face_luma >= BACKLIT_CONTRAST {
        Some(QualityHint::Backlit)
    } else if input.face_luma < MIN_FACE_LUMA {
        Some(QualityHint::TooDark)
    } else if input.face_luma > MAX_FACE_LUMA || input.face_clipped > MAX_CLIPPED_FRACTION {
        Some(QualityHint::TooBright)
    } else if input.sharpness.is_nan() || input.sharpness < min_sharpness(input.face_luma) {
        Some(QualityHint::Blurry)
    } else {
        None
    };
    (hint, m)
}

/// Turns per-frame assessments into hints over time: `ready` once every condition has held, with
/// the face still, for [`STILL_MS`].
#[derive(Clone, Debug, Default)]
pub struct QualityGate {
    guide: OvalGuide,
    /// When the current good, still period began, and the face box at that moment.
    still_since: Option<(f64, FaceBox)>,
    last_t: Option<f64>,
}

impl QualityGate {
    pub fn new(guide: OvalGuide) -> QualityGate {
        QualityGate {
            guide,
            still_since: None,
            last_t: None,
        }
    }

    pub fn guide(&self) -> OvalGuide {
        self.guide
    }

    pub fn set_guide(&mut self, guide: OvalGuide) {
        self.guide = guide;
        self.reset();
    }

    /// Restarts the stillness period.
    pub fn reset(&mut self) {
        self.still_since = None;
        self.last_t = None;
    }

    /// Assesses one frame at capture time `t_ms`. Timestamps that are not finite, go backwards or
    /// jump by more than [`MAX_FRAME_GAP_MS`] restart the stillness period.
    pub fn assess(&mut self, input: &QualityInput, t_ms: f64) -> QualityReport {
        let (hint, measures) = assess_frame(input, &self.guide);
        let clock_ok = t_ms.is_finite()
            && self
                .last_t
                .is_none_or(|last| t_ms >= last && t_ms - last <= MAX_FRAME_GAP_MS);
        if t_ms.is_finite() {
            self.last_t = Some(t_ms);
        }
        if !clock_ok {
            self.still_since = None;
        }
        let face = match (hint, input.face) {
            (None, Some(face)) if t_ms.is_finite() => face,
            _ => {
                self.still_since = None;
                return QualityReport {
                    hint: hint.or(Some(QualityHint::HoldStill)),
                    ready: false,
                    progress: 0.0,
                    measures,
                };
            }
        };
        let (start, anchor) = match self.still_since {
            Some((start, anchor)) if is_still(&anchor, &face) => (start, anchor),
            _ => (t_ms, face),
        };
        self.still_since = Some((start, anchor));
        let ready = t_ms - start >= STILL_MS;
        // Not ready must never display as 100 % (f32 rounding of 499.99… / 500).
        let progress = if ready {
            1.0
        } else {
            (((t_ms - start) / STILL_MS).clamp(0.0, 1.0) as f32).min(NOT_READY_MAX_PROGRESS)
        };
        QualityReport {
            hint: if ready {
                None
            } else {
                Some(QualityHint::HoldStill)
            },
            ready,
            progress,
            measures,
        }
    }
}

/// Whether `face` is within the stillness tolerances of `anchor`.
fn is_still(anchor: &FaceBox, face: &FaceBox) -> bool {
    let (ax, ay) = anchor.centre();
    let (fx, fy) = face.centre();
    let shift = ((fx - ax).powi(2) + (fy - ay).powi(2)).sqrt() / anchor.w.max(1e-6);
    let scale = (face.w / anchor.w.max(1e-6) - 1.0).abs();
    shift <= STILL_MAX_SHIFT && scale <= STILL_MAX_SCALE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centred(fill: f32) -> FaceBox {
        let g = OvalGuide::default();
        let w = fill * 2.0 * g.rx;
        let h = w * 4.0 / 3.0;
        FaceBox {
            x: g.cx - w / 2.0,
            y: g.cy - h / 2.0,
            w,
            h,
            score: 5.0,
        }
    }

    fn good<'a>(face: FaceBox, faces: &'a [FaceBox]) -> QualityInput<'a> {
        QualityInput {
            face: Some(face),
            faces,
            face_luma: 140.0,
            face_clipped: 0.0,
            background_luma: 120.0,
            sharpness: 1500.0,
            pose: Some(HeadPose::default()),
        }
    }

    #[test]
    fn every_hint_has_messages_and_codes_match_the_protocol() {
        for &h in QualityHint::ALL {
            assert!(!h.message(Locale::ZhCn).is_empty());
            assert!(!h.message(Locale::En).is_empty());
            assert_ne!(h.message(Locale::ZhCn), h.message(Locale::En));
        }
        assert_eq!(
            QualityHint::TooDark.result_code().map(ResultCode::code),
            Some(1201)
        );
        assert_eq!(
            QualityHint::TooBright.result_code().map(ResultCode::code),
            Some(1202)
        );
        assert_eq!(
            QualityHint::Backlit.result_code().map(ResultCode::code),
            Some(1202)
        );
        assert_eq!(
            QualityHint::MoveBack.result_code().map(ResultCode::code),
            Some(1203)
        );
        assert_eq!(
            QualityHint::MoveCloser.result_code().map(ResultCode::code),
            Some(1204)
        );
        assert_eq!(
            QualityHint::NoFace.result_code().map(ResultCode::code),
            Some(1210)
        );
    }

    #[test]
    fn each_condition_gives_its_hint() {
        let g = OvalGuide::default();
        let f = centred(0.7);
        let hint = |i: QualityInput| assess_frame(&i, &g).0;
        assert_eq!(hint(good(f, &[f])), None);
        assert_eq!(
            hint(QualityInput {
                face: None,
                ..good(f, &[])
            }),
            Some(QualityHint::NoFace)
        );
        let other = FaceBox { x: 0.0, ..f };
        assert_eq!(hint(good(f, &[f, other])), Some(QualityHint::MultipleFaces));
        let tiny = FaceBox {
            w: f.w * 0.1,
            h: f.h * 0.1,
            ..other
        };
        assert_eq!(hint(good(f, &[f, tiny])), None);
        assert_eq!(
            hint(good(FaceBox { x: f.x + 0.2, ..f }, &[])),
            Some(QualityHint::CentreFace)
        );
        assert_eq!(hint(good(centred(0.3), &[])), Some(QualityHint::MoveCloser));
        assert_eq!(hint(good(centred(1.2), &[])), Some(QualityHint::MoveBack));
        let posed = |yaw, pitch| QualityInput {
            pose: Some(HeadPose {
                yaw,
                pitch,
                roll: 30.0,
            }),
            ..good(f, &[])
        };
        // Turned or nodding beyond the limits, either way; rolled (leaning) is fine.
        for (yaw, pitch) in [(25.0, 0.0), (-16.0, 0.0), (0.0, 25.0), (5.0, -22.0)] {
            assert_eq!(
                hint(posed(yaw, pitch)),
                Some(QualityHint::FaceTheScreen),
                "yaw {yaw}, pitch {pitch}"
            );
        }
        assert_eq!(hint(posed(12.0, -15.0)), None);
        // Without the landmark model there is no pose to check.
        assert_eq!(
            hint(QualityInput {
                pose: None,
                ..good(f, &[])
            }),
            None
        );
        assert_eq!(
            hint(QualityInput {
                face_luma: 40.0,
                background_luma: 40.0,
                ..good(f, &[])
            }),
            Some(QualityHint::TooDark)
        );
        assert_eq!(
            hint(QualityInput {
                face_luma: 80.0,
                background_luma: 230.0,
                ..good(f, &[])
            }),
            Some(QualityHint::Backlit)
        );
        assert_eq!(
            hint(QualityInput {
                face_luma: 230.0,
                background_luma: 230.0,
                ..good(f, &[])
            }),
            Some(QualityHint::TooBright)
        );
        assert_eq!(
            hint(QualityInput {
                face_clipped: 0.5,
                ..good(f, &[])
            }),
            Some(QualityHint::TooBright)
        );
        assert_eq!(
            hint(QualityInput {
                sharpness: 100.0,
                ..good(f, &[])
            }),
            Some(QualityHint::Blurry)
        );
        // The same Laplacian on a dim face is sharp: the threshold follows exposure.
        assert_eq!(
            hint(QualityInput {
                sharpness: 100.0,
                face_luma: 70.0,
                background_luma: 70.0,
                ..good(f, &[])
            }),
            None
        );
        assert_eq!(
            hint(QualityInput {
                sharpness: f32::NAN,
                ..good(f, &[])
            }),
            Some(QualityHint::Blurry)
        );
        // A face cut by the frame edge is not fully visible even when the centre would pass.
        let g2 = OvalGuide {
            cx: 0.5,
            cy: 0.1,
            rx: 0.25,
            ry: 0.4,
        };
        let top = FaceBox { y: -0.1, ..f };
        assert_eq!(
            assess_frame(&good(top, &[]), &g2).0,
            Some(QualityHint::CentreFace)
        );
    }

    #[test]
    fn ready_after_the_stillness_period_and_reset_on_movement() {
        let mut gate = QualityGate::new(OvalGuide::default());
        let f = centred(0.7);
        let mut t = 0.0;
        let mut r = gate.assess(&good(f, &[f]), t);
        assert!(!r.ready && r.hint == Some(QualityHint::HoldStill) && r.progress == 0.0);
        while t < STILL_MS - 40.0 {
            t += 33.0;
            r = gate.assess(&good(f, &[f]), t);
            assert!(!r.ready, "{t}");
        }
        assert!(r.progress > 0.8 && r.progress < 1.0);
        t += 50.0;
        r = gate.assess(&good(f, &[f]), t);
        assert!(r.ready && r.hint.is_none() && r.progress == 1.0);
        // Move by a fifth of a face width: still good, but the period restarts.
        let moved = FaceBox {
            x: f.x + f.w * 0.2,
            ..f
        };
        t += 33.0;
        r = gate.assess(&good(moved, &[moved]), t);
        assert!(!r.ready && r.progress == 0.0 && r.hint == Some(QualityHint::HoldStill));
        // A failing condition resets too, and reports itself.
        t += 33.0;
        r = gate.assess(
            &QualityInput {
                face_luma: 30.0,
                background_luma: 30.0,
                ..good(moved, &[])
            },
            t,
        );
        assert_eq!((r.ready, r.hint), (false, Some(QualityHint::TooDark)));
    }

    #[test]
    fn bad_clocks_restart_the_period() {
        let mut gate = QualityGate::new(OvalGuide::default());
        let f = centred(0.7);
        gate.assess(&good(f, &[]), 0.0);
        assert!(gate.assess(&good(f, &[]), 600.0).ready);
        assert!(!gate.assess(&good(f, &[]), 500.0).ready, "backwards");
        assert!(!gate.assess(&good(f, &[]), f64::NAN).ready);
        assert!(!gate.assess(&good(f, &[]), 5000.0).ready, "gap");
        assert!(gate.assess(&good(f, &[]), 5600.0).ready);
    }
}
