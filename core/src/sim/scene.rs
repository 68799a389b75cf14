//! What the camera looks at: per scene pixel, its appearance under the room's light, how strongly
//! the screen's light adds to it, and any light that is added rather than reflected.
//!
//! A reflecting surface at `x` shows, per channel, `appearance_c(x) · (1 + k0 · response(x) ·
//! S_c(t) / tint_c)`: `appearance` is the photo (the person as the room lights them), `S(t)` the
//! screen colour in linear light, `k0` the screen's light on a face patch facing it as a share of the
//! room's light on that patch (the "k" of issue #9), and `response(x) = [E_s(x) / E_a(x)] / [E_s /
//! E_a]_front` how the ratio of screen to room light varies over the scene, computed from geometry:
//! surface normals of a head model, the screen as a light below the camera, the room as a bright
//! ceiling hemisphere plus one directional source (lamp or window), inverse-square distances.
//! Albedo cancels in the ratio, as it does in the decoder's log-chromaticity.
//!
//! Mirrors and emitters add light instead: `additive(x) · skin_c · S_c(t)` (the screen seen in a
//! pair of glasses, or on a tablet's glass).
//!
//! Units: lengths in "face units", half the width of the detector's face box (about 7.5 cm on an
//! adult: SeetaFace's box spans roughly cheek to cheek, ~15 cm); `u` to the right and `v`
//! downwards in the image, `z` toward the camera.

use rand_chacha::ChaCha8Rng;

use super::photo::{skin_reflectance, HeadTurn, Photo};
use super::{log_uniform, uniform, unit, Attack, SimConditions};

/// Metres per face unit: half of a ~15 cm cheek-to-cheek face box.
pub const FACE_UNIT_M: f64 = 0.075;
/// Horizontal field of view of a phone's front camera (65–80°; 70° used to place prints at the
/// distance that makes their face appear at the session's face size).
const CAMERA_HFOV_DEG: f64 = 70.0;

/// Head model: an ellipsoid centred this far above the box centre (the box spans brow to chin;
/// the skull extends well above it) …
const HEAD_CENTRE_V: f64 = -0.35;
/// … with these semi-axes in face units: 16 cm wide, so the skin's outline at the cheekbones falls
/// at the detector box's edge (which spans cheek to cheek), 22 cm from chin to crown, ~19 cm deep.
/// The chin is at v ≈ +1.1, the crown at v ≈ −1.8.
const HEAD_AXES: [f64; 3] = [1.08, 1.45, 1.25];
/// The nose: a ridge with a Gaussian cross-section of σ 0.25 units (3.5 cm across at the base),
/// rising to 0.3 units (2.2 cm) at the tip: side walls turned up to ~45°, as on an adult nose.
const NOSE_WIDTH: f64 = 0.25;
const NOSE_HEIGHT: f64 = 0.3;
/// Neck: a cylinder 0.62 units (4.6 cm) in radius, set 0.5 units behind the face's front plane.
const NECK_RADIUS: f64 = 0.62;
const NECK_SETBACK: f64 = 0.5;
/// Torso: a plane 1.6 units (12 cm) behind the face front from the shoulders down.
const TORSO_TOP_V: f64 = 1.9;
const TORSO_SETBACK: f64 = 1.6;
/// The chin and head shade the neck from light above: the share of room light that still reaches
/// it (its sides and front see the walls).
const NECK_ROOM_LIGHT: f64 = 0.55;
/// Extended source: the screen spans about ±7° × ±14° as seen from the face, so surfaces turned
/// slightly past 90° from its centre still see part of it: n·L is softened by this much.
const SCREEN_WRAP: f64 = 0.12;
/// Room light: a hemisphere brighter from above (ceiling, sky) — E = 0.5·(1 + UP_BIAS·n·up) —
/// plus light reflected from the floor and walls below.
const ROOM_UP_BIAS: f64 = 0.6;
const ROOM_FLOOR: f64 = 0.15;
/// The photo's own shading is its luminance blurred over this many face half-widths: wider than
/// eyes and brows, narrower than the turn of the cheeks.
const PHOTO_SHADING_SCALE: f32 = 0.3;
/// Relighting darkens a pixel at most tenfold (the shadowed side of a face by a window) and
/// brightens it at most threefold (beyond, the photo's shading estimate is what is wrong: a dark
/// eyebrow is not a shadow).
const MIN_RELIGHT: f32 = 0.1;
const MAX_RELIGHT: f32 = 3.0;
/// A print's reproduction range: ink black reflects ~3 %, paper white ~85 % of the light.
const PRINT_BLACK: f32 = 0.03;
const PRINT_WHITE: f32 = 0.85;

/// Zones whose appearance changes over time.
pub(super) const ZONE_NONE: u8 = 0;
pub(super) const ZONE_EYES: u8 = 1;
pub(super) const ZONE_MOUTH: u8 = 2;

