//! A simulated camera session in front of a flashing screen, for tests and `faceid-eval`.
//!
//! Built from real photos (the person's albedo) and a physical frame model in linear light:
//!
//! `pixel_c = E(t) · W_c(t) · albedo_c(x, y) · (ambient_c + gain(x, y) · screen_c(t − delay))`
//!
//! - `gain` is strong on the near face and falls to a weak background gain outside it (inverse
//!   square law: the wall behind is several times further from the screen); it is evaluated in frame
//!   coordinates, so the analyser's background strips see the background gain.
//! - `screen(t − delay)`: the displayed timeline delayed by 50–150 ms (panel latency + camera
//!   pipeline), averaged over the exposure time.
//! - `E(t)`: auto-exposure reacting (with a lag) to the scene brightness the flash changes, plus a
//!   slow drift; `W_c(t)`: white balance drifting and slowly adapting to the flash colour.
//! - Sensor noise, camera shake (translation and scale), 15–30 fps with timestamp jitter, dropped
//!   frames. All randomness comes from the session seed.
//!
//! Attacks: [`Attack::Replay`] renders a genuine session for another challenge while
//! [`SimSession::shown`] reports the issued one; [`Attack::NoResponse`] has a tiny gain everywhere
//! (dim screen, far face); [`Attack::FlatPrint`] has the same gain everywhere (a print or a screen
//! held up to the camera).

use std::io::Cursor;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::challenge::{ColourChallenge, DisplayedColour};
use crate::colour::{LinearRgb, SRGB_TO_LINEAR};
use crate::geometry::FaceBox;
use crate::reflection::ReflectionSample;

/// Why a photo cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot decode the PNG: {0}")]
    Png(String),
    #[error("unusable image size {width}x{height}")]
    Size { width: u32, height: u32 },
    #[error("the face box is not a box inside the photo")]
    FaceOutside,
}

/// Largest photo side accepted (the group photo is 1666 px wide).
const MAX_PHOTO_SIDE: u32 = 8192;

/// A photo of a person in linear light (the albedo), and where the face is in it.
#[derive(Clone, Debug)]
pub struct Photo {
    width: u32,
    height: u32,
    albedo: Vec<[f32; 3]>,
    /// The face, normalised to the photo (found by a detector or given). [`Photo::from_png`] sets
    /// a central guess; set the real box before simulating.
    pub face: FaceBox,
}

/// The astronaut photo's face (shared/data/faces/astronaut.png), as SeetaFace finds it.
pub const ASTRONAUT_FACE: FaceBox = FaceBox { x: 0.340, y: 0.133, w: 0.191, h: 0.191, score: 1.0 };

