//! A simulated camera session in front of a flashing screen, for tests and `faceid-eval`.
//!
//! Built to cover the world rather than the decoder's assumptions (issue #9). Per session it draws:
//! - **How much the screen lights the face** (`k`, the screen's light on a face patch facing it as a
//!   share of the room's light): a page cannot raise the brightness, and a 250–500 nit phone screen
//!   of ~0.009 m² at 25–35 cm gives E ≈ L·A/d² ≈ 20–70 lux against 100–500 lux of room light, so k
//!   is 0.05–0.15 in common rooms, up to ~0.6 in dim ones (LIVENESS.md). Drawn log-uniformly over
//!   [`SimConditions::screen_light`] (0.04–0.6 by default; evaluation draws per band).
//! - **Where that light lands** ([`scene`]): a head model (ellipsoid, nose, neck, torso) lit by the
//!   screen below the camera and by the room (a bright ceiling hemisphere plus a lamp or window in
//!   a random direction), inverse-square distances; the room behind at 8 cm (a car's headrest) to 4 m.
//!   Skin tones from very light to very dark, glasses that mirror the screen, soft and small faces.
//! - **The camera** ([`camera`]): 15–30 fps with uneven intervals and drops, timestamps that jitter,
//!   a rolling shutter, exposure time averaging, auto-exposure (locked, smooth or stepped) and
//!   auto white balance (locked or stepped) reacting to the flash, a tone curve that is not sRGB,
//!   shot and read noise, part of it spatially coarse. Blinks, talking and hand shake.
//!
//! Attacks ([`Attack`]): a replay of another session's recording (any palette colours), no response
//! at all, a flat print filling the view, a flat print narrower than the view with the room around
//! it, a print cut out around the head, and a photo on a tablet (emissive; it mirrors our screen on
//! its glass). Compression is not simulated here: `faceid-eval` encodes sessions with ffmpeg at
//! MediaRecorder's bitrate and decodes them as the server does.

mod camera;
mod photo;
pub mod scene;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::analysis::reflection_sample;
use crate::challenge::{ColourChallenge, DisplayedColour};
use crate::colour::{LinearRgb, Rgb8};
use crate::frame::{AnalysisImage, RgbaFrame};
use crate::geometry::FaceBox;
use crate::reflection::ReflectionSample;

pub use camera::ExposureMode;
use camera::{Camera, ExposureState, FrameClock, WhiteBalanceState, TONE_MAX, TONE_TABLE};
pub use photo::{
    skin_reflectance, HeadTurn, Photo, ASTRONAUT_FACE, SKIN_VERY_DARK, SKIN_VERY_LIGHT,
};
pub use scene::SceneFigures;
use scene::{Scene, SceneSetup, ZONE_EYES, ZONE_MOUTH};

/// Why a photo cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot decode the PNG: {0}")]
    Png(String),
    #[error("unusable image size {width}x{height}")]
    Size { width: u32, height: u32 },
    #[error("the face box is not a box inside the photo")]
    FaceOutside,
    #[error("the face engine failed on the photo: {0}")]
    Engine(String),
}

/// What is in front of the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attack {
    /// A genuine, live person.
    None,
    /// A genuine session recorded for another challenge (its colours may come from any palette),
    /// played back in step with the page (a virtual camera, or a screen filmed closely).
    Replay,
    /// Nothing responds to the screen: a still or a recording made under constant light.
    NoResponse,
    /// A flat print filling the whole view.
    FlatPrint,
    /// A flat print held in front of the camera, narrower than the view: the room shows around it.
    NarrowPrint,
    /// A print cut out around the head, held in front of the room.
    CutoutPrint,
    /// A photo shown on a tablet: it emits its own light and mirrors our screen on its glass.
    Tablet,
}

impl Attack {
    pub const ALL: [Attack; 7] = [
        Attack::None,
        Attack::Replay,
        Attack::NoResponse,
        Attack::FlatPrint,
        Attack::NarrowPrint,
        Attack::CutoutPrint,
        Attack::Tablet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "genuine",
            Attack::Replay => "replay",
            Attack::NoResponse => "no-response",
            Attack::FlatPrint => "flat-print",
            Attack::NarrowPrint => "narrow-print",
            Attack::CutoutPrint => "cutout-print",
            Attack::Tablet => "tablet",
        }
    }

    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The world a session is drawn from. Ranges (`[lo, hi]`) are drawn uniformly per session unless