/// The static scene at output scale plus a margin for camera shake.
pub(super) struct Scene {
    pub w: usize,
    pub h: usize,
    pub appearance: Vec<[f32; 3]>,
    pub response: Vec<f32>,
    pub additive: Vec<f32>,
    pub zone: Vec<u8>,
    /// The detector-style face box in scene pixels: centre and size.
    pub face_centre: (f32, f32),
    pub face_size: (f32, f32),
    /// Mean appearance of the face's skin: the unit of additive light, and the colour of closed
    /// eyelids.
    pub skin: [f32; 3],
    /// The room light's colour (appearance includes it; the screen's relative response divides by it).
    pub tint: [f32; 3],
    pub figures: SceneFigures,
}

/// The drawn figures of a scene, for evaluation reports.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SceneFigures {
    /// Face (or print, or tablet) distance from the camera, metres.
    pub distance_m: f64,
    /// Distance of the room behind the head (or behind the print) from the face, metres.
    pub background_m: f64,
    /// Direction of the room's main light (unit vector, face frame) and its weight vs the hemisphere.
    pub room_light_dir: [f64; 3],
    pub room_light_weight: f64,
    /// Mean response (relative to k0) over the decoder's relief centre and outer-cheek strips.
    pub centre_response: f64,
    pub side_response: f64,
    pub glasses: bool,
    /// Skin tone 0 (very dark) ..= 1 (very light); None when the photo's own skin is kept.
    pub skin_tone: Option<f32>,
}

/// A face-frame vector.
type V3 = [f64; 3];

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn normalise(a: V3) -> V3 {
    let n = dot(a, a).sqrt().max(1e-12);
    [a[0] / n, a[1] / n, a[2] / n]
}

/// World up in the face frame (v grows downwards).
const UP: V3 = [0.0, -1.0, 0.0];

/// Which surface of the live scene a point is on, and its height toward the camera (face units).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Surface {
    Head,
    Neck,
    Torso,
    Background,
}

/// The head model's height field: ellipsoid plus nose; None outside the head's outline.
fn head_height(u: f64, v: f64) -> Option<f64> {
    let [a, b, c] = HEAD_AXES;
    let q = 1.0 - (u / a).powi(2) - ((v - HEAD_CENTRE_V) / b).powi(2);
    if q <= 0.0 {
        return None;
    }
    // The nose rises from the bridge (v ≈ −0.25) to the tip (v ≈ 0.3), then falls to the lip.
    let along = if (-0.25..=0.3).contains(&v) {
        (v + 0.25) / 0.55
    } else if (0.3..=0.45).contains(&v) {
        (0.45 - v) / 0.15
    } else {
        0.0
    };
    let nose = NOSE_HEIGHT * along * (-(u / NOSE_WIDTH).powi(2)).exp();
    Some(c * q.sqrt() + nose)
}

fn neck_height(u: f64) -> Option<f64> {
    let q = 1.0 - (u / NECK_RADIUS).powi(2);
    (q > 0.0).then(|| HEAD_AXES[2] - NECK_SETBACK - NECK_RADIUS + NECK_RADIUS * q.sqrt())
}

/// Surface, height and normal of the live scene at (u, v).
fn live_surface(u: f64, v: f64) -> (Surface, f64, V3) {
    let height = |u: f64, v: f64| -> Option<(Surface, f64)> {
        if let Some(z) = head_height(u, v) {
            return Some((Surface::Head, z));
        }
        if v > 0.6 && v < TORSO_TOP_V {
            if let Some(z) = neck_height(u) {
                return Some((Surface::Neck, z));
            }
        }
        if v >= TORSO_TOP_V && u.abs() < 3.5 {
            return Some((Surface::Torso, HEAD_AXES[2] - TORSO_SETBACK));
        }
        None
    };
    let Some((surface, z)) = height(u, v) else {
        return (Surface::Background, f64::NEG_INFINITY, [0.0, 0.0, 1.0]);
    };
    // Normal from central differences on the same surface (one-sided at its outline).
    let e = 0.01;
    let same = |du: f64, dv: f64| {
        height(u + du, v + dv)
            .filter(|(s, _)| *s == surface)
            .map(|(_, z)| z)
    };
    let dz_du = match (same(e, 0.0), same(-e, 0.0)) {
        (Some(a), Some(b)) => (a - b) / (2.0 * e),
        (Some(a), None) => (a - z) / e,
        (None, Some(b)) => (z - b) / e,
        (None, None) => 0.0,
    };
    let dz_dv = match (same(0.0, e), same(0.0, -e)) {
        (Some(a), Some(b)) => (a - b) / (2.0 * e),
        (Some(a), None) => (a - z) / e,
        (None, Some(b)) => (z - b) / e,
        (None, None) => 0.0,
    };
    // Clamp the slope at the outline (the ellipsoid's edge is vertical): a grazing normal.
    let clamp = |d: f64| d.clamp(-20.0, 20.0);
    (surface, z, normalise([-clamp(dz_du), -clamp(dz_dv), 1.0]))
}