impl Photo {
    /// Decodes an 8- or 16-bit PNG (grey, grey+alpha, RGB, RGBA, palette) into linear albedo.
    pub fn from_png(bytes: &[u8]) -> Result<Photo, SimError> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| SimError::Png(e.to_string()))?;
        let (width, height) = (reader.info().width, reader.info().height);
        if width == 0 || height == 0 || width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE {
            return Err(SimError::Size { width, height });
        }
        let size = reader.output_buffer_size().ok_or(SimError::Size { width, height })?;
        let mut buf = vec![0u8; size];
        let info = reader.next_frame(&mut buf).map_err(|e| SimError::Png(e.to_string()))?;
        let channels = info.color_type.samples();
        let stride = info.line_size;
        let mut albedo = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height as usize {
            let row = buf.get(y * stride..y * stride + width as usize * channels).ok_or(SimError::Size { width, height })?;
            for px in row.chunks_exact(channels) {
                let lin = |v: u8| SRGB_TO_LINEAR[v as usize];
                albedo.push(match channels {
                    1 | 2 => [lin(px[0]); 3],
                    _ => [lin(px[0]), lin(px[1]), lin(px[2])],
                });
            }
        }
        Ok(Photo { width, height, albedo, face: FaceBox { x: 0.3, y: 0.25, w: 0.4, h: 0.5, score: 0.0 } })
    }

    /// The same photo with the face at `face` (normalised to the photo).
    pub fn with_face(mut self, face: FaceBox) -> Photo {
        self.face = face;
        self
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Luma (8-bit, Rec. 709 weights on sRGB-encoded values), e.g. to run a face detector on it.
    pub fn luma(&self) -> Vec<u8> {
        self.albedo
            .iter()
            .map(|a| {
                let s = LinearRgb::from_array(*a).to_srgb8();
                (0.2126 * f32::from(s.r) + 0.7152 * f32::from(s.g) + 0.0722 * f32::from(s.b)).round() as u8
            })
            .collect()
    }

    /// The same photo with every pixel's colour replaced by its grey (Rec. 709 luminance in linear
    /// light). For black-and-white photographs carrying coloured annotations: the group photo is a
    /// grey 1927 print with red face boxes painted on, which would otherwise become red stripes on
    /// the simulated skin whose share of the face region changes as the face box moves.
    pub fn greyscale(&self) -> Photo {
        let albedo = self.albedo.iter().map(|a| [LinearRgb::from_array(*a).luminance(); 3]).collect();
        Photo { width: self.width, height: self.height, albedo, face: self.face }
    }

    /// A crop of this photo around one face: `face` (normalised to this photo) widened by
    /// `context` face widths on each side, so a single face of a group photo becomes a portrait.
    pub fn crop_around(&self, face: FaceBox, context: f32) -> Result<Photo, SimError> {
        if !face.is_valid() || !context.is_finite() || context < 0.0 {
            return Err(SimError::FaceOutside);
        }
        let (pw, ph) = (self.width as f32, self.height as f32);
        let fx0 = face.x * pw;
        let fy0 = face.y * ph;
        let (fw, fh) = (face.w * pw, face.h * ph);
        let x0 = (fx0 - context * fw).floor().max(0.0);
        let y0 = (fy0 - context * fh).floor().max(0.0);
        let x1 = (fx0 + fw + context * fw).ceil().min(pw);
        let y1 = (fy0 + fh + context * fh).ceil().min(ph);
        if x1 - x0 < 8.0 || y1 - y0 < 8.0 {
            return Err(SimError::FaceOutside);
        }
        let (cw, ch) = ((x1 - x0) as u32, (y1 - y0) as u32);
        let mut albedo = Vec::with_capacity(cw as usize * ch as usize);
        for y in y0 as u32..y0 as u32 + ch {
            let start = (y * self.width + x0 as u32) as usize;
            albedo.extend_from_slice(&self.albedo[start..start + cw as usize]);
        }
        let face = FaceBox {
            x: (fx0 - x0) / cw as f32,
            y: (fy0 - y0) / ch as f32,
            w: fw / cw as f32,
            h: fh / ch as f32,
            score: face.score,
        };
        Ok(Photo { width: cw, height: ch, albedo, face })
    }

    /// Bilinear albedo at photo pixel coordinates (clamped to the edge).
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let maxx = (self.width - 1) as f32;
        let maxy = (self.height - 1) as f32;
        let x = if x.is_finite() { x.clamp(0.0, maxx) } else { 0.0 };
        let y = if y.is_finite() { y.clamp(0.0, maxy) } else { 0.0 };
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as usize, y0 as usize);
        let x1 = (x0 + 1).min(self.width as usize - 1);
        let y1 = (y0 + 1).min(self.height as usize - 1);
        let w = self.width as usize;
        let p = |xx: usize, yy: usize| self.albedo[yy * w + xx];
        let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        let mut out = [0.0; 3];
        for i in 0..3 {
            let top = a[i] + (b[i] - a[i]) * fx;
            let bottom = c[i] + (d[i] - c[i]) * fx;
            out[i] = top + (bottom - top) * fy;
        }
        out
    }
}

/// What is attacking the session, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Attack {
    /// A genuine, live person.
    None,
    /// Frames of a genuine session recorded for another challenge, replayed while the issued
    /// challenge is displayed (e.g. a virtual camera).
    Replay,
    /// Nothing responds: a dim screen and a far face (tiny gain everywhere).
    NoResponse,
    /// A flat print or a screen held up to the camera: the same response on face and background.
    FlatPrint,
}

impl Attack {
    pub const ALL: [Attack; 4] = [Attack::None, Attack::Replay, Attack::NoResponse, Attack::FlatPrint];

    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "genuine",
            Attack::Replay => "replay",
            Attack::NoResponse => "no-response",
            Attack::FlatPrint => "flat-print",
        }
    }
}

/// The camera and scene of a simulated session. Ranges (`[lo, hi]`) are drawn uniformly per session.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConditions {
    /// Output frame size (320×240 for evaluation, 640×480 for videos).
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate.
    pub fps: f64,
    /// Standard deviation of capture-timestamp jitter (ms).
    pub timestamp_jitter_ms: f64,
    /// Probability that a frame is dropped (a quarter of drops take three frames at once).
    pub drop_rate: f64,
    /// Screen-plus-camera delay range (ms).
    pub delay_ms: [f64; 2],
    /// Sensor noise, standard deviation in 8-bit levels.
    pub noise_levels: f64,
    /// Camera shake: translation amplitude as a fraction of the frame width (scale: half of it).
    pub motion: f64,
    /// Auto-exposure time constant range (ms) and how much of a brightness change it undoes (0..1).
    pub exposure_lag_ms: [f64; 2],
    pub exposure_strength: [f64; 2],
    /// Slow exposure drift amplitude (natural-log units).
    pub exposure_drift: f64,
    /// Slow white-balance drift amplitude per channel (natural-log units) and how much of the
    /// flash's colour cast auto white balance undoes (0..1, with a lag of 1–3 s).
    pub white_balance_drift: f64,
    pub white_balance_adaptation: [f64; 2],
    /// Screen light on the face relative to the ambient light (white screen).
    pub face_gain: [f64; 2],
    /// Screen light on the background as a fraction of the face's.
    pub background_gain: [f64; 2],
    /// Face box width as a fraction of the frame width.
    pub face_width: [f64; 2],
}