/// a field says otherwise; the defaults cover what phones and rooms do (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct SimConditions {
    /// Output frame size (the page records at most 640×480; the server analyses at 320×240).
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate: front cameras run 15–30 fps, lower in dim light.
    pub fps: [f64; 2],
    /// Standard deviation of each frame interval as a share of the period (variable frame rate).
    pub frame_interval_jitter: [f64; 2],
    /// Standard deviation of the timestamp error (ms): frames are stamped on arrival.
    pub timestamp_jitter_ms: [f64; 2],
    /// Share of frames dropped (a quarter of the drops take three frames at once).
    pub drop_rate: [f64; 2],
    /// Delay from the logged display time to the frame's timestamp: panel latency (median 49–68 ms,
    /// LIVENESS.md) plus one to three camera frames, plus clock misalignment.
    pub delay_ms: [f64; 2],
    /// Rolling shutter: time from the first row's exposure to the last row's.
    pub rolling_shutter_ms: [f64; 2],
    /// k, drawn log-uniformly (see the module docs).
    pub screen_light: [f64; 2],
    /// Face distance from the phone (arm's length when holding a phone to read it).
    pub face_distance_m: [f64; 2],
    /// Distance from the face to whatever is behind it, drawn log-uniformly: a car's headrest
    /// (8–20 cm), a bookshelf (0.3–0.6 m), a wall (1–4 m).
    pub background_m: [f64; 2],
    /// Face box width as a share of the frame width (the page's oval guides it to about a third).
    pub face_width: [f64; 2],
    /// Horizontal and vertical offset of the face centre from the frame centre (share of the frame).
    pub face_offset: f64,
    /// Probability of recolouring the skin to a drawn tone (else the photo's own), and the tone
    /// range: 0 very dark … 1 very light.
    pub skin_tone_probability: f64,
    pub skin_tone: [f64; 2],
    /// Probability of glasses (which mirror the screen).
    pub glasses_probability: f64,
    /// Optical softness: Gaussian σ in pixels at 320 px width (defocus, a cheap lens, denoising).
    pub blur_px: [f64; 2],
    /// Hand shake: translation amplitude as a share of the frame width (scale changes by half of it).
    pub motion: [f64; 2],
    /// Probability that the person talks (mouth opening and closing at 3–6 Hz).
    pub talking_probability: f64,
    /// Blinks per second.
    pub blink_rate_hz: [f64; 2],
    /// Sensor noise σ at mid-grey, in 8-bit levels (phone front cameras indoors: 1.5–5).
    pub noise_levels: [f64; 2],
    /// Camera tone curve: exponent applied on top of sRGB (0.87–1.15 spans gamma 2.1–2.75 cameras)
    /// and S-curve contrast (0 none … 0.5 strong).
    pub tone_gamma: [f64; 2],
    pub tone_contrast: [f64; 2],
    /// Auto-exposure: probability it is locked while recording, its lag (ms) and how much of a
    /// brightness change it undoes; slow drift amplitude (natural-log units).
    pub exposure_locked_probability: f64,
    pub exposure_lag_ms: [f64; 2],
    pub exposure_strength: [f64; 2],
    pub exposure_drift: f64,
    /// Auto white balance: probability it is locked, how much of the flash's colour cast on the
    /// frame it undoes when it is not; slow drift amplitude.
    pub white_balance_locked_probability: f64,
    pub white_balance_adaptation: [f64; 2],
    pub white_balance_drift: f64,
}

impl Default for SimConditions {
    fn default() -> Self {
        SimConditions {
            width: 320,
            height: 240,
            fps: [15.0, 30.0],
            frame_interval_jitter: [0.0, 0.15],
            timestamp_jitter_ms: [0.5, 4.0],
            drop_rate: [0.0, 0.06],
            delay_ms: [40.0, 250.0],
            rolling_shutter_ms: [0.0, 30.0],
            screen_light: [0.04, 0.6],
            face_distance_m: [0.25, 0.40],
            background_m: [0.08, 4.0],
            face_width: [0.25, 0.45],
            face_offset: 0.05,
            skin_tone_probability: 0.7,
            skin_tone: [0.0, 1.0],
            glasses_probability: 0.25,
            blur_px: [0.0, 1.2],
            motion: [0.0, 0.025],
            talking_probability: 0.25,
            blink_rate_hz: [0.0, 0.6],
            noise_levels: [1.5, 5.0],
            tone_gamma: [0.87, 1.15],
            tone_contrast: [0.0, 0.5],
            exposure_locked_probability: 0.3,
            exposure_lag_ms: [100.0, 600.0],
            exposure_strength: [0.3, 1.0],
            exposure_drift: 0.04,
            white_balance_locked_probability: 0.4,
            white_balance_adaptation: [0.1, 0.6],
            white_balance_drift: 0.03,
        }
    }
}

impl SimConditions {
    /// The same conditions at another output size.
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// The same conditions with k drawn from `[lo, hi]`.
    pub fn with_screen_light(mut self, lo: f64, hi: f64) -> Self {
        self.screen_light = [lo, hi];
        self
    }