/// The frontal model's nose tip (u, v, z), face units.
fn nose_tip() -> V3 {
    [0.0, 0.3, head_height(0.0, 0.3).unwrap_or(HEAD_AXES[2])]
}

/// Largest turns read from a photo: beyond them the model's outline, not its front, would face the
/// camera, and the photo's far cheek is hidden anyway.
const MAX_YAW_DEG: f64 = 40.0;
const MAX_PITCH_DEG: f64 = 25.0;

/// The turn that brings the model's nose tip to `tip` (face units from the box's centre, roll
/// undone): pitch from its height (the tip is 0.65 units below the head's centre and ~1.5 in front
/// of it), then yaw from its sideways offset (the tip swings by its depth times the yaw's sine).
pub(super) fn head_turn(tip: (f64, f64), roll: f64) -> HeadTurn {
    let [_, tv, tz] = nose_tip();
    let (a, b) = (tv - HEAD_CENTRE_V, tz);
    let r = a.hypot(b);
    let target = (tip.1 - HEAD_CENTRE_V).clamp(-r, r);
    let max_pitch = MAX_PITCH_DEG.to_radians();
    let pitch = ((target / r).acos() - b.atan2(a)).clamp(-max_pitch, max_pitch);
    let depth = a * pitch.sin() + b * pitch.cos();
    let max_yaw = MAX_YAW_DEG.to_radians().sin();
    let yaw = (tip.0 / depth).clamp(-max_yaw, max_yaw).asin();
    HeadTurn { yaw, pitch, roll }
}

/// A head-frame vector (from the head's centre) turned by pitch, then yaw.
fn turn(t: &HeadTurn, p: V3) -> V3 {
    let (cp, sp) = (t.pitch.cos(), t.pitch.sin());
    let (cy, sy) = (t.yaw.cos(), t.yaw.sin());
    let (v1, z1) = (p[1] * cp - p[2] * sp, p[1] * sp + p[2] * cp);
    [p[0] * cy + z1 * sy, v1, -p[0] * sy + z1 * cy]
}

/// Steps of the search for the head point a turned head shows at a view point: each moves by the
/// remaining offset, which shrinks fast where the surface faces the camera; at the outline (a
/// grazing surface) it may not settle, and the unturned model's point stands in.
const TURN_SEARCH_STEPS: usize = 12;

/// Surface, height and normal of the live scene at the view point (u, v) with the head turned
/// by `t`: the head model turned about its centre, then everything rolled about the box's centre
/// (neck, torso and room only rolled).
fn turned_surface(u: f64, v: f64, t: &HeadTurn) -> (Surface, f64, V3) {
    if *t == HeadTurn::default() {
        return live_surface(u, v);
    }
    let (cr, sr) = (t.roll.cos(), t.roll.sin());
    let (ur, vr) = (cr * u + sr * v, -sr * u + cr * v);
    let roll = |n: V3| [cr * n[0] - sr * n[1], sr * n[0] + cr * n[1], n[2]];
    let (mut hu, mut hv) = (ur, vr);
    for _ in 0..TURN_SEARCH_STEPS {
        let Some(z) = head_height(hu, hv) else { break };
        let q = turn(t, [hu, hv - HEAD_CENTRE_V, z]);
        let (eu, ev) = (ur - q[0], vr - HEAD_CENTRE_V - q[1]);
        if eu.abs() + ev.abs() < 1e-4 {
            let (surface, z, n) = live_surface(hu, hv);
            if surface == Surface::Head {
                let q = turn(t, [hu, hv - HEAD_CENTRE_V, z]);
                return (surface, q[2], roll(turn(t, n)));
            }
            break;
        }
        hu += eu;
        hv += ev;
    }
    let (surface, z, n) = live_surface(ur, vr);
    if surface == Surface::Head {
        (surface, z, roll(turn(t, n)))
    } else {
        (surface, z, roll(n))
    }
}

/// The lights of one session.
#[derive(Clone, Debug)]
struct Lights {
    /// Camera position in the face frame (face units): in front of the face front at the viewing
    /// distance. The screen's centre sits below it.
    screen: V3,
    /// Room: hemisphere plus a directional source.
    room_dir: V3,
    room_weight: f64,
}

impl Lights {
    fn screen_irradiance(&self, p: V3, n: V3) -> f64 {
        let d = [
            self.screen[0] - p[0],
            self.screen[1] - p[1],
            self.screen[2] - p[2],
        ];
        let dist2 = dot(d, d).max(1e-6);
        let l = normalise(d);
        ((dot(n, l) + SCREEN_WRAP) / (1.0 + SCREEN_WRAP)).max(0.0) / dist2
    }