impl Default for SimConditions {
    fn default() -> Self {
        SimConditions {
            width: 320,
            height: 240,
            fps: 30.0,
            timestamp_jitter_ms: 2.0,
            drop_rate: 0.03,
            delay_ms: [50.0, 150.0],
            noise_levels: 2.0,
            motion: 0.01,
            exposure_lag_ms: [150.0, 500.0],
            exposure_strength: [0.5, 0.9],
            exposure_drift: 0.05,
            white_balance_drift: 0.03,
            white_balance_adaptation: [0.0, 0.3],
            face_gain: [0.2, 0.6],
            background_gain: [0.02, 0.12],
            face_width: [0.30, 0.40],
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
}

/// One simulated camera frame (RGBA, packed rows) and the ground-truth face box in it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFrame {
    /// Capture time on the recording clock (ms).
    pub t_ms: f64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    /// Where the face really is (normalised), for tests that bypass the detector.
    pub face: FaceBox,
}

/// Per-session random figures (drawn once from the seed).
#[derive(Clone, Debug)]
struct Draws {
    delay_ms: f64,
    ambient: [f32; 3],
    face_gain: f32,
    background_gain: f32,
    exposure_lag_ms: f64,
    exposure_strength: f64,
    exposure_phase: [f64; 2],
    white_balance_phase: [[f64; 2]; 3],
    white_balance_lag_ms: f64,
    white_balance_adaptation: f64,
    shake_freq: [f64; 4],
    shake_phase: [f64; 6],
    period_ms: f64,
    first_frame_ms: f64,
    end_ms: f64,
    target_level: f32,
}

/// Entries in the gain falloff table, over squared elliptical radius 0..GAIN_RHO2_MAX.
const GAIN_TABLE: usize = 512;
/// Squared radius (in face half-widths) beyond which only the background gain remains.
const GAIN_RHO2_MAX: f32 = 4.0;
/// The gain is the face's inside the face ellipse (ρ ≤ 1.1: skin to the box edge) and falls smoothly
/// to the background's by ρ = 1.5 (hair, ears, neck): still inside the analyser's widened face box
/// horizontally, so its background strips see the background gain.
const GAIN_FALL_START: f32 = 1.1;
const GAIN_FALL_END: f32 = 1.5;
/// Linear → sRGB encoding table size (fine enough that quantisation is below one level).
const ENCODE_TABLE: usize = 8192;
/// Pre-drawn standard normal values for per-pixel noise.
const NOISE_TABLE: usize = 1 << 14;
/// Scene margin around the frame (fraction per side) that camera shake may bring into view.
const SCENE_MARGIN: f32 = 0.15;
/// Recording runs this long after the flash ends (the page stops the recorder a little late).
const TAIL_MS: f64 = 600.0;

/// A simulated recording of one light challenge.
pub struct SimSession {
    conditions: SimConditions,
    attack: Attack,
    draws: Draws,
    /// What lit the face (for a replay: the other challenge's timeline).
    lit: Vec<DisplayedColour>,
    lit_linear: Vec<[f32; 3]>,
    /// When the last lighting colour ends.
    lit_end: f64,
    /// What the page reports as displayed (the issued challenge).
    shown: Vec<DisplayedColour>,
    /// Scene albedo at frame scale plus margins, row-major.
    scene: Vec<[f32; 3]>,
    scene_w: usize,
    scene_h: usize,
    /// Face box in scene pixel coordinates: centre and size.
    face_centre: (f32, f32),
    face_size: (f32, f32),
    /// Mean albedo of the frame and albedo-weighted gain, for auto-exposure and white balance.
    mean_albedo: [f32; 3],
    mean_albedo_gain: [f32; 3],
    gain_table: Box<[f32; GAIN_TABLE]>,
    encode: Box<[f32; ENCODE_TABLE]>,
    noise: Box<[f32; NOISE_TABLE]>,
    noise_state: u64,
    rng: ChaCha8Rng,
    // Per-frame state.
    frame_index: u64,
    log_exposure: f64,
    log_exposure_base: f64,
    white_balance_react: [f64; 3],
    last_t: f64,
    pending_drop: u32,
    col_map: Vec<u32>,
    row_map: Vec<u32>,
    rho_x: Vec<f32>,
    rho_y: Vec<f32>,
}

fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn uniform(rng: &mut ChaCha8Rng, range: [f64; 2]) -> f64 {
    let (lo, hi) = (range[0].min(range[1]), range[0].max(range[1]));
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0;
    }
    lo + (hi - lo) * unit(rng)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = unit(rng).max(1e-12);
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Colour on a timeline at time `t` (before the first entry: the first entry's colour; the screen
/// shows the page in the hold colour before and after the challenge).
fn colour_at(timeline: &[DisplayedColour], linear: &[[f32; 3]], after: [f32; 3], end_ms: f64, t: f64) -> [f32; 3] {
    if t >= end_ms {
        return after;
    }
    let i = timeline.partition_point(|d| d.start_ms <= t);
    linear[i.saturating_sub(1).min(linear.len().saturating_sub(1))]
}

impl SimSession {
    /// A session for `challenge` shown to `photo` under `conditions`, attacked by `attack`.
    /// Conditions are clamped to sane values (frame size 16..=4096, fps 1..=120).
    pub fn new(photo: &Photo, challenge: &ColourChallenge, conditions: SimConditions, attack: Attack, seed: u64) -> SimSession {
        let mut conditions = conditions;
        conditions.width = conditions.width.clamp(16, 4096);
        conditions.height = conditions.height.clamp(16, 4096);
        conditions.fps = if conditions.fps.is_finite() { conditions.fps.clamp(1.0, 120.0) } else { 30.0 };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        // The timelines: what lit the face and what the page reports.
        let hold_start = uniform(&mut rng, [300.0, 600.0]);
        let vsync = |rng: &mut ChaCha8Rng, s: Vec<DisplayedColour>| -> Vec<DisplayedColour> {
            s.into_iter().map(|d| DisplayedColour { start_ms: d.start_ms + uniform(rng, [0.0, 16.7]), ..d }).collect()
        };
        let shown = vsync(&mut rng, challenge.schedule(hold_start));
        let last_step = |c: &ColourChallenge| f64::from(c.steps.last().map_or(0, |s| s.duration_ms));
        let (lit, lit_end) = if attack == Attack::Replay {
            // The recording was made for another challenge; the attacker starts it in step with the page.
            let other = ColourChallenge::generate(&mut rng);
            let offset = uniform(&mut rng, [-50.0, 50.0]);
            let lit = vsync(&mut rng, other.schedule(hold_start + offset));
            let end = lit.last().map_or(0.0, |d| d.start_ms) + last_step(&other);
            (lit, end)
        } else {
            (shown.clone(), shown.last().map_or(0.0, |d| d.start_ms) + last_step(challenge))
        };
        let lit_linear = lit.iter().map(|d| d.colour.to_linear().to_array()).collect();

        let (w, h) = (conditions.width as f32, conditions.height as f32);
        let face_w_frac = uniform(&mut rng, conditions.face_width) as f32;
        let face_w_px = (face_w_frac * w).max(4.0);
        let photo_face_w = (photo.face.w * photo.width as f32).max(1.0);
        let photo_face_h = (photo.face.h * photo.height as f32).max(1.0);
        let k = photo_face_w / face_w_px; // photo px per frame px
        let face_h_px = photo_face_h / k;
        let face_cx = w * (0.5 + uniform(&mut rng, [-0.04, 0.04]) as f32);
        let face_cy = h * (0.45 + uniform(&mut rng, [-0.04, 0.04]) as f32);

        // The scene at frame scale with margins.
        let (mx, my) = ((w * SCENE_MARGIN).ceil(), (h * SCENE_MARGIN).ceil());
        let scene_w = (w + 2.0 * mx) as usize;
        let scene_h = (h + 2.0 * my) as usize;
        let (pcx, pcy) = (
            (photo.face.x + photo.face.w / 2.0) * photo.width as f32,
            (photo.face.y + photo.face.h / 2.0) * photo.height as f32,
        );
        let scene_face = (face_cx + mx, face_cy + my);
        let mut scene = Vec::with_capacity(scene_w * scene_h);
        for sy in 0..scene_h {
            for sx in 0..scene_w {
                let px = pcx + (sx as f32 + 0.5 - scene_face.0) * k - 0.5;
                let py = pcy + (sy as f32 + 0.5 - scene_face.1) * k - 0.5;
                scene.push(photo.sample(px, py));
            }
        }

        // Gains by attack.
        let ambient_tint = uniform(&mut rng, [-0.15, 0.15]) as f32; // warm (+) to cool (−)
        let ambient = [1.0 + ambient_tint, 1.0, 1.0 - ambient_tint];
        let mut face_gain = uniform(&mut rng, conditions.face_gain) as f32;
        let mut background_gain = face_gain * uniform(&mut rng, conditions.background_gain) as f32;
        match attack {
            Attack::None | Attack::Replay => {}
            Attack::NoResponse => {
                face_gain = uniform(&mut rng, [0.0, 0.006]) as f32;
                background_gain = face_gain;
            }
            Attack::FlatPrint => {
                // The whole print (face and the background printed around it) is at the same distance.
                background_gain = face_gain;
            }
        }
        let gain_table: Box<[f32; GAIN_TABLE]> = Box::new(std::array::from_fn(|i| {
            let rho = (i as f32 / (GAIN_TABLE - 1) as f32 * GAIN_RHO2_MAX).sqrt();
            let t = smoothstep(GAIN_FALL_START, GAIN_FALL_END, rho);
            face_gain + (background_gain - face_gain) * t
        }));

        // Frame-average albedo and albedo × gain, for the camera's automatic controls.
        let mut mean_albedo = [0.0f32; 3];
        let mut mean_albedo_gain = [0.0f32; 3];
        let mut face_albedo = [0.0f32; 3];
        let mut face_n = 0.0f32;
        for sy in my as usize..(my + h) as usize {
            for sx in mx as usize..(mx + w) as usize {
                let a = scene[sy * scene_w + sx];
                let dx = (sx as f32 + 0.5 - scene_face.0) / (face_w_px / 2.0);
                let dy = (sy as f32 + 0.5 - scene_face.1) / (face_h_px / 2.0);
                let r2 = dx * dx + dy * dy;
                let g = gain_table[((r2 / GAIN_RHO2_MAX * (GAIN_TABLE - 1) as f32) as usize).min(GAIN_TABLE - 1)];
                for c in 0..3 {
                    mean_albedo[c] += a[c];
                    mean_albedo_gain[c] += a[c] * g;
                }
                if dx.abs() < 0.3 && dy.abs() < 0.3 {
                    for c in 0..3 {
                        face_albedo[c] += a[c];
                    }
                    face_n += 1.0;
                }
            }
        }
        let n = (w * h).max(1.0);
        for c in 0..3 {
            mean_albedo[c] /= n;
            mean_albedo_gain[c] /= n;
            face_albedo[c] /= face_n.max(1.0);
        }

        let period_ms = 1000.0 / conditions.fps;
        let shown_end = shown.last().map_or(0.0, |d| d.start_ms) + last_step(challenge);
        let end_ms = lit_end.max(shown_end) + TAIL_MS;
        let draws = Draws {
            delay_ms: uniform(&mut rng, conditions.delay_ms),
            ambient,
            face_gain,
            background_gain,
            exposure_lag_ms: uniform(&mut rng, conditions.exposure_lag_ms).max(1.0),
            exposure_strength: uniform(&mut rng, conditions.exposure_strength).clamp(0.0, 1.0),
            exposure_phase: [unit(&mut rng) * std::f64::consts::TAU, uniform(&mut rng, [0.1, 0.3])],
            white_balance_phase: [
                [unit(&mut rng) * std::f64::consts::TAU, uniform(&mut rng, [0.05, 0.25])],
                [unit(&mut rng) * std::f64::consts::TAU, uniform(&mut rng, [0.05, 0.25])],
                [unit(&mut rng) * std::f64::consts::TAU, uniform(&mut rng, [0.05, 0.25])],
            ],
            white_balance_lag_ms: uniform(&mut rng, [1000.0, 3000.0]),
            white_balance_adaptation: uniform(&mut rng, conditions.white_balance_adaptation).clamp(0.0, 1.0),
            shake_freq: [
                uniform(&mut rng, [0.2, 0.6]),
                uniform(&mut rng, [0.8, 2.0]),
                uniform(&mut rng, [0.2, 0.6]),
                uniform(&mut rng, [0.8, 2.0]),
            ],
            shake_phase: std::array::from_fn(|_| unit(&mut rng) * std::f64::consts::TAU),
            period_ms,
            first_frame_ms: uniform(&mut rng, [0.0, period_ms]),
            end_ms,
            target_level: uniform(&mut rng, [0.15, 0.3]) as f32,
        };

        // Exposure: the face's mean luminance under the hold colour reaches the target level.
        let hold = lit_linear_first(&lit);
        let face_lum = |l: [f32; 3]| {
            let lit: [f32; 3] = std::array::from_fn(|c| face_albedo[c] * (ambient[c] + face_gain * l[c]));
            f64::from(LinearRgb::from_array(lit).luminance())
        };
        let log_exposure_base = (f64::from(draws.target_level) / face_lum(hold).max(1e-6)).ln();

        let encode: Box<[f32; ENCODE_TABLE]> = Box::new(std::array::from_fn(|i| {
            let v = i as f32 / (ENCODE_TABLE - 1) as f32;
            let s = if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 };
            s * 255.0
        }));
        let sigma = if conditions.noise_levels.is_finite() { conditions.noise_levels.clamp(0.0, 64.0) } else { 0.0 };
        let noise: Box<[f32; NOISE_TABLE]> = Box::new(std::array::from_fn(|_| (normal(&mut rng) * sigma) as f32));
        let noise_state = rng.next_u64() | 1;

        let mut session = SimSession {
            conditions,
            attack,
            draws,
            lit,
            lit_linear,
            lit_end,
            shown,
            scene,
            scene_w,
            scene_h,
            face_centre: scene_face,
            face_size: (face_w_px, face_h_px),
            mean_albedo,
            mean_albedo_gain,
            gain_table,
            encode,
            noise,
            noise_state,
            rng,
            frame_index: 0,
            log_exposure: log_exposure_base,
            log_exposure_base,
            white_balance_react: [0.0; 3],
            last_t: f64::NAN,
            pending_drop: 0,
            col_map: Vec::new(),
            row_map: Vec::new(),
            rho_x: Vec::new(),
            rho_y: Vec::new(),
        };
        // Start the automatic controls settled on the hold colour.
        session.log_exposure = session.exposure_target(hold);
        session
    }

    /// The displayed timeline the page reports (the issued challenge), on the recording clock.
    pub fn shown(&self) -> &[DisplayedColour] {
        &self.shown
    }

    /// The simulated screen-plus-camera delay (ms).
    pub fn delay_ms(&self) -> f64 {
        self.draws.delay_ms
    }

    pub fn attack(&self) -> Attack {
        self.attack
    }

    pub fn conditions(&self) -> &SimConditions {
        &self.conditions
    }

    /// Screen gain on the face and on the background (relative to ambient, white screen).
    pub fn gains(&self) -> (f32, f32) {
        (self.draws.face_gain, self.draws.background_gain)
    }

    /// Auto-exposure's target (log) for a given screen colour: partly undoes the brightness change.
    fn exposure_target(&self, light: [f32; 3]) -> f64 {
        let b = |l: [f32; 3]| {
            let v: [f32; 3] = std::array::from_fn(|c| self.mean_albedo[c] * self.draws.ambient[c] + self.mean_albedo_gain[c] * l[c]);
            f64::from(LinearRgb::from_array(v).luminance()).max(1e-6)
        };
        let hold = lit_linear_first(&self.lit);
        self.log_exposure_base + self.draws.exposure_strength * (b(hold).ln() - b(light).ln())
    }

    /// The screen light reaching the face for a frame captured at `t`: the delayed timeline averaged
    /// over the exposure time.
    fn light_at(&self, t: f64) -> [f32; 3] {
        let exposure_ms = (0.8 * self.draws.period_ms).min(25.0);
        let after = lit_linear_first(&self.lit);
        let end = self.lit_end;
        let mut acc = [0.0f32; 3];
        const SUB: usize = 4;
        for i in 0..SUB {
            let ts = t - self.draws.delay_ms - exposure_ms * (i as f64 + 0.5) / SUB as f64;
            let c = colour_at(&self.lit, &self.lit_linear, after, end, ts);
            for k in 0..3 {
                acc[k] += c[k] / SUB as f32;
            }
        }
        acc
    }

    /// Renders the next frame into `rgba` (resized as needed) and returns its timestamp and the
    /// true face box, or None when the recording is over.
    pub fn render_next(&mut self, rgba: &mut Vec<u8>) -> Option<(f64, FaceBox)> {
        // Frame timing: nominal grid, jitter, drops (a quarter of them in bursts of three).
        let t = loop {
            let k = self.frame_index;
            self.frame_index += 1;
            let nominal = self.draws.first_frame_ms + k as f64 * self.draws.period_ms;
            if nominal > self.draws.end_ms {
                return None;
            }
            let jitter = (normal(&mut self.rng) * self.conditions.timestamp_jitter_ms.clamp(0.0, 50.0)).clamp(-8.0, 8.0);
            let drop_roll = unit(&mut self.rng);
            if self.pending_drop > 0 {
                self.pending_drop -= 1;
                continue;
            }
            if drop_roll < self.conditions.drop_rate {
                if unit(&mut self.rng) < 0.25 {
                    self.pending_drop = 2;
                }
                continue;
            }
            let t = (nominal + jitter).max(0.0);
            // Timestamps never go backwards.
            break if self.last_t.is_finite() { t.max(self.last_t + 1.0) } else { t };
        };
        let dt = if self.last_t.is_finite() { t - self.last_t } else { self.draws.period_ms };
        self.last_t = t;
        let light = self.light_at(t);

        // Auto-exposure: first-order lag toward its target, plus slow drift.
        let target = self.exposure_target(light);
        let a = 1.0 - (-dt / self.draws.exposure_lag_ms).exp();
        self.log_exposure += a * (target - self.log_exposure);
        let secs = t / 1000.0;
        let drift = self.conditions.exposure_drift * (std::f64::consts::TAU * self.draws.exposure_phase[1] * secs + self.draws.exposure_phase[0]).sin();
        // White balance: slow drift plus a lagging grey-world correction of the flash's colour cast.
        let cast: [f64; 3] = std::array::from_fn(|c| {
            f64::from(self.mean_albedo[c] * self.draws.ambient[c] + self.mean_albedo_gain[c] * light[c]).max(1e-6).ln()
        });
        let cast_mean = (cast[0] + cast[1] + cast[2]) / 3.0;
        let b = 1.0 - (-dt / self.draws.white_balance_lag_ms).exp();
        let mut wb = [0.0f32; 3];
        for c in 0..3 {
            let target = -self.draws.white_balance_adaptation * (cast[c] - cast_mean);
            self.white_balance_react[c] += b * (target - self.white_balance_react[c]);
            let [phase, freq] = self.draws.white_balance_phase[c];
            let d = self.conditions.white_balance_drift * (std::f64::consts::TAU * freq * secs + phase).sin();
            wb[c] = (self.log_exposure + drift + d + self.white_balance_react[c]).exp() as f32;
        }
        let l0: [f32; 3] = std::array::from_fn(|c| wb[c] * self.draws.ambient[c]);
        let l1: [f32; 3] = std::array::from_fn(|c| wb[c] * light[c]);

        // Camera shake: translation and scale about the face.
        let (w, h) = (self.conditions.width as usize, self.conditions.height as usize);
        let m = self.conditions.motion.clamp(0.0, 0.1);
        let f = &self.draws.shake_freq;
        let p = &self.draws.shake_phase;
        let tau = std::f64::consts::TAU;
        let tx = m * w as f64 * (0.6 * (tau * f[0] * secs + p[0]).sin() + 0.4 * (tau * f[1] * secs + p[1]).sin());
        let ty = m * w as f64 * (0.6 * (tau * f[2] * secs + p[2]).sin() + 0.4 * (tau * f[3] * secs + p[3]).sin());
        let scale = 1.0 + 0.5 * m * 2.0 * ((tau * 0.3 * secs + p[4]).sin() * 0.7 + (tau * 1.1 * secs + p[5]).sin() * 0.3);
        let (scx, scy) = self.face_centre;
        let margin_x = (self.scene_w - w) as f32 / 2.0;
        let margin_y = (self.scene_h - h) as f32 / 2.0;
        let fcx = scx - margin_x + tx as f32;
        let fcy = scy - margin_y + ty as f32;
        let s = scale as f32;
        let (fw, fh) = (self.face_size.0 * s, self.face_size.1 * s);
        map_axis(w, scx, fcx, s, fw, self.scene_w, &mut self.col_map, &mut self.rho_x);
        map_axis(h, scy, fcy, s, fh, self.scene_h, &mut self.row_map, &mut self.rho_y);

        rgba.clear();
        rgba.resize(w * h * 4, 255);
        let table_scale = (GAIN_TABLE - 1) as f32 / GAIN_RHO2_MAX;
        let enc_scale = (ENCODE_TABLE - 1) as f32;
        let mut state = self.noise_state;
        // Locals (fixed-size tables) so the hot loop has no aliasing and no bounds checks on lookups.
        let gain_table: &[f32; GAIN_TABLE] = &self.gain_table;
        let encode: &[f32; ENCODE_TABLE] = &self.encode;
        let noise: &[f32; NOISE_TABLE] = &self.noise;
        let scene = &self.scene[..];
        let (col_map, rho_x) = (&self.col_map[..w], &self.rho_x[..w]);
        for ((out_row, &row_index), &ry) in rgba.chunks_exact_mut(w * 4).zip(&self.row_map).zip(&self.rho_y) {
            let scene_row = &scene[row_index as usize * self.scene_w..(row_index as usize + 1) * self.scene_w];
            for ((px, &col), &rx) in out_row.chunks_exact_mut(4).zip(col_map).zip(rho_x) {
                let a = scene_row[(col as usize).min(self.scene_w - 1)];
                let g = gain_table[(((rx + ry) * table_scale) as usize).min(GAIN_TABLE - 1)];
                // xorshift64 for the noise index: cheap, deterministic, seeded from the session.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                for c in 0..3 {
                    let lin = a[c] * (l0[c] + g * l1[c]);
                    let e = encode[((lin * enc_scale) as usize).min(ENCODE_TABLE - 1)];
                    let n = noise[((state >> (c * 16)) as usize) & (NOISE_TABLE - 1)];
                    px[c] = (e + n + 0.5) as u8;
                }
            }
        }
        self.noise_state = state;
        let face = FaceBox {
            x: (fcx - fw / 2.0) / w as f32,
            y: (fcy - fh / 2.0) / h as f32,
            w: fw / w as f32,
            h: fh / h as f32,
            score: 1.0,
        };
        Some((t, face))
    }
}

