//! A real photo as the simulator's person: linear-light appearance and where the face is.

use std::io::Cursor;

use crate::colour::{LinearRgb, SRGB_TO_LINEAR};
use crate::geometry::FaceBox;

use super::SimError;

/// Largest photo side accepted (the group photo is 1666 px wide).
const MAX_PHOTO_SIDE: u32 = 8192;

/// The astronaut photo's face (shared/data/faces/astronaut.png): the detector-style box (brows to chin,
/// cheek to cheek; SeetaFace found it here, the face engine's box is within 5 %).
pub const ASTRONAUT_FACE: FaceBox = FaceBox {
    x: 0.340,
    y: 0.133,
    w: 0.191,
    h: 0.191,
    score: 1.0,
};

/// A photo of a person in linear light (its appearance under the light it was taken in, which the
/// simulator treats as the room's ambient light), and where the face is in it.
#[derive(Clone, Debug)]
pub struct Photo {
    width: u32,
    height: u32,
    albedo: Vec<[f32; 3]>,
    /// The face, normalised to the photo (found by a detector or given). [`Photo::from_png`] sets
    /// a central guess; set the real box before simulating.
    pub face: FaceBox,
    /// How the head is turned ([`Photo::with_turn_from_landmarks`] reads it from the landmarks; frontal by default).
    pub turn: HeadTurn,
}

/// The face's width, in pixels, at which [`Photo::with_turn_from_landmarks`] looks for its
/// landmarks: FaceMesh's input is 192 px for a crop 1.5 face widths wide.
const LANDMARK_FACE_PX: u16 = 128;

/// How the head in a photo is turned, so that the simulator's head model lies under the photo's
/// features rather than square to its face box: a face turned 10° has its nose tip a seventh of the
/// box's width off the box's centre, and a frontal model under it puts the nose's relief on one
/// cheek and the other cheek's cells on the model's outline. Radians: `yaw` turns the nose toward
/// the image's right, `pitch` turns it up, `roll` turns the face's left-right axis clockwise in the
/// image (its right end down).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadTurn {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