    fn room_irradiance(&self, n: V3) -> f64 {
        0.5 * (1.0 + ROOM_UP_BIAS * dot(n, UP))
            + ROOM_FLOOR * 0.5 * (1.0 - dot(n, UP))
            + self.room_weight * dot(n, self.room_dir).max(0.0)
    }
}

/// Draws the room's main light: a ceiling lamp, a window beside or in front of the person, or a
/// light behind them, with a weight relative to the hemisphere of 0 (overcast, diffuse) to 2.5.
fn draw_room_light(rng: &mut ChaCha8Rng) -> (V3, f64) {
    let deg = std::f64::consts::PI / 180.0;
    let (elevation, azimuth) = match (unit(rng) * 4.0) as u32 {
        // Ceiling light: high, anywhere around.
        0 => (uniform(rng, [50.0, 85.0]), uniform(rng, [-180.0, 180.0])),
        // Window or lamp beside the person.
        1 => (
            uniform(rng, [0.0, 35.0]),
            uniform(rng, [50.0, 130.0]) * if unit(rng) < 0.5 { -1.0 } else { 1.0 },
        ),
        // In front (behind the phone): flattens the contrast between screen and room light.
        2 => (uniform(rng, [10.0, 50.0]), uniform(rng, [-45.0, 45.0])),
        // Behind the person.
        _ => (uniform(rng, [0.0, 60.0]), uniform(rng, [130.0, 230.0])),
    };
    let (e, a) = (elevation * deg, azimuth * deg);
    // Azimuth 0 = from the camera's side (toward +z); 90° = from the person's right (+u).
    let dir = normalise([e.cos() * a.sin(), -e.sin(), e.cos() * a.cos()]);
    (dir, uniform(rng, [0.0, 2.5]))
}

/// Scene-building inputs drawn by the session.
pub(super) struct SceneSetup<'a> {
    pub photo: &'a Photo,
    pub attack: Attack,
    pub width: usize,
    pub height: usize,
    pub margin: (usize, usize),
    /// Face box width in output pixels and its centre in output pixels.
    pub face_w_px: f32,
    /// The screen's light on a face patch facing it, as a share of the room's light (k).
    pub k0: f64,
    pub face_centre_px: (f32, f32),
}

