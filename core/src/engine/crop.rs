//! Image → model input: an (optionally rotated) rectangle of an RGB image resampled into a
//! tensor, and the rectangle's mapping back to image pixels.

/// A borrowed RGB image: packed 8-bit sRGB, `width × height`, no padding.
#[derive(Clone, Copy, Debug)]
pub struct RgbImage<'a> {
    rgb: &'a [u8],
    width: usize,
    height: usize,
}

impl<'a> RgbImage<'a> {
    /// None when the sizes are zero or the data is shorter than `width × height × 3`.
    pub fn new(rgb: &'a [u8], width: u32, height: u32) -> Option<RgbImage<'a>> {
        let (width, height) = (width as usize, height as usize);
        let n = width.checked_mul(height)?.checked_mul(3)?;
        (width > 0 && height > 0 && rgb.len() >= n).then(|| RgbImage {
            rgb: &rgb[..n],
            width,
            height,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Bilinear sample of channel values at continuous pixel coordinates (pixel `i` covers
    /// `[i, i + 1)`); points outside take the nearest edge pixel.
    #[inline]
    fn bilinear(&self, x: f32, y: f32) -> [f32; 3] {
        let (maxx, maxy) = ((self.width - 1) as f32, (self.height - 1) as f32);
        let (x, y) = ((x - 0.5).clamp(0.0, maxx), (y - 0.5).clamp(0.0, maxy));
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let px = |x: usize, y: usize| {
            let i = (y * self.width + x) * 3;
            [
                self.rgb[i] as f32,
                self.rgb[i + 1] as f32,
                self.rgb[i + 2] as f32,
            ]
        };
        let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
        std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            top + (bottom - top) * fy
        })
    }
}

/// A rectangle in image pixels, rotated by `angle` (radians, clockwise on screen since y points
/// down) about its centre.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    pub angle: f32,
}

impl Roi {
    /// Image point of the rectangle's point (`u`, `v`), both 0..1 from its top-left corner.
    pub fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
        let (a, b) = ((u - 0.5) * self.w, (v - 0.5) * self.h);
        let (s, c) = self.angle.sin_cos();
        (self.cx + a * c - b * s, self.cy + a * s + b * c)
    }

    /// Whether every number is finite and both sides are positive.
    pub fn is_valid(&self) -> bool {
        [self.cx, self.cy, self.w, self.h, self.angle]
            .iter()
            .all(|v| v.is_finite())
            && self.w > 0.0
            && self.h > 0.0
    }
}

/// Largest supersampling grid per output pixel (per axis) when the rectangle is shrunk: 4 × 4
/// samples average a footprint up to 4 image pixels wide, enough to stop aliasing at the
/// shrink factors the engine uses (a 320 px frame into a 128 px tensor is 2.5).
const MAX_SUPERSAMPLE: usize = 4;

/// A model's input: its size and how channel values map to input values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputSpec {
    pub width: usize,
    pub height: usize,
    /// Input value = channel (0..255) × scale + offset.
    pub scale: f32,
    pub offset: f32,
    /// Input value for points outside the image (already scaled); None repeats the edge pixels.
    pub fill: Option<f32>,
}

/// Image pixels one output pixel's samples reach along an axis: `k` samples spread over a
/// footprint of at most `k` pixels span `k − 1` pixels, plus the bilinear neighbour.
const TAP_RUN: usize = MAX_SUPERSAMPLE + 1;
/// Widest tensor the axis-aligned path handles (its per-column taps live on the stack): above
/// every model input here (FaceMesh's 192).
const MAX_ALIGNED_WIDTH: usize = 256;

/// One output pixel's samples along one axis of an axis-aligned rectangle: the weight of each
/// image pixel from `start` (the sum of the samples' bilinear weights, not yet divided by the
/// sample count) and how many samples fall inside the image.
#[derive(Clone, Copy, Default)]
struct AxisTaps {
    start: usize,
    len: usize,
    weights: [f32; TAP_RUN],
    inside: usize,
}

/// The taps of output index `o`: samples at `origin + (o + (s + 0.5) / k) · step`, clamped to
/// the image as [`RgbImage::bilinear`] clamps; with `fill`, samples outside `0..size` are left
/// out. None when they reach further than [`TAP_RUN`] pixels (then the general path runs).
fn axis_taps(
    origin: f32,
    step: f32,
    k: usize,
    o: usize,
    size: usize,
    fill: bool,
) -> Option<AxisTaps> {
    let mut t = AxisTaps::default();
    let max = (size - 1) as f32;
    for s in 0..k {
        let p = origin + (o as f32 + (s as f32 + 0.5) / k as f32) * step;
        if fill && !(p >= 0.0 && p < size as f32) {
            continue;
        }
        let q = (p - 0.5).clamp(0.0, max);
        let i0 = q as usize;
        let i1 = (i0 + 1).min(size - 1);
        let f = q - i0 as f32;
        if t.inside == 0 {
            t.start = i0;
        }
        t.inside += 1;
        for (i, w) in [(i0, 1.0 - f), (i1, f)] {
            let at = i.checked_sub(t.start).filter(|&a| a < TAP_RUN)?;
            t.weights[at] += w;
            t.len = t.len.max(at + 1);
        }
    }
    Some(t)
}