    /// A camera at exactly `fps` with no interval jitter and no drops (a video file played as a
    /// camera: Chrome's fake capture device plays a fixed rate).
    pub fn fixed_rate(mut self, fps: f64) -> Self {
        self.fps = [fps, fps];
        self.frame_interval_jitter = [0.0, 0.0];
        self.timestamp_jitter_ms = [0.0, 0.0];
        self.drop_rate = [0.0, 0.0];
        self
    }

    /// An easy, well-lit session: a dim room (k 0.3–0.5), a steady camera with sRGB output, no
    /// glasses, the photo's own skin. For tests of behaviour other than the decision's limits.
    pub fn steady() -> Self {
        SimConditions {
            screen_light: [0.3, 0.5],
            background_m: [1.0, 3.0],
            face_width: [0.3, 0.4],
            skin_tone_probability: 0.0,
            glasses_probability: 0.0,
            blur_px: [0.0, 0.0],
            motion: [0.0, 0.01],
            talking_probability: 0.0,
            blink_rate_hz: [0.0, 0.0],
            noise_levels: [2.0, 2.0],
            tone_gamma: [1.0, 1.0],
            tone_contrast: [0.0, 0.0],
            ..SimConditions::default()
        }
    }
}

/// One simulated camera frame (RGBA, packed rows) and the ground-truth face box in it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFrame {
    /// Timestamp on the recording clock (ms), as a recorder would stamp it.
    pub t_ms: f64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    /// Where the face really is (normalised), for tests that bypass the detector.
    pub face: FaceBox,
}

/// What a session drew, for evaluation reports.
#[derive(Clone, Debug, PartialEq)]
pub struct SimTruth {
    pub attack: Attack,
    /// k: the screen's light on a face patch facing it, as a share of the room's light.
    pub screen_light: f64,
    pub delay_ms: f64,
    pub fps: f64,
    pub exposure: ExposureMode,
    pub white_balance_locked: bool,
    pub scene: SceneFigures,
}

/// Share of the metering that looks at the face (phones' front cameras meter with face priority).
const FACE_METERING: f64 = 0.8;
/// Scene margin around the frame (share per side) that camera shake may bring into view.
const SCENE_MARGIN: f32 = 0.12;
/// Recording runs this long after the flash ends (the page stops the recorder a little late).
const TAIL_MS: f64 = 600.0;
/// Pre-drawn standard normal values for per-pixel noise.
const NOISE_TABLE: usize = 1 << 14;
/// Coarse noise cells are this many pixels on a side (demosaicing and denoising correlate noise).
const COARSE_CELL: usize = 4;

/// A simulated recording of one light challenge.
pub struct SimSession {
    conditions: SimConditions,
    attack: Attack,
    k0: f64,
    camera: Camera,
    scene: Scene,
    /// What lit the face (for a replay: the other recording's timeline) and its linear colours.
    lit: Vec<DisplayedColour>,
    lit_linear: Vec<[f32; 3]>,
    lit_end: f64,
    /// What the page reports as displayed (the issued challenge).
    shown: Vec<DisplayedColour>,
    clock: FrameClock,
    exposure: ExposureState,
    white_balance: WhiteBalanceState,
    /// Per channel over the visible frame: Σ appearance, Σ appearance·response, Σ additive·skin,
    /// divided by the pixel count; the same over the face for metering.
    frame_sums: [[f32; 3]; 3],
    face_sums: [[f32; 3]; 3],
    hold_mean: [f64; 3],
    noise: Box<[f32; NOISE_TABLE]>,
    noise_state: u64,
    coarse: Vec<f32>,
    rng: ChaCha8Rng,
    shake: [f64; 10],
    blinks: Vec<(f64, f64)>,
    talking: Option<[f64; 2]>,
    last_t: f64,
    col_map: Vec<u32>,
    row_map: Vec<u32>,
    row_light: Vec<[f32; 3]>,
}

pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn uniform(rng: &mut ChaCha8Rng, range: [f64; 2]) -> f64 {
    let (lo, hi) = (range[0].min(range[1]), range[0].max(range[1]));
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0;
    }
    lo + (hi - lo) * unit(rng)
}