/// Builds the scene of one session.
pub(super) fn build(setup: &SceneSetup, conditions: &SimConditions, rng: &mut ChaCha8Rng) -> Scene {
    let photo = setup.photo;
    let (mx, my) = setup.margin;
    let (sw, sh) = (setup.width + 2 * mx, setup.height + 2 * my);
    let photo_face_w = (photo.face.w * photo.width() as f32).max(1.0);
    let photo_face_h = (photo.face.h * photo.height() as f32).max(1.0);
    let k = photo_face_w / setup.face_w_px.max(4.0); // photo px per scene px
    let face_h_px = photo_face_h / k;
    let (pcx, pcy) = (
        (photo.face.x + photo.face.w / 2.0) * photo.width() as f32,
        (photo.face.y + photo.face.h / 2.0) * photo.height() as f32,
    );
    let scene_face = (
        setup.face_centre_px.0 + mx as f32,
        setup.face_centre_px.1 + my as f32,
    );
    let half_w = setup.face_w_px / 2.0;
    let half_h = face_h_px / 2.0;
    // Face-unit coordinates of a scene pixel; v in units of the box's half-width too (the box is
    // square for SeetaFace) but measured against the box height so the model follows the photo.
    let uv = |sx: usize, sy: usize| -> (f64, f64) {
        (
            f64::from((sx as f32 + 0.5 - scene_face.0) / half_w),
            f64::from((sy as f32 + 0.5 - scene_face.1) / half_h),
        )
    };

    // Skin tone: recolour the head and neck so the face's mean skin becomes a drawn reflectance
    // (keeping the photo's texture and shading), blending out over the outline.
    let photo_skin = photo.skin_mean();
    let tone = (unit(rng) < conditions.skin_tone_probability)
        .then(|| uniform(rng, conditions.skin_tone) as f32);
    let tone_gain: [f32; 3] = match tone {
        Some(t) => {
            let target = skin_reflectance(t);
            // The photo's level is its exposure, not its albedo: keep the photo's brightness of a
            // light skin and scale relative to the very light end.
            let photo_l = (photo_skin[0] + photo_skin[1] + photo_skin[2]) / 3.0;
            let light = skin_reflectance(1.0);
            let light_l = (light[0] + light[1] + light[2]) / 3.0;
            std::array::from_fn(|c| target[c] / light_l * photo_l / photo_skin[c].max(1e-4))
        }
        None => [1.0; 3],
    };
    let ambient_tint = uniform(rng, [-0.15, 0.15]) as f32;
    let tint = [1.0 + ambient_tint, 1.0, 1.0 - ambient_tint];

    // Lights and distances.
    let distance_m = uniform(rng, conditions.face_distance_m);
    let distance = distance_m / FACE_UNIT_M;
    let screen_below = uniform(rng, [0.04, 0.09]) / FACE_UNIT_M;
    let screen_side = uniform(rng, [-0.02, 0.02]) / FACE_UNIT_M;
    let front_z = HEAD_AXES[2];
    let (room_dir, room_weight) = draw_room_light(rng);
    let lights = Lights {
        screen: [screen_side, screen_below, front_z + distance],
        room_dir,
        room_weight,
    };
    let background_m = log_uniform(rng, conditions.background_m);
    let background_room = uniform(rng, [0.5, 2.0]);
    let reference = {
        let n = [0.0, 0.0, 1.0];
        lights.screen_irradiance([0.0, 0.1, front_z], n) / lights.room_irradiance(n)
    };
    // The room's light on a surface relative to the face front's, and the screen's share there.
    let front_room = lights.room_irradiance([0.0, 0.0, 1.0]);
    let live_response = |u: f64, v: f64| -> (Surface, f64, f64) {
        let (surface, z, n) = turned_surface(u, v, &photo.turn);
        match surface {
            Surface::Background => {
                let depth = front_z - (background_m / FACE_UNIT_M);
                let es = lights.screen_irradiance([u, v, depth], [0.0, 0.0, 1.0]);
                (surface, es / front_room / background_room / reference, 1.0)
            }
            _ => {
                let es = lights.screen_irradiance([u, v, z], n);
                let mut ea = lights.room_irradiance(n);
                if surface == Surface::Neck {
                    ea *= NECK_ROOM_LIGHT;
                }
                (surface, es / ea.max(1e-6) / reference, ea / front_room)
            }
        }
    };

    // The photo is the person as *its* light lit them; a live person here is lit by this room.
    // Relight the head and neck: divide out the photo's own shading (its luminance blurred over
    // 0.3 face half-widths, where skin albedo is nearly even) and multiply in this room's light.
    // Then the screen's added light is albedo × screen irradiance, as physics has it, whatever the
    // photo's lighting was.
    let shading = {
        let mut lum: Vec<[f32; 3]> = Vec::with_capacity(sw * sh);
        for sy in 0..sh {
            for sx in 0..sw {
                let px = pcx + (sx as f32 + 0.5 - scene_face.0) * k - 0.5;
                let py = pcy + (sy as f32 + 0.5 - scene_face.1) * k - 0.5;
                let l = crate::colour::LinearRgb::from_array(photo.sample(px, py))
                    .luminance()
                    .max(1e-4);
                lum.push([l; 3]);
            }
        }
        blur(&mut lum, sw, sh, PHOTO_SHADING_SCALE * half_w);
        let (mut front, mut n) = (0.0f32, 0.0f32);
        for sy in 0..sh {
            for sx in 0..sw {
                let (u, v) = uv(sx, sy);
                if u.abs() < 0.3 && (-0.1..0.3).contains(&v) {
                    front += lum[sy * sw + sx][0];
                    n += 1.0;
                }
            }
        }
        let front = (front / n.max(1.0)).max(1e-4);
        lum.into_iter().map(|l| l[0] / front).collect::<Vec<f32>>()
    };

    // Attack surfaces: a flat plane (print or tablet) at the distance where the photo's face
    // appears at this size, possibly tilted, with the room far behind it.
    let tilt = [
        uniform(rng, [-25.0, 25.0]).to_radians(),
        uniform(rng, [-25.0, 25.0]).to_radians(),
    ];
    let plane_normal = normalise([tilt[0].sin(), tilt[1].sin(), tilt[0].cos() * tilt[1].cos()]);
    // Face units per radian of view: the box spans face_w_px of `width` pixels over the HFOV.
    let view_half = (CAMERA_HFOV_DEG.to_radians() / 2.0).tan();
    let box_angle = f64::from(setup.face_w_px) / setup.width as f64 * view_half; // tan of half the box's width angle
    let plane_distance = 1.0 / box_angle; // face units: where one unit subtends the box half-width
    let plane_lights = Lights {
        screen: [
            screen_side,
            screen_below * plane_distance / distance,
            plane_distance,
        ],
        room_dir,
        room_weight,
    };
    let plane_point = |u: f64, v: f64| -> V3 {
        // The plane through the origin with the drawn normal: z = −(n_u u + n_v v) / n_z.
        [
            u,
            v,
            -(plane_normal[0] * u + plane_normal[1] * v) / plane_normal[2].max(0.3),
        ]
    };
    let plane_reference = plane_lights.screen_irradiance(plane_point(0.0, 0.1), plane_normal);
    let plane_response = |u: f64, v: f64| -> f64 {
        plane_lights.screen_irradiance(plane_point(u, v), plane_normal) / plane_reference
    };
    let room_behind_plane = {
        let behind = log_uniform(rng, [0.3, 3.0]) / FACE_UNIT_M;
        let es = plane_lights.screen_irradiance([0.0, 0.0, -behind], [0.0, 0.0, 1.0]);
        es / plane_reference / uniform(rng, [0.5, 2.0])
    };
    // Extent of a held print or tablet around the face (face units: left, right, top, bottom).
    let extent = [
        uniform(rng, [1.4, 3.0]),
        uniform(rng, [1.4, 3.0]),
        uniform(rng, [2.0, 3.5]),
        uniform(rng, [1.5, 4.0]),
    ];
    let inside_extent =
        |u: f64, v: f64| u >= -extent[0] && u <= extent[1] && v >= -extent[2] && v <= extent[3];
    // A print cut out along the face's outline (its cheeks reach ±1.03 face units at the eyes), or
    // along the head's with some hair.
    let cut = [uniform(rng, [1.03, 1.3]), uniform(rng, [1.3, 1.6])];
    let inside_cut = |u: f64, v: f64| {
        (u / cut[0]).powi(2) + ((v - HEAD_CENTRE_V) / cut[1]).powi(2) < 1.0
            || (v > 0.6 && v < 1.6 && u.abs() < 0.6)
    };
    // Tablet: bezel width, and our screen mirrored in its glass. The mirror image of the phone's
    // screen (7 × 15 cm, coloured except for the page's oval around the face preview: about 2/3 of
    // its width and 2/5 of its height) is a virtual image twice as far as the tablet: its half-width
    // in face units is (7 cm / 2) / (2 · D_tablet · face_w_frac · tan(HFOV / 2)); the attacker steers
    // it over the face by tilting the tablet.
    let bezel = uniform(rng, [0.1, 0.3]);
    let tablet_brightness = uniform(rng, [2.0, 8.0]) as f32;
    let glossy = unit(rng) < 0.6;
    let tablet_distance_cm = uniform(rng, [8.0, 35.0]);
    let face_w_frac = f64::from(setup.face_w_px) / setup.width as f64;
    let mirror_scale = 1.0 / (2.0 * tablet_distance_cm * face_w_frac * view_half);
    let reflection = TabletReflection {
        centre: [uniform(rng, [-0.6, 0.6]), uniform(rng, [-0.6, 0.8])],
        half: [3.5 * mirror_scale, 7.5 * mirror_scale],
        hole_half: [0.33 * 7.0 * mirror_scale, 0.2 * 15.0 * mirror_scale],
        hole_offset: 1.5 * mirror_scale * if unit(rng) < 0.5 { -1.0 } else { 1.0 },
        // Glossy glass mirrors the phone: Fresnel ~4 % of a 250–500 nit screen against 120–200 nit
        // skin on a 300–500 nit tablet, 0.02–0.15. An anti-glare coating instead scatters the
        // phone's 40–360 lux (L·A/d² at 35–10 cm) diffusely, ρ ≈ 1–3 %: ρE/π ≈ 0.4–3.4 nit, 0.25–2 %
        // of the skin, over the whole screen.
        strength: if glossy {
            uniform(rng, [0.02, 0.15])
        } else {
            uniform(rng, [0.0025, 0.02])
        } as f32,
        glossy,
    };

    // Glasses: two lenses; the screen's mirror image covers part of each.
    let glasses = matches!(setup.attack, Attack::None | Attack::Replay)
        && unit(rng) < conditions.glasses_probability;
    let glint = [
        uniform(rng, [-0.15, 0.15]),
        uniform(rng, [-0.1, 0.1]),
        uniform(rng, [0.08, 0.2]),
    ];
    let glint_strength = uniform(rng, [1.0, 5.0]) as f32;

    let mut appearance = Vec::with_capacity(sw * sh);
    let mut response = Vec::with_capacity(sw * sh);
    let mut additive = Vec::with_capacity(sw * sh);
    let mut zone = Vec::with_capacity(sw * sh);
    for sy in 0..sh {
        for sx in 0..sw {
            let px = pcx + (sx as f32 + 0.5 - scene_face.0) * k - 0.5;
            let py = pcy + (sy as f32 + 0.5 - scene_face.1) * k - 0.5;
            let mut a = photo.sample(px, py);
            let (u, v) = uv(sx, sy);
            let (surface, live, room) = live_response(u, v);
            // Skin tone applies to head and neck, fading out past the outline.
            if tone.is_some() && surface != Surface::Background && surface != Surface::Torso {
                for c in 0..3 {
                    a[c] *= tone_gain[c];
                }
            }
            let mut add = 0.0f32;
            let mut z = ZONE_NONE;
            if (u.abs() - 0.42).abs() < 0.2 && (v + 0.2).abs() < 0.09 {
                z = ZONE_EYES;
            } else if u.abs() < 0.32 && (0.5..0.65).contains(&v) {
                z = ZONE_MOUTH;
            }
            let r: f64 = match setup.attack {
                Attack::None | Attack::Replay | Attack::NoResponse => {
                    if matches!(surface, Surface::Head | Surface::Neck) {
                        let relight = (room as f32 / shading[sy * sw + sx].max(1e-3))
                            .clamp(MIN_RELIGHT, MAX_RELIGHT);
                        for c in &mut a {
                            *c *= relight;
                        }
                    }
                    if glasses {
                        let lens = ((u.abs() - 0.42) / 0.3).powi(2) + ((v + 0.2) / 0.2).powi(2);
                        if lens < 1.0 {
                            for c in &mut a {
                                *c *= 0.9;
                            }
                            let g = ((u.abs() - 0.42 - glint[0]) / glint[2]).powi(2)
                                + ((v + 0.2 - glint[1]) / (glint[2] * 0.8)).powi(2);
                            if g < 1.0 {
                                add = glint_strength * setup.k0 as f32;
                            }
                        }
                    }
                    live
                }
                Attack::FlatPrint => {
                    for c in &mut a {
                        *c = PRINT_BLACK + (PRINT_WHITE - PRINT_BLACK) * *c;
                    }
                    plane_response(u, v)
                }
                Attack::NarrowPrint | Attack::CutoutPrint => {
                    let on_print = if setup.attack == Attack::NarrowPrint {
                        inside_extent(u, v)
                    } else {
                        inside_cut(u, v)
                    };
                    if on_print {
                        for c in &mut a {
                            *c = PRINT_BLACK + (PRINT_WHITE - PRINT_BLACK) * *c;
                        }
                        plane_response(u, v)
                    } else {
                        z = ZONE_NONE;
                        room_behind_plane
                    }
                }
                Attack::Tablet => {
                    let inner = u >= -extent[0] + bezel
                        && u <= extent[1] - bezel
                        && v >= -extent[2] + bezel
                        && v <= extent[3] - bezel;
                    if inner {
                        // Emitted: brighter than the room-lit scene, not lit by the screen; the
                        // reflection of the phone adds the screen's colour.
                        for c in &mut a {
                            *c *= tablet_brightness;
                        }
                        add = reflection.at(u, v);
                        0.0
                    } else if inside_extent(u, v) {
                        // Bezel: dark plastic at the tablet's distance.
                        a = [0.02; 3];
                        z = ZONE_NONE;
                        plane_response(u, v)
                    } else {
                        z = ZONE_NONE;
                        room_behind_plane
                    }
                }
            };
            appearance.push([a[0] * tint[0], a[1] * tint[1], a[2] * tint[2]]);
            response.push(r as f32);
            additive.push(add);
            zone.push(z);
        }
    }
    blur(
        &mut appearance,
        sw,
        sh,
        uniform(rng, conditions.blur_px) as f32 * setup.width as f32 / 320.0,
    );

    // Reference figures: mean response over the centre and the outer cheeks (box-relative).
    let mean_response = |u0: f64, u1: f64, v0: f64, v1: f64| -> f64 {
        let (mut s, mut n) = (0.0, 0.0);
        for i in 0..=20 {
            for j in 0..=20 {
                let u = u0 + (u1 - u0) * f64::from(i) / 20.0;
                let v = v0 + (v1 - v0) * f64::from(j) / 20.0;
                let sx = (scene_face.0 + (u as f32) * half_w) as usize;
                let sy = (scene_face.1 + (v as f32) * half_h) as usize;
                if sx < sw && sy < sh {
                    s += f64::from(response[sy * sw + sx]);
                    n += 1.0;
                }
            }
        }
        if n > 0.0 {
            s / n
        } else {
            0.0
        }
    };
    // The decoder's relief strips (crate::analysis::RELIEF_COLUMNS and RELIEF_ROWS) in face units.
    let centre_response = mean_response(-0.2, 0.2, 0.0, 0.44);
    let side_response =
        0.5 * (mean_response(-0.88, -0.6, 0.0, 0.56) + mean_response(0.6, 0.88, 0.0, 0.56));
    let skin = {
        let (mut s, mut n) = ([0.0f64; 3], 0.0f64);
        for sy in 0..sh {
            for sx in 0..sw {
                let (u, v) = uv(sx, sy);
                if u.abs() < 0.5 && v.abs() < 0.5 {
                    let a = appearance[sy * sw + sx];
                    for c in 0..3 {
                        s[c] += f64::from(a[c]);
                    }
                    n += 1.0;
                }
            }
        }
        std::array::from_fn(|c| (s[c] / n.max(1.0)) as f32)
    };
    let figures = SceneFigures {
        distance_m,
        background_m,
        room_light_dir: room_dir,
        room_light_weight: room_weight,
        centre_response,
        side_response,
        glasses,
        skin_tone: tone,
    };
    Scene {
        w: sw,
        h: sh,
        appearance,
        response,
        additive,
        zone,
        face_centre: scene_face,
        face_size: (setup.face_w_px, face_h_px),
        skin,
        tint,
        figures,
    }
}