fn lit_linear_first(lit: &[DisplayedColour]) -> [f32; 3] {
    lit.first().map_or([1.0; 3], |d| d.colour.to_linear().to_array())
}

impl Iterator for SimSession {
    type Item = SimFrame;

    fn next(&mut self) -> Option<SimFrame> {
        let mut rgba = Vec::new();
        let (t_ms, face) = self.render_next(&mut rgba)?;
        Some(SimFrame { t_ms, width: self.conditions.width, height: self.conditions.height, rgba, face })
    }
}

/// The analyser's regions measured on an RGBA frame with a known face box (ground truth, for tests
/// that bypass the detector): face = the box shrunk to its central 60 %; background = the left and
/// right 15 % strips of the frame minus the face box widened by 25 %. Means in linear light.
pub fn measure_regions(rgba: &[u8], width: u32, height: u32, face: &FaceBox, t_ms: f64) -> ReflectionSample {
    let (w, h) = (width as usize, height as usize);
    if rgba.len() < w * h * 4 || !face.is_valid() {
        return ReflectionSample { t_ms, face: None, background: None, face_box: None };
    }
    let rect = |b: &FaceBox| {
        let x0 = ((b.x * width as f32).round().max(0.0) as usize).min(w);
        let y0 = ((b.y * height as f32).round().max(0.0) as usize).min(h);
        let x1 = (((b.x + b.w) * width as f32).round().max(0.0) as usize).min(w);
        let y1 = (((b.y + b.h) * height as f32).round().max(0.0) as usize).min(h);
        (x0, y0, x1, y1)
    };
    let mean = |x0: usize, y0: usize, x1: usize, y1: usize, exclude: Option<(usize, usize, usize, usize)>| {
        let mut s = [0.0f64; 3];
        let mut n = 0usize;
        for y in y0..y1 {
            for x in x0..x1 {
                if let Some((ex0, ey0, ex1, ey1)) = exclude {
                    if x >= ex0 && x < ex1 && y >= ey0 && y < ey1 {
                        continue;
                    }
                }
                let p = &rgba[(y * w + x) * 4..];
                for c in 0..3 {
                    s[c] += f64::from(SRGB_TO_LINEAR[p[c] as usize]);
                }
                n += 1;
            }
        }
        (s, n)
    };
    let (x0, y0, x1, y1) = rect(&face.shrunk(0.6));
    let (fs, fnum) = mean(x0, y0, x1, y1, None);
    let widened = rect(&face.shrunk(1.25));
    let strip = ((w as f32 * 0.15).round() as usize).min(w / 2);
    let (ls, ln) = mean(0, 0, strip, h, Some(widened));
    let (rs, rn) = mean(w - strip, 0, w, h, Some(widened));
    let to_rgb = |s: [f64; 3], n: usize| {
        (n > 0).then(|| LinearRgb::new((s[0] / n as f64) as f32, (s[1] / n as f64) as f32, (s[2] / n as f64) as f32))
    };
    let bs = [ls[0] + rs[0], ls[1] + rs[1], ls[2] + rs[2]];
    ReflectionSample { t_ms, face: to_rgb(fs, fnum), background: to_rgb(bs, ln + rn), face_box: Some(*face) }
}