/// Log-uniform in `range` (both ends positive), else uniform.
pub(crate) fn log_uniform(rng: &mut ChaCha8Rng, range: [f64; 2]) -> f64 {
    let (lo, hi) = (range[0].min(range[1]), range[0].max(range[1]));
    if lo > 0.0 && hi.is_finite() {
        (lo.ln() + (hi.ln() - lo.ln()) * unit(rng)).exp()
    } else {
        uniform(rng, range)
    }
}

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = unit(rng).max(1e-12);
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Colour on a timeline at time `t` (before the first entry: the first entry's colour; the page
/// shows the hold colour before and after the challenge).
fn colour_at(timeline: &[DisplayedColour], linear: &[[f32; 3]], end_ms: f64, t: f64) -> [f32; 3] {
    let first = linear.first().copied().unwrap_or([1.0; 3]);
    if t >= end_ms {
        return first;
    }
    let i = timeline.partition_point(|d| d.start_ms <= t);
    linear.get(i.saturating_sub(1)).copied().unwrap_or(first)
}

/// A colour sequence from a wider palette than ours (any hue, including reds): what another
/// product's recording, replayed, might have been lit by.
fn foreign_sequence(rng: &mut ChaCha8Rng, len: usize) -> Vec<Rgb8> {
    (0..len)
        .map(|_| {
            let h = unit(rng) * 6.0;
            let x = (1.0 - ((h % 2.0) - 1.0).abs()) as f32;
            let (r, g, b) = match h as u32 {
                0 => (1.0, x, 0.0),
                1 => (x, 1.0, 0.0),
                2 => (0.0, 1.0, x),
                3 => (0.0, x, 1.0),
                4 => (x, 0.0, 1.0),
                _ => (1.0, 0.0, x),
            };
            Rgb8::new((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
        })
        .collect()
}

impl SimSession {
    /// A session for `challenge` shown to `photo` under `conditions`, attacked by `attack`.
    /// Conditions are clamped to sane values (frame size 16..=4096).
    pub fn new(
        photo: &Photo,
        challenge: &ColourChallenge,
        conditions: SimConditions,
        attack: Attack,
        seed: u64,
    ) -> SimSession {
        let mut conditions = conditions;
        conditions.width = conditions.width.clamp(16, 4096);
        conditions.height = conditions.height.clamp(16, 4096);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        // The timelines: what lit the face and what the page reports (vsync-aligned paints).
        let hold_start = uniform(&mut rng, [300.0, 600.0]);
        let vsync = |rng: &mut ChaCha8Rng, s: Vec<DisplayedColour>| -> Vec<DisplayedColour> {
            s.into_iter()
                .map(|d| DisplayedColour {
                    start_ms: d.start_ms + uniform(rng, [0.0, 16.7]),
                    ..d
                })
                .collect()
        };
        let shown = vsync(&mut rng, challenge.schedule(hold_start));
        let last_step =
            |c: &ColourChallenge| f64::from(c.steps.last().map_or(0, |s| s.duration_ms));
        let shown_end = shown.last().map_or(0.0, |d| d.start_ms) + last_step(challenge);
        let (lit, lit_end) = if attack == Attack::Replay {
            let mut other = ColourChallenge::generate(&mut rng);
            if unit(&mut rng) < 0.5 {
                // Another product's recording: colours from anywhere on the hue circle.
                let colours = foreign_sequence(&mut rng, other.steps.len());
                for (s, c) in other.steps.iter_mut().zip(colours) {
                    s.colour = c;
                }
            }
            // Started in step with the page, give or take a frame or two.
            let offset = uniform(&mut rng, [-50.0, 50.0]);
            let lit = vsync(&mut rng, other.schedule(hold_start + offset));
            let end = lit.last().map_or(0.0, |d| d.start_ms) + last_step(&other);
            (lit, end)
        } else {
            (shown.clone(), shown_end)
        };
        let lit_linear = lit
            .iter()
            .map(|d| d.colour.to_linear().to_array())
            .collect();

        let k0 = match attack {
            Attack::NoResponse => 0.0,
            _ => log_uniform(&mut rng, conditions.screen_light),
        };
        let camera = Camera::draw(&conditions, &mut rng);
        let (w, h) = (conditions.width as f32, conditions.height as f32);
        let face_w_px = (uniform(&mut rng, conditions.face_width) as f32 * w).max(4.0);
        let off = conditions.face_offset.clamp(0.0, 0.3);
        let face_centre_px = (
            w * (0.5 + uniform(&mut rng, [-off, off]) as f32),
            h * (0.45 + uniform(&mut rng, [-off, off]) as f32),
        );
        let margin = (
            (w * SCENE_MARGIN).ceil() as usize,
            (h * SCENE_MARGIN).ceil() as usize,
        );
        let setup = SceneSetup {
            photo,
            attack,
            width: conditions.width as usize,
            height: conditions.height as usize,
            margin,
            face_w_px,
            k0,
            face_centre_px,
        };
        let scene = scene::build(&setup, &conditions, &mut rng);

        // Sums for the camera's automatic controls: over the visible frame and over the face.
        let tint = scene.tint;
        let mut frame_sums = [[0.0f64; 3]; 3];
        let mut face_sums = [[0.0f64; 3]; 3];
        let (mut frame_n, mut face_n) = (0.0f64, 0.0f64);
        for sy in margin.1..margin.1 + conditions.height as usize {
            for sx in margin.0..margin.0 + conditions.width as usize {
                let i = sy * scene.w + sx;
                let a = scene.appearance[i];
                let g = f64::from(scene.response[i]);
                let add = f64::from(scene.additive[i]);
                let dx = (sx as f32 + 0.5 - scene.face_centre.0) / (scene.face_size.0 / 2.0);
                let dy = (sy as f32 + 0.5 - scene.face_centre.1) / (scene.face_size.1 / 2.0);
                let on_face = dx.abs() < 0.6 && dy.abs() < 0.6;
                for c in 0..3 {
                    let terms = [
                        f64::from(a[c]),
                        f64::from(a[c]) * g * k0 / f64::from(tint[c]),
                        add * f64::from(scene.skin[c]),
                    ];
                    for (t, v) in terms.iter().enumerate() {
                        frame_sums[t][c] += v;
                        if on_face {
                            face_sums[t][c] += v;
                        }
                    }
                }
                frame_n += 1.0;
                if on_face {
                    face_n += 1.0;
                }
            }
        }
        let norm = |s: [[f64; 3]; 3], n: f64| -> [[f32; 3]; 3] {
            std::array::from_fn(|t| std::array::from_fn(|c| (s[t][c] / n.max(1.0)) as f32))
        };
        let frame_sums = norm(frame_sums, frame_n);
        let face_sums = norm(face_sums, face_n);

        let first_frame = uniform(&mut rng, [0.0, camera.period_ms]);
        let end_ms = lit_end.max(shown_end) + TAIL_MS;
        let clock = FrameClock::new(first_frame, end_ms);
        let noise: Box<[f32; NOISE_TABLE]> =
            Box::new(std::array::from_fn(|_| normal(&mut rng) as f32));
        let noise_state = rng.next_u64() | 1;
        let motion = uniform(&mut rng, conditions.motion);
        let shake = [
            motion,
            uniform(&mut rng, [0.2, 0.6]),
            uniform(&mut rng, [0.8, 2.0]),
            uniform(&mut rng, [0.2, 0.6]),
            uniform(&mut rng, [0.8, 2.0]),
            unit(&mut rng) * std::f64::consts::TAU,
            unit(&mut rng) * std::f64::consts::TAU,
            unit(&mut rng) * std::f64::consts::TAU,
            unit(&mut rng) * std::f64::consts::TAU,
            unit(&mut rng) * std::f64::consts::TAU,
        ];
        let blink_rate = uniform(&mut rng, conditions.blink_rate_hz);
        let mut blinks = Vec::new();
        let mut t = 0.0;
        // Poisson blinks: exponential gaps at the drawn rate.
        while blink_rate > 0.0 && t <= end_ms {
            t += -unit(&mut rng).max(1e-9).ln() / blink_rate * 1000.0;
            if t <= end_ms {
                blinks.push((t, uniform(&mut rng, [100.0, 250.0])));
            }
        }
        let talking = (unit(&mut rng) < conditions.talking_probability).then(|| {
            [
                uniform(&mut rng, [3.0, 6.0]),
                unit(&mut rng) * std::f64::consts::TAU,
            ]
        });

        let mut session = SimSession {
            conditions,
            attack,
            k0,
            camera,
            scene,
            lit,
            lit_linear,
            lit_end,
            shown,
            clock,
            exposure: ExposureState::settled(0.0, 0.0),
            white_balance: WhiteBalanceState::neutral(),
            frame_sums,
            face_sums,
            hold_mean: [0.0; 3],
            noise,
            noise_state,
            coarse: Vec::new(),
            rng,
            shake,
            blinks,
            talking,
            last_t: f64::NAN,
            col_map: Vec::new(),
            row_map: Vec::new(),
            row_light: Vec::new(),
        };
        // Exposure: the metered brightness under the hold colour reaches a target level (linear
        // 0.12–0.3, i.e. sRGB 97–150 on the metered area: a face exposed as cameras expose faces).
        let hold = session.lit_linear.first().copied().unwrap_or([1.0; 3]);
        let metered_hold = session.metered(hold);
        let target = uniform(&mut session.rng, [0.12, 0.3]).ln();
        session.exposure = ExposureState::settled(target - metered_hold, metered_hold);
        session.hold_mean = session.frame_mean(hold);
        session
    }

    /// The displayed timeline the page reports (the issued challenge), on the recording clock.
    pub fn shown(&self) -> &[DisplayedColour] {
        &self.shown
    }

    /// The simulated screen-plus-camera delay (ms).
    pub fn delay_ms(&self) -> f64 {
        self.camera.delay_ms
    }

    pub fn attack(&self) -> Attack {
        self.attack
    }

    pub fn conditions(&self) -> &SimConditions {
        &self.conditions
    }

    /// k of this session (0 for [`Attack::NoResponse`]).
    pub fn screen_light(&self) -> f64 {
        self.k0
    }

    /// The nominal frame rate this session's camera runs at.
    pub fn frame_rate(&self) -> f64 {
        1000.0 / self.camera.period_ms
    }

    /// Everything drawn for this session.
    pub fn truth(&self) -> SimTruth {
        SimTruth {
            attack: self.attack,
            screen_light: self.k0,
            delay_ms: self.camera.delay_ms,
            fps: self.frame_rate(),
            exposure: self.camera.exposure_mode,
            white_balance_locked: self.camera.white_balance_locked,
            scene: self.scene.figures.clone(),
        }
    }

    /// Mean linear colour of the visible frame under screen colour `s` (before exposure).
    fn frame_mean(&self, s: [f32; 3]) -> [f64; 3] {
        let f = &self.frame_sums;
        std::array::from_fn(|c| f64::from(f[0][c] + (f[1][c] + f[2][c]) * s[c]).max(1e-6))
    }

    /// ln of the metered brightness under screen colour `s`: front cameras meter with face priority,
    /// so mostly the face, a little of the frame.
    fn metered(&self, s: [f32; 3]) -> f64 {
        let lum = |m: &[[f32; 3]; 3]| {
            let v: [f32; 3] = std::array::from_fn(|c| m[0][c] + (m[1][c] + m[2][c]) * s[c]);
            f64::from(LinearRgb::from_array(v).luminance()).max(1e-6)
        };
        (FACE_METERING * lum(&self.face_sums) + (1.0 - FACE_METERING) * lum(&self.frame_sums)).ln()
    }

    /// The screen light reaching the scene for a row exposed until `t`: the lit timeline delayed,
    /// averaged over the exposure time.
    fn light_at(&self, t: f64) -> [f32; 3] {
        const SUB: usize = 4;
        let mut acc = [0.0f32; 3];
        for i in 0..SUB {
            let ts =
                t - self.camera.delay_ms - self.camera.exposure_ms * (i as f64 + 0.5) / SUB as f64;
            let c = colour_at(&self.lit, &self.lit_linear, self.lit_end, ts);
            for k in 0..3 {
                acc[k] += c[k] / SUB as f32;
            }
        }
        acc
    }

    /// Renders the next frame into `rgba` (resized as needed) and returns its timestamp and the
    /// true face box, or None when the recording is over.
    pub fn render_next(&mut self, rgba: &mut Vec<u8>) -> Option<(f64, FaceBox)> {
        let (capture, stamped) = self.clock.next(&self.camera, &mut self.rng)?;
        let dt = if self.last_t.is_finite() {
            capture - self.last_t
        } else {
            self.camera.period_ms
        };
        self.last_t = capture;
        let (w, h) = (
            self.conditions.width as usize,
            self.conditions.height as usize,
        );

        // Rolling shutter: row y finishes its exposure at capture + (y/h − ½)·readout.
        self.row_light.clear();
        for y in 0..h {
            let t = capture + (y as f64 / h as f64 - 0.5) * self.camera.readout_ms;
            self.row_light.push(self.light_at(t));
        }
        let middle = self.light_at(capture);

        // Automatic controls react to the frame as a whole.
        self.exposure.update(&self.camera, dt, self.metered(middle));
        let mean = self.frame_mean(middle);
        let cast: [f64; 3] = std::array::from_fn(|c| (mean[c] / self.hold_mean[c].max(1e-9)).ln());
        self.white_balance.update(&self.camera, dt, cast);
        let gain: [f32; 3] = std::array::from_fn(|c| {
            (self.exposure.applied
                + self.camera.drift(0, capture)
                + self.white_balance.applied[c]
                + self.camera.drift(c + 1, capture))
            .exp() as f32
        });

        // Hand shake: translation and scale about the face.
        let secs = capture / 1000.0;
        let s = &self.shake;
        let tau = std::f64::consts::TAU;
        let tx = s[0]
            * w as f64
            * (0.6 * (tau * s[1] * secs + s[5]).sin() + 0.4 * (tau * s[2] * secs + s[6]).sin());
        let ty = s[0]
            * w as f64
            * (0.6 * (tau * s[3] * secs + s[7]).sin() + 0.4 * (tau * s[4] * secs + s[8]).sin());
        let scale = (1.0 + 0.5 * s[0] * 2.0 * (tau * 0.3 * secs + s[9]).sin()) as f32;
        let (scx, scy) = self.scene.face_centre;
        let (mx, my) = (
            (self.scene.w - w) as f32 / 2.0,
            (self.scene.h - h) as f32 / 2.0,
        );
        let fcx = scx - mx + tx as f32;
        let fcy = scy - my + ty as f32;
        map_axis(w, scx, fcx, scale, self.scene.w, &mut self.col_map);
        map_axis(h, scy, fcy, scale, self.scene.h, &mut self.row_map);

        // Eyelids and mouth.
        let blinking = self
            .blinks
            .iter()
            .any(|&(t0, d)| capture >= t0 && capture < t0 + d);
        let mouth = self.talking.map_or(1.0, |[f, p]| {
            (0.65 + 0.35 * (tau * f * secs + p).sin()) as f32
        });

        // Coarse noise field.
        let (cw, ch) = (w.div_ceil(COARSE_CELL), h.div_ceil(COARSE_CELL));
        self.coarse.clear();
        for _ in 0..cw * ch * 3 {
            self.coarse
                .push(normal(&mut self.rng) as f32 * self.camera.coarse_noise);
        }
        let fine = (1.0 - self.camera.coarse_noise * self.camera.coarse_noise)
            .max(0.0)
            .sqrt();

        rgba.clear();
        rgba.resize(w * h * 4, 255);
        let kc: [f32; 3] = std::array::from_fn(|c| self.k0 as f32 / self.scene.tint[c]);
        let scale_index = (TONE_TABLE - 1) as f32 / TONE_MAX;
        let tone: &[f32; TONE_TABLE] = &self.camera.tone;
        let sigma: &[f32; TONE_TABLE] = &self.camera.sigma;
        let noise: &[f32; NOISE_TABLE] = &self.noise;
        let skin = self.scene.skin;
        let mut state = self.noise_state;
        let sw = self.scene.w;
        for (y, (out_row, &row_index)) in
            rgba.chunks_exact_mut(w * 4).zip(&self.row_map).enumerate()
        {
            let light = self.row_light[y];
            let base = row_index as usize * sw;
            let coarse_row =
                &self.coarse[(y / COARSE_CELL) * cw * 3..(y / COARSE_CELL + 1) * cw * 3];
            for (x, (px, &col)) in out_row.chunks_exact_mut(4).zip(&self.col_map).enumerate() {
                let i = base + col as usize;
                let mut a = self.scene.appearance[i];
                match self.scene.zone[i] {
                    ZONE_EYES if blinking => a = skin,
                    ZONE_MOUTH => a = [a[0] * mouth, a[1] * mouth, a[2] * mouth],
                    _ => {}
                }
                let g = self.scene.response[i];
                let add = self.scene.additive[i];
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                for c in 0..3 {
                    let lin =
                        gain[c] * (a[c] * (1.0 + g * kc[c] * light[c]) + add * skin[c] * light[c]);
                    let idx = ((lin * scale_index) as usize).min(TONE_TABLE - 1);
                    let n = fine * noise[((state >> (c * 16)) as usize) & (NOISE_TABLE - 1)]
                        + coarse_row[(x / COARSE_CELL) * 3 + c];
                    px[c] = (tone[idx] + sigma[idx] * n + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        self.noise_state = state;
        let (fw, fh) = (
            self.scene.face_size.0 * scale,
            self.scene.face_size.1 * scale,
        );
        let face = FaceBox {
            x: (fcx - fw / 2.0) / w as f32,
            y: (fcy - fh / 2.0) / h as f32,
            w: fw / w as f32,
            h: fh / h as f32,
            score: 1.0,
        };
        Some((stamped, face))
    }
}

impl Iterator for SimSession {
    type Item = SimFrame;

    fn next(&mut self) -> Option<SimFrame> {
        let mut rgba = Vec::new();
        let (t_ms, face) = self.render_next(&mut rgba)?;
        Some(SimFrame {
            t_ms,
            width: self.conditions.width,
            height: self.conditions.height,
            rgba,
            face,
        })
    }
}

/// The analyser's regions measured on an RGBA frame with a known face box (ground truth, for tests
/// that bypass the detector): exactly what [`crate::analysis::FrameAnalyser`] measures once it has
/// the box (the frame is first brought to analysis size the same way).
pub fn measure_regions(
    rgba: &[u8],
    width: u32,
    height: u32,
    face: &FaceBox,
    t_ms: f64,
) -> ReflectionSample {
    let mut image = AnalysisImage::new();
    measure_regions_with(&mut image, rgba, width, height, face, t_ms)
}

fn measure_regions_with(
    image: &mut AnalysisImage,
    rgba: &[u8],
    width: u32,
    height: u32,
    face: &FaceBox,
    t_ms: f64,
) -> ReflectionSample {
    let loaded = RgbaFrame::packed(rgba, width, height).ok().and_then(|f| {
        image
            .load(
                &f,
                crate::analysis::ANALYSIS_WIDTH,
                crate::analysis::ANALYSIS_HEIGHT,
            )
            .ok()
    });
    if loaded.is_none() || !face.is_valid() {
        return ReflectionSample {
            t_ms,
            ..ReflectionSample::default()
        };
    }
    reflection_sample(image, Some(face), t_ms)
}

/// Runs a whole session and measures every frame with the ground-truth face box.
pub fn ground_truth_samples(session: &mut SimSession) -> Vec<ReflectionSample> {
    let mut rgba = Vec::new();
    let mut image = AnalysisImage::new();
    let mut out = Vec::new();
    let (w, h) = (session.conditions.width, session.conditions.height);
    while let Some((t, face)) = session.render_next(&mut rgba) {
        out.push(measure_regions_with(&mut image, &rgba, w, h, &face, t));
    }
    out
}

/// One axis of the camera's view of the scene: for each of the `n` output pixels along it, the
/// scene pixel it shows, for a face centred at `face_out` in the output and `scene_centre` in the
/// scene, seen at `scale`. The buffer is reused.
fn map_axis(
    n: usize,
    scene_centre: f32,
    face_out: f32,
    scale: f32,
    scene_len: usize,
    map: &mut Vec<u32>,
) {
    map.clear();
    for i in 0..n {
        let f = i as f32 + 0.5;
        let scene = scene_centre + (f - face_out) / scale;
        map.push((scene.max(0.0) as usize).min(scene_len - 1) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;

    pub(crate) fn astronaut() -> Photo {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/faces/astronaut.png"
        ))
        .unwrap();
        Photo::from_png(&bytes).unwrap().with_face(ASTRONAUT_FACE)
    }

    fn challenge(seed: u64) -> ColourChallenge {
        ColourChallenge::generate(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    #[test]
    fn photo_decodes_and_rejects_garbage() {
        let p = astronaut();
        assert_eq!((p.width(), p.height()), (512, 512));
        assert!(Photo::from_png(b"not a png").is_err());
        let grey = p.greyscale();
        assert!(grey.pixels().iter().all(|a| a[0] == a[1] && a[1] == a[2]));
        assert!(p.pixels().iter().any(|a| a[0] != a[2]));
        assert!(Photo::from_png(&[]).is_err());
    }

    #[test]
    fn session_is_deterministic_and_covers_the_challenge() {
        let p = astronaut();
        let c = challenge(1);
        let a: Vec<SimFrame> =
            SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9).collect();
        let b: Vec<SimFrame> =
            SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9).collect();
        assert_eq!(a, b);
        let s = SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9);
        let end = s.shown().last().unwrap().start_ms + 350.0;
        assert!(a.last().unwrap().t_ms > end);
        assert!(a.windows(2).all(|w| w[1].t_ms > w[0].t_ms));
        assert!(a.iter().all(|f| f.rgba.len() == 320 * 240 * 4));
        // ~4.7 s at 15–30 fps.
        assert!((55..150).contains(&a.len()), "{}", a.len());
    }

    /// Spread of the face's (or a region's) blue chromaticity over the flash, and its mean level.
    fn blue_spread(
        samples: &[ReflectionSample],
        pick: impl Fn(&ReflectionSample) -> Option<LinearRgb>,
    ) -> f32 {
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for s in samples {
            if let Some(v) = pick(s) {
                let blue = v.b / (v.r + v.g + v.b);
                lo = lo.min(blue);
                hi = hi.max(blue);
            }
        }
        hi - lo
    }

    #[test]
    fn a_live_face_responds_unevenly_and_a_print_evenly() {
        let p = astronaut();
        let c = challenge(2);
        let conditions = SimConditions {
            white_balance_locked_probability: 1.0,
            exposure_locked_probability: 1.0,
            ..SimConditions::steady()
        };
        let measure = |attack: Attack| {
            let mut s = SimSession::new(&p, &c, conditions.clone(), attack, 4);
            let samples = ground_truth_samples(&mut s);
            let centre = blue_spread(&samples, |s| s.relief.cells[0]);
            let sides = 0.5
                * (blue_spread(&samples, |s| s.relief.cells[3])
                    + blue_spread(&samples, |s| s.relief.cells[4]));
            (centre, sides, s.truth())
        };
        let (centre, sides, truth) = measure(Attack::None);
        assert!(
            sides < 0.8 * centre,
            "live: centre {centre} sides {sides} {truth:?}"
        );
        let (centre, sides, _) = measure(Attack::FlatPrint);
        assert!(
            sides > 0.85 * centre && sides < 1.15 * centre,
            "print: centre {centre} sides {sides}"
        );
        let (centre, _, _) = measure(Attack::NoResponse);
        assert!(centre < 0.01, "no response: {centre}");
    }
}