/// Our screen mirrored in a tablet's glass (see `build`), in face units.
struct TabletReflection {
    centre: [f64; 2],
    half: [f64; 2],
    hole_half: [f64; 2],
    hole_offset: f64,
    strength: f32,
    glossy: bool,
}

impl TabletReflection {
    /// Added light at (u, v), relative to the emitted skin, per unit of screen colour.
    fn at(&self, u: f64, v: f64) -> f32 {
        if !self.glossy {
            return self.strength;
        }
        let (du, dv) = (u - self.centre[0], v - self.centre[1]);
        let inside = du.abs() < self.half[0] && dv.abs() < self.half[1];
        let in_hole = (du / self.hole_half[0]).powi(2)
            + ((dv - self.hole_offset) / self.hole_half[1]).powi(2)
            < 1.0;
        if inside && !in_hole {
            self.strength
        } else {
            0.0
        }
    }
}

/// Separable box blur (three passes approximate a Gaussian of σ ≈ `sigma`), in place.
fn blur(img: &mut [[f32; 3]], w: usize, h: usize, sigma: f32) {
    if !(sigma.is_finite() && sigma >= 0.3) || w == 0 || h == 0 {
        return;
    }
    // Three box passes of radius r give variance 3·((2r+1)² − 1)/12 = r(r+1).
    let r = ((sigma * sigma).sqrt().round() as usize).max(1);
    let mut tmp = vec![[0.0f32; 3]; w.max(h)];
    for _ in 0..3 {
        for y in 0..h {
            box_line(&mut img[y * w..(y + 1) * w], 1, w, r, &mut tmp);
        }
        for x in 0..w {
            box_line(&mut img[x..], w, h, r, &mut tmp);
        }
    }
}