/// Runs a whole session and measures every frame with the ground-truth face box.
pub fn ground_truth_samples(session: &mut SimSession) -> Vec<ReflectionSample> {
    let mut rgba = Vec::new();
    let mut out = Vec::new();
    let (w, h) = (session.conditions.width, session.conditions.height);
    while let Some((t, face)) = session.render_next(&mut rgba) {
        out.push(measure_regions(&rgba, w, h, &face, t));
    }
    out
}


/// One axis of the camera's view of the scene: for each of the `n` output pixels along it, the
/// scene pixel it shows (`map`) and its squared normalised distance from the face centre (`rho`),
/// for a face centred at `face_out` in the output and `scene_centre` in the scene, seen at `scale`,
/// `face_len` output pixels across. Both buffers are reused.
#[allow(clippy::too_many_arguments)]
fn map_axis(
    n: usize,
    scene_centre: f32,
    face_out: f32,
    scale: f32,
    face_len: f32,
    scene_len: usize,
    map: &mut Vec<u32>,
    rho: &mut Vec<f32>,
) {
    map.clear();
    rho.clear();
    for i in 0..n {
        let f = i as f32 + 0.5;
        let scene = scene_centre + (f - face_out) / scale;
        map.push((scene.max(0.0) as usize).min(scene_len - 1) as u32);
        let d = (f - face_out) / (face_len / 2.0);
        rho.push(d * d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;

    pub(crate) fn astronaut() -> Photo {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/faces/astronaut.png")).unwrap();
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
        assert!(grey.albedo.iter().all(|a| a[0] == a[1] && a[1] == a[2]));
        assert!(p.albedo.iter().any(|a| a[0] != a[2]));
        assert!(Photo::from_png(&[]).is_err());
    }

    #[test]
    fn session_is_deterministic_and_covers_the_challenge() {
        let p = astronaut();
        let c = challenge(1);
        let a: Vec<SimFrame> = SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9).collect();
        let b: Vec<SimFrame> = SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9).collect();
        assert_eq!(a, b);
        let s = SimSession::new(&p, &c, SimConditions::default(), Attack::None, 9);
        let end = s.shown().last().unwrap().start_ms + 350.0;
        assert!(a.last().unwrap().t_ms > end);
        assert!(a.windows(2).all(|w| w[1].t_ms > w[0].t_ms));
        assert!(a.iter().all(|f| f.rgba.len() == 320 * 240 * 4));
        // ~4.7 s at 30 fps with 3 % drops.
        assert!((120..150).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn the_face_responds_more_than_the_background_only_when_genuine() {
        let p = astronaut();
        let c = challenge(2);
        let conditions = SimConditions {
            noise_levels: 0.0,
            motion: 0.0,
            white_balance_drift: 0.0,
            white_balance_adaptation: [0.0, 0.0],
            ..SimConditions::default()
        };
        // Compare blue steps with yellow steps on face and background chromaticity (b/(r+g+b)).
        let response = |attack: Attack| {
            let mut s = SimSession::new(&p, &c, conditions.clone(), attack, 4);
            let shown = s.shown().to_vec();
            let delay = s.delay_ms();
            let samples = ground_truth_samples(&mut s);
            let mut spread = [(f32::MAX, f32::MIN); 2];
            for smp in &samples {
                let i = shown.partition_point(|d| d.start_ms <= smp.t_ms - delay - 40.0);
                if i < 2 || smp.t_ms - delay > shown.last().unwrap().start_ms + 300.0 {
                    continue;
                }
                for (k, region) in [smp.face, smp.background].into_iter().enumerate() {
                    let v = region.unwrap();
                    let blue = v.b / (v.r + v.g + v.b);
                    spread[k] = (spread[k].0.min(blue), spread[k].1.max(blue));
                }
            }
            (spread[0].1 - spread[0].0, spread[1].1 - spread[1].0)
        };
        let (genuine, background) = response(Attack::None);
        assert!(genuine > 4.0 * background, "{genuine} {background}");
        let (face, background) = response(Attack::FlatPrint);
        assert!(face < 1.5 * background && background < 1.5 * face, "{face} {background}");
        let (face, _) = response(Attack::NoResponse);
        assert!(face < 0.1 * genuine, "{face} {genuine}");
    }
}