impl Photo {
    /// Decodes an 8- or 16-bit PNG (grey, grey+alpha, RGB, RGBA, palette) into linear albedo.
    pub fn from_png(bytes: &[u8]) -> Result<Photo, SimError> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .map_err(|e| SimError::Png(e.to_string()))?;
        let (width, height) = (reader.info().width, reader.info().height);
        if width == 0 || height == 0 || width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE {
            return Err(SimError::Size { width, height });
        }
        let size = reader
            .output_buffer_size()
            .ok_or(SimError::Size { width, height })?;
        let mut buf = vec![0u8; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| SimError::Png(e.to_string()))?;
        let channels = info.color_type.samples();
        let stride = info.line_size;
        let mut albedo = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height as usize {
            let row = buf
                .get(y * stride..y * stride + width as usize * channels)
                .ok_or(SimError::Size { width, height })?;
            for px in row.chunks_exact(channels) {
                let lin = |v: u8| SRGB_TO_LINEAR[v as usize];
                albedo.push(match channels {
                    1 | 2 => [lin(px[0]); 3],
                    _ => [lin(px[0]), lin(px[1]), lin(px[2])],
                });
            }
        }
        Ok(Photo {
            width,
            height,
            albedo,
            face: FaceBox {
                x: 0.3,
                y: 0.25,
                w: 0.4,
                h: 0.5,
                score: 0.0,
            },
            turn: HeadTurn::default(),
        })
    }

    /// The same photo with the face at `face` (normalised to the photo).
    pub fn with_face(mut self, face: FaceBox) -> Photo {
        self.face = face;
        self
    }

    /// The same photo with its head's turn read from its landmarks: the face engine (BlazeFace and
    /// the embedded FaceMesh) finds the face nearest [`Photo::face`], and the turn is the one that
    /// puts the head model's nose tip on the photo's (landmark 1) with its left-right axis along the
    /// outline points at eye height (234, 454). Unchanged when no face is found there.
    pub fn with_turn_from_landmarks(mut self) -> Result<Photo, SimError> {
        use crate::engine::{crop::RgbImage, mesh::index, FaceEngine};
        let (pw, ph) = (self.width as f32, self.height as f32);
        // A small face (the group photo's are 40–50 px) is seen enlarged, as the camera frames
        // the simulator renders show it: FaceMesh needs its face at about its input size.
        let scale = (f32::from(LANDMARK_FACE_PX) / (self.face.w * pw)).clamp(1.0, 8.0);
        let (sw, sh) = ((pw * scale).round() as u32, (ph * scale).round() as u32);
        let mut rgb = Vec::with_capacity(sw as usize * sh as usize * 3);
        for y in 0..sh {
            for x in 0..sw {
                let a = self.sample(
                    (x as f32 + 0.5) / scale - 0.5,
                    (y as f32 + 0.5) / scale - 0.5,
                );
                let s = LinearRgb::from_array(a).to_srgb8();
                rgb.extend_from_slice(&[s.r, s.g, s.b]);
            }
        }
        let Some(image) = RgbImage::new(&rgb, sw, sh) else {
            return Ok(self);
        };
        let (cx, cy) = (
            (self.face.x + self.face.w / 2.0) * pw,
            (self.face.y + self.face.h / 2.0) * ph,
        );
        let (half_w, half_h) = (self.face.w * pw / 2.0, self.face.h * ph / 2.0);
        let engine_error = |e: crate::engine::EngineError| SimError::Engine(e.to_string());
        // The whole photo at the detector's input size first (a portrait, or a crop around one
        // face), then scanned in tiles (a face small in a big photo).
        let mut engine = FaceEngine::with_embedded_landmarks().map_err(engine_error)?;
        let mut faces = engine.detect(&image).map_err(engine_error)?;
        faces.extend(
            engine
                .detect_photo(&image, half_w * scale)
                .map_err(engine_error)?,
        );
        let point = |l: &crate::engine::mesh::Landmarks, i: usize| {
            let p = l.point(i);
            (p[0] / scale, p[1] / scale)
        };
        let nearest = faces
            .iter()
            .filter_map(|f| f.landmarks.as_ref())
            .map(|l| (point(l, index::NOSE_TIP), l))
            .filter(|(tip, _)| (tip.0 - cx).abs() < half_w && (tip.1 - cy).abs() < half_h)
            .min_by(|a, b| {
                let d = |t: (f32, f32)| (t.0 - cx).powi(2) + (t.1 - cy).powi(2);
                d(a.0).total_cmp(&d(b.0))
            });
        let Some((tip, landmarks)) = nearest else {
            return Ok(self);
        };
        let (right, left) = (
            point(landmarks, index::CHEEK_RIGHT),
            point(landmarks, index::CHEEK_LEFT),
        );
        let roll = f64::from(left.1 - right.1).atan2(f64::from(left.0 - right.0));
        // The tip relative to the box's centre with the roll undone, in face units.
        let (dx, dy) = (f64::from(tip.0 - cx), f64::from(tip.1 - cy));
        let (c, s) = (roll.cos(), roll.sin());
        let tip_uv = (
            (c * dx + s * dy) / f64::from(half_w),
            (-s * dx + c * dy) / f64::from(half_h),
        );
        self.turn = super::scene::head_turn(tip_uv, roll);
        Ok(self)
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
                (0.2126 * f32::from(s.r) + 0.7152 * f32::from(s.g) + 0.0722 * f32::from(s.b))
                    .round() as u8
            })
            .collect()
    }

    /// The same photo with every pixel's colour replaced by its grey (Rec. 709 luminance in linear
    /// light). For black-and-white photographs carrying coloured annotations: the group photo is a
    /// grey 1927 print with red face boxes painted on, which would otherwise become red stripes on
    /// the simulated skin whose share of the face region changes as the face box moves.
    pub fn greyscale(&self) -> Photo {
        let albedo = self
            .albedo
            .iter()
            .map(|a| [LinearRgb::from_array(*a).luminance(); 3])
            .collect();
        Photo {
            width: self.width,
            height: self.height,
            albedo,
            face: self.face,
            turn: self.turn,
        }
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
        Ok(Photo {
            width: cw,
            height: ch,
            albedo,
            face,
            turn: self.turn,
        })
    }

    /// Mean linear colour of the central part of the face (the skin the person's tone is set by).
    pub(super) fn skin_mean(&self) -> [f32; 3] {
        let f = self.face.shrunk(0.5);
        let (w, h) = (self.width as f32, self.height as f32);
        let x0 = (f.x * w).max(0.0) as usize;
        let y0 = (f.y * h).max(0.0) as usize;
        let x1 = (((f.x + f.w) * w) as usize).min(self.width as usize);
        let y1 = (((f.y + f.h) * h) as usize).min(self.height as usize);
        let mut s = [0.0f64; 3];
        let mut n = 0.0f64;
        for y in y0..y1 {
            for a in
                &self.albedo[y * self.width as usize + x0..y * self.width as usize + x1.max(x0)]
            {
                for c in 0..3 {
                    s[c] += f64::from(a[c]);
                }
                n += 1.0;
            }
        }
        if n == 0.0 {
            return [0.3; 3];
        }
        std::array::from_fn(|c| (s[c] / n).max(1e-4) as f32)
    }

    /// Bilinear albedo at photo pixel coordinates (clamped to the edge).
    pub(super) fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let maxx = (self.width - 1) as f32;
        let maxy = (self.height - 1) as f32;
        let x = if x.is_finite() {
            x.clamp(0.0, maxx)
        } else {
            0.0
        };
        let y = if y.is_finite() {
            y.clamp(0.0, maxy)
        } else {
            0.0
        };
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

    #[cfg(test)]
    pub(super) fn pixels(&self) -> &[[f32; 3]] {
        &self.albedo
    }
}

/// Skin reflectance (linear sRGB primaries, diffuse albedo) at the two ends of the human range.
/// Published spectral measurements of skin give ~0.6 at 650 nm and ~0.35 at 450 nm for very light
/// skin (Fitzpatrick I) and ~0.1 / ~0.04 for very dark skin (VI); projected on the sRGB primaries
/// that is about (0.60, 0.44, 0.37) and (0.095, 0.058, 0.042). Darker skin is also redder, so its
/// blue channel (and with it the chromatic signal of blue and cyan steps) is weakest.
pub const SKIN_VERY_LIGHT: [f32; 3] = [0.60, 0.44, 0.37];
pub const SKIN_VERY_DARK: [f32; 3] = [0.095, 0.058, 0.042];

/// The skin reflectance at `tone` in 0 (very dark) ..= 1 (very light), interpolated in log space
/// (reflectance varies multiplicatively with melanin).
pub fn skin_reflectance(tone: f32) -> [f32; 3] {
    let t = if tone.is_finite() {
        tone.clamp(0.0, 1.0)
    } else {
        0.5
    };
    std::array::from_fn(|c| {
        (SKIN_VERY_DARK[c].ln() + t * (SKIN_VERY_LIGHT[c].ln() - SKIN_VERY_DARK[c].ln())).exp()
    })
}