fn box_line(line: &mut [[f32; 3]], stride: usize, n: usize, r: usize, tmp: &mut [[f32; 3]]) {
    for (i, out) in tmp.iter_mut().enumerate().take(n) {
        let lo = i.saturating_sub(r);
        let hi = (i + r).min(n - 1);
        let mut s = [0.0f32; 3];
        for j in lo..=hi {
            let p = line[j * stride];
            for c in 0..3 {
                s[c] += p[c];
            }
        }
        let cnt = (hi - lo + 1) as f32;
        *out = [s[0] / cnt, s[1] / cnt, s[2] / cnt];
    }
    for i in 0..n {
        line[i * stride] = tmp[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turned_model_puts_its_nose_tip_where_the_photo_has_it() {
        for (tip, roll) in [((0.0, 0.3), 0.0), ((0.4, 0.2), 0.15), ((-0.3, 0.45), -0.1)] {
            let t = head_turn(tip, roll);
            let [u, v, z] = nose_tip();
            let q = turn(&t, [u, v - HEAD_CENTRE_V, z]);
            assert!((q[0] - tip.0).abs() < 1e-9, "{tip:?} {q:?}");
            assert!((q[1] + HEAD_CENTRE_V - tip.1).abs() < 1e-9, "{tip:?} {q:?}");
            // Seen at the rolled tip: the head, at the tip's height, turned as the tip is.
            let (c, s) = (roll.cos(), roll.sin());
            let (vu, vv) = (c * tip.0 - s * tip.1, s * tip.0 + c * tip.1);
            let (surface, height, n) = turned_surface(vu, vv, &t);
            assert_eq!(surface, Surface::Head);
            assert!((height - q[2]).abs() < 1e-3, "{height} {q:?}");
            assert!(n[0].signum() == tip.0.signum() || tip.0 == 0.0, "{n:?}");
        }
        assert_eq!(head_turn((0.0, 0.3), 0.0), HeadTurn::default());
    }

    #[test]
    fn a_face_receives_most_screen_light_at_its_front() {
        // The screen's irradiance alone (whatever the room): cheeks turned away and hair turned up
        // receive less than the front; the outline has a grazing normal.
        let lights = Lights {
            screen: [0.0, 1.0, HEAD_AXES[2] + 4.0],
            room_dir: [0.0, -1.0, 0.0],
            room_weight: 1.0,
        };
        let e = |u: f64, v: f64| {
            let (_, z, n) = live_surface(u, v);
            lights.screen_irradiance([u, v, z], n)
        };
        let front = e(0.3, 0.2);
        assert!(e(0.85, 0.2) < 0.75 * front, "{} {front}", e(0.85, 0.2));
        assert!(e(0.0, -1.6) < 0.5 * front, "{} {front}", e(0.0, -1.6));
        let (_, _, n) = live_surface(1.07, -0.35);
        assert!(n[2] < 0.3, "{n:?}");
    }
}
