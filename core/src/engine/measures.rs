//! What the landmarks say about a face: head pose, eye and mouth openness, a size measure for
//! near/far, and the face box in the convention the rest of the code assumes.

use super::mesh::{index, Landmarks};

/// Head pose in degrees, 0 for a face looking straight at the camera. Yaw is positive when the
/// face turns towards the image's right (the person's left in an unmirrored image), pitch when it
/// tilts up, roll when it leans clockwise on screen.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// Measures of one face from its landmarks.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FaceMeasures {
    pub pose: HeadPose,
    /// Lid gap over eye width, right eye then left eye (the person's). FaceMesh v1's lids do not
    /// follow a blink fully (MediaPipe's known limitation): this tracks wide/narrow eyes, not
    /// reliably closed ones.
    pub eye_openness: [f32; 2],
    /// Inner-lip gap over mouth width: about 0 closed, 0.3 and more wide open.
    pub mouth_openness: f32,
    /// Distance between the outer eye corners in 3D (the mesh's z included, so turning the head
    /// does not shrink it), as a fraction of the image width: grows as the face comes closer.
    pub size: f32,
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n > 0.0 {
        [v[0] / n, v[1] / n, v[2] / n]
    } else {
        [0.0; 3]
    }
}

/// Ratio with a zero-safe denominator.
fn ratio(a: f32, b: f32) -> f32 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The forehead-to-chin line of a face looking at the camera leans back at the top by this angle
/// in the mesh's coordinates (degrees): the median over the 30 faces of the test photos, nearly
/// all looking at the camera (the astronaut alone: 8.6°).
const NEUTRAL_PITCH_DEG: f32 = 9.0;

impl FaceMeasures {
    /// Measures from landmarks in image pixels of an image `width` pixels wide.
    pub fn from_landmarks(l: &Landmarks, width: f32) -> FaceMeasures {
        let p = |i| l.point(i);
        // Head axes: x along the eye line (right outer corner → left outer corner), y up the
        // midline (chin → forehead), made orthogonal to x.
        let x = norm(sub(p(index::LEFT_EYE_OUTER), p(index::RIGHT_EYE_OUTER)));
        let up = sub(p(index::FOREHEAD), p(index::CHIN));
        let along = up[0] * x[0] + up[1] * x[1] + up[2] * x[2];
        let y = norm([
            up[0] - along * x[0],
            up[1] - along * x[1],
            up[2] - along * x[2],
        ]);
        // Image y points down and the mesh's z towards the camera is negative: yaw is how far the
        // eye line points into the depth, pitch how far the midline does, roll the eye line's
        // slope on screen.
        let pose = HeadPose {
            yaw: (-x[2]).clamp(-1.0, 1.0).asin().to_degrees(),
            pitch: (-y[2]).clamp(-1.0, 1.0).asin().to_degrees() - NEUTRAL_PITCH_DEG,
            roll: x[1].atan2(x[0]).to_degrees(),
        };
        let eye =
            |upper, lower, outer, inner| ratio(dist(p(upper), p(lower)), dist(p(outer), p(inner)));
        FaceMeasures {
            pose,
            eye_openness: [
                eye(
                    index::RIGHT_EYE_UPPER,
                    index::RIGHT_EYE_LOWER,
                    index::RIGHT_EYE_OUTER,
                    index::RIGHT_EYE_INNER,
                ),
                eye(
                    index::LEFT_EYE_UPPER,
                    index::LEFT_EYE_LOWER,
                    index::LEFT_EYE_OUTER,
                    index::LEFT_EYE_INNER,
                ),
            ],
            mouth_openness: ratio(
                dist(p(index::UPPER_LIP_INNER), p(index::LOWER_LIP_INNER)),
                dist(p(index::MOUTH_RIGHT), p(index::MOUTH_LEFT)),
            ),
            size: ratio(
                dist(p(index::RIGHT_EYE_OUTER), p(index::LEFT_EYE_OUTER)),
                width,
            ),
        }
    }
}

/// The face box from landmarks, in image pixels (left, top, side): a square centred between the
/// cheeks (234, 454) and between the brows' upper edge and the chin (152), its side the larger of
/// the cheek-to-cheek width and the brow-to-chin height. This is the box SeetaFace reported and
/// the rest of the code assumes (brows to chin, cheek to cheek; `face_region` keeps its central
/// 60 % as skin).
pub fn face_square(l: &Landmarks) -> (f32, f32, f32) {
    let p = |i| l.point(i);
    let (cr, cl) = (p(index::CHEEK_RIGHT), p(index::CHEEK_LEFT));
    let brow = index::BROWS_UPPER.iter().fold([0f32; 3], |acc, &i| {
        let q = p(i);
        [
            acc[0] + q[0] / 10.0,
            acc[1] + q[1] / 10.0,
            acc[2] + q[2] / 10.0,
        ]
    });
    let chin = p(index::CHIN);
    let width = ((cl[0] - cr[0]).powi(2) + (cl[1] - cr[1]).powi(2)).sqrt();
    let height = ((chin[0] - brow[0]).powi(2) + (chin[1] - brow[1]).powi(2)).sqrt();
    let (cx, cy) = (
        (cr[0] + cl[0] + brow[0] + chin[0]) / 4.0,
        (cr[1] + cl[1] + brow[1] + chin[1]) / 4.0,
    );
    let side = width.max(height);
    (cx - side / 2.0, cy - side / 2.0, side)
}