/// [`sample`] for an unrotated rectangle, as a separable filter: bilinear sampling and the
/// supersampling average both split into a weight per image column and per image row, so each
/// output pixel reads its few image pixels once instead of four per sample (the same values up to
/// float rounding). False when it does not apply.
fn sample_aligned(
    image: &RgbImage,
    roi: &Roi,
    spec: &InputSpec,
    k: usize,
    out: &mut [f32],
) -> bool {
    let (side_w, side_h) = (spec.width, spec.height);
    if roi.angle != 0.0 || side_w > MAX_ALIGNED_WIDTH {
        return false;
    }
    let (step_x, step_y) = (roi.w / side_w as f32, roi.h / side_h as f32);
    let (x0, y0) = (roi.cx - roi.w / 2.0, roi.cy - roi.h / 2.0);
    let fill = spec.fill.is_some();
    let mut columns = [AxisTaps::default(); MAX_ALIGNED_WIDTH];
    for (u, c) in columns[..side_w].iter_mut().enumerate() {
        match axis_taps(x0, step_x, k, u, image.width, fill) {
            Some(t) => *c = t,
            None => return false,
        }
    }
    let inv = 1.0 / (k * k) as f32;
    let (scale, offset, fill) = (spec.scale, spec.offset, spec.fill.unwrap_or(0.0));
    for v in 0..side_h {
        let Some(row) = axis_taps(y0, step_y, k, v, image.height, spec.fill.is_some()) else {
            return false;
        };
        for (u, col) in columns[..side_w].iter().enumerate() {
            let mut acc = [0f32; 3];
            for (r, &wy) in row.weights[..row.len].iter().enumerate() {
                let line = (row.start + r) * image.width;
                let mut h = [0f32; 3];
                for (c, &wx) in col.weights[..col.len].iter().enumerate() {
                    let i = (line + col.start + c) * 3;
                    let px = &image.rgb[i..i + 3];
                    for ch in 0..3 {
                        h[ch] += wx * px[ch] as f32;
                    }
                }
                for ch in 0..3 {
                    acc[ch] += wy * h[ch];
                }
            }
            let inside = row.inside * col.inside;
            let outside = (k * k - inside) as f32 * inv;
            let o = &mut out[(v * side_w + u) * 3..(v * side_w + u) * 3 + 3];
            for ch in 0..3 {
                o[ch] = acc[ch] * inv * scale + offset * inside as f32 * inv + fill * outside;
            }
        }
    }
    true
}

/// Samples per output pixel along each axis: the footprint's size in image pixels, rounded up.
fn supersampling(roi: &Roi, spec: &InputSpec) -> usize {
    let footprint = (roi.w / spec.width as f32).max(roi.h / spec.height as f32);
    if footprint.is_finite() {
        (footprint.ceil() as usize).clamp(1, MAX_SUPERSAMPLE)
    } else {
        1
    }
}

/// Resamples `roi` of `image` into `out` (`height × width × 3`, NHWC) as `spec` says. When the
/// rectangle is larger than the tensor, each output pixel averages a grid of bilinear samples
/// over its footprint.
pub fn sample(image: &RgbImage, roi: &Roi, spec: &InputSpec, out: &mut [f32]) {
    let InputSpec {
        width: side_w,
        height: side_h,
        scale,
        offset,
        fill,
    } = *spec;
    let n = side_w * side_h * 3;
    if out.len() < n || side_w == 0 || side_h == 0 {
        return;
    }
    let k = supersampling(roi, spec);
    if sample_aligned(image, roi, spec, k, out) {
        return;
    }
    let (s, c) = roi.angle.sin_cos();
    // Image displacement per output pixel along the tensor's x and y axes.
    let (dx_u, dy_u) = (roi.w / side_w as f32 * c, roi.w / side_w as f32 * s);
    let (dx_v, dy_v) = (-roi.h / side_h as f32 * s, roi.h / side_h as f32 * c);
    let (x0, y0) = roi.to_image(0.0, 0.0);
    let (w, h) = (image.width as f32, image.height as f32);
    let inv = 1.0 / (k * k) as f32;
    for v in 0..side_h {
        for u in 0..side_w {
            let mut acc = [0f32; 3];
            let mut outside = 0;
            for sj in 0..k {
                let fv = v as f32 + (sj as f32 + 0.5) / k as f32;
                for si in 0..k {
                    let fu = u as f32 + (si as f32 + 0.5) / k as f32;
                    let (x, y) = (x0 + fu * dx_u + fv * dx_v, y0 + fu * dy_u + fv * dy_v);
                    if fill.is_some() && !(x >= 0.0 && y >= 0.0 && x < w && y < h) {
                        outside += 1;
                        continue;
                    }
                    let p = image.bilinear(x, y);
                    for ch in 0..3 {
                        acc[ch] += p[ch];
                    }
                }
            }
            let o = &mut out[(v * side_w + u) * 3..(v * side_w + u) * 3 + 3];
            for ch in 0..3 {
                let inside = acc[ch] * inv * scale + offset * (k * k - outside) as f32 * inv;
                o[ch] = inside + fill.unwrap_or(0.0) * outside as f32 * inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_aligned_roi_copies_pixels() {
        // 4×2 image, pixel value = 10·x + y in every channel.
        let rgb: Vec<u8> = (0..2)
            .flat_map(|y| (0..4).flat_map(move |x| [10 * x + y; 3]))
            .collect();
        let img = RgbImage::new(&rgb, 4, 2).unwrap();
        let roi = Roi {
            cx: 2.0,
            cy: 1.0,
            w: 4.0,
            h: 2.0,
            angle: 0.0,
        };
        let mut out = vec![0f32; 4 * 2 * 3];
        sample(
            &img,
            &roi,
            &InputSpec {
                width: 4,
                height: 2,
                scale: 1.0,
                offset: 0.0,
                fill: None,
            },
            &mut out,
        );
        let got: Vec<f32> = out.chunks(3).map(|p| p[0]).collect();
        assert_eq!(got, vec![0.0, 10.0, 20.0, 30.0, 1.0, 11.0, 21.0, 31.0]);
        // Outside the image: the fill.
        let shifted = Roi { cx: 4.0, ..roi };
        sample(
            &img,
            &shifted,
            &InputSpec {
                width: 4,
                height: 2,
                scale: 1.0,
                offset: 0.0,
                fill: Some(-1.0),
            },
            &mut out,
        );
        assert_eq!(out[2 * 3], -1.0);
        assert_eq!(out[0], 20.0);
    }

    #[test]
    fn the_axis_aligned_path_samples_as_the_general_one() {
        // A 37×23 image of pseudo-random pixels.
        let (w, h) = (37u32, 23u32);
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let img = RgbImage::new(&rgb, w, h).unwrap();
        let spec = |width, height, fill| InputSpec {
            width,
            height,
            scale: 2.0 / 255.0,
            offset: -1.0,
            fill,
        };
        // Shrinking by 2.5 (the detector's), by 1.3, enlarging; partly outside the image; with
        // and without a fill.
        let cases = [
            (
                Roi {
                    cx: 18.5,
                    cy: 11.5,
                    w: 37.0,
                    h: 23.0,
                    angle: 0.0,
                },
                15,
                9,
            ),
            (
                Roi {
                    cx: 20.0,
                    cy: 8.0,
                    w: 40.0,
                    h: 30.0,
                    angle: 0.0,
                },
                16,
                12,
            ),
            (
                Roi {
                    cx: 10.0,
                    cy: 10.0,
                    w: 13.0,
                    h: 13.0,
                    angle: 0.0,
                },
                10,
                10,
            ),
            (
                Roi {
                    cx: 5.0,
                    cy: 20.0,
                    w: 6.0,
                    h: 9.0,
                    angle: 0.0,
                },
                12,
                18,
            ),
        ];
        for (roi, tw, th) in cases {
            for fill in [Some(-1.0), None] {
                let spec = spec(tw, th, fill);
                let mut fast = vec![0f32; tw * th * 3];
                let k = supersampling(&roi, &spec);
                assert!(sample_aligned(&img, &roi, &spec, k, &mut fast), "{roi:?}");
                // A rotation by a negligible angle takes the general path, same pixels.
                let mut general = vec![0f32; tw * th * 3];
                let tilted = Roi {
                    angle: 1e-30,
                    ..roi
                };
                sample(&img, &tilted, &spec, &mut general);
                for (i, (a, b)) in fast.iter().zip(&general).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{roi:?} {fill:?} value {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_quarter_turn_maps_corners() {
        let roi = Roi {
            cx: 10.0,
            cy: 20.0,
            w: 4.0,
            h: 2.0,
            angle: std::f32::consts::FRAC_PI_2,
        };
        let (x, y) = roi.to_image(1.0, 0.5);
        assert!(
            (x - 10.0).abs() < 1e-5 && (y - 22.0).abs() < 1e-5,
            "{x} {y}"
        );
    }
}
