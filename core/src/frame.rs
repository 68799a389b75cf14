//! Camera frames: a borrowed RGBA frame as the page or the video decoder delivers it, and the
//! analysis-size image every later stage works on (downscaled sRGB, luma, sharpness, region colours).
//!
//! Nothing here panics on input data: sizes are validated by [`RgbaFrame::new`], regions are clamped
//! to the image, and empty regions yield `None`.

use crate::codes::ResultCode;
use crate::colour::{LinearRgb, SRGB_TO_LINEAR};
use crate::geometry::FaceBox;

/// Why a frame cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame has no pixels ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error("stride of {stride_bytes} bytes is shorter than one row of {width} RGBA pixels")]
    StrideTooShort { width: u32, stride_bytes: u32 },
    #[error(
        "frame of {width}x{height} with stride {stride_bytes} needs {needed} bytes, got {len}"
    )]
    DataTooShort {
        width: u32,
        height: u32,
        stride_bytes: u32,
        needed: u64,
        len: usize,
    },
}

impl FrameError {
    /// The code a person sees when frames from an uploaded recording are unusable.
    pub fn result_code(&self) -> ResultCode {
        ResultCode::VideoUndecodable
    }
}

/// Bytes per RGBA pixel.
const RGBA: usize = 4;
/// Bytes per pixel in the analysis image (sRGB, no alpha).
const RGB: usize = 3;

/// A borrowed RGBA frame (8 bits per channel, rows `stride_bytes` apart; alpha is ignored).
#[derive(Clone, Copy, Debug)]
pub struct RgbaFrame<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
}

impl<'a> RgbaFrame<'a> {
    /// Validates the sizes: nonzero width and height, a stride of at least one row, and enough
    /// data for every row (the last row need not be padded to the full stride).
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride_bytes: u32,
    ) -> Result<RgbaFrame<'a>, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::Empty { width, height });
        }
        let row = width as u64 * RGBA as u64;
        if (stride_bytes as u64) < row {
            return Err(FrameError::StrideTooShort {
                width,
                stride_bytes,
            });
        }
        let needed = stride_bytes as u64 * (height as u64 - 1) + row;
        if (data.len() as u64) < needed {
            return Err(FrameError::DataTooShort {
                width,
                height,
                stride_bytes,
                needed,
                len: data.len(),
            });
        }
        Ok(RgbaFrame {
            data,
            width,
            height,
            stride: stride_bytes as usize,
        })
    }

    /// A tightly packed frame (stride = 4 × width).
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Result<RgbaFrame<'a>, FrameError> {
        let stride = width
            .checked_mul(RGBA as u32)
            .ok_or(FrameError::StrideTooShort {
                width,
                stride_bytes: u32::MAX,
            })?;
        RgbaFrame::new(data, width, height, stride)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride_bytes(&self) -> u32 {
        self.stride as u32
    }

    /// The RGBA bytes of row `y` (exactly `4 × width` bytes), or None outside the frame.
    pub fn row(&self, y: u32) -> Option<&'a [u8]> {
        if y >= self.height {
            return None;
        }
        let start = y as usize * self.stride;
        self.data.get(start..start + self.width as usize * RGBA)
    }
}

/// The largest size that fits in `max_w` × `max_h` with the aspect ratio of `width` × `height`,
/// never larger than the source and never zero (unless a maximum is zero).
pub fn fit_within(width: u32, height: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if width == 0 || height == 0 || max_w == 0 || max_h == 0 {
        return (0, 0);
    }
    if width <= max_w && height <= max_h {
        return (width, height);
    }
    let scale = (max_w as f64 / width as f64).min(max_h as f64 / height as f64);
    let w = ((width as f64 * scale).round() as u32).clamp(1, max_w);
    let h = ((height as f64 * scale).round() as u32).clamp(1, max_h);
    (w, h)
}

/// A rectangle of analysis-image pixels, `x0..x1` × `y0..y1` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PixelRect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl PixelRect {
    /// The whole of a `width` × `height` image.
    pub fn full(width: u32, height: u32) -> PixelRect {
        PixelRect {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        }
    }

    /// The pixels whose centres lie inside a normalised box, clamped to a `width` × `height` image.
    /// Invalid (non-finite or empty) boxes give an empty rectangle.
    pub fn from_face_box(b: &FaceBox, width: u32, height: u32) -> PixelRect {
        if !b.is_valid() {
            return PixelRect::default();
        }
        let edge =
            |v: f32, size: u32| -> u32 { (v * size as f32).round().clamp(0.0, size as f32) as u32 };
        let (x0, x1) = (edge(b.x, width), edge(b.x + b.w, width));
        let (y0, y1) = (edge(b.y, height), edge(b.y + b.h, height));
        PixelRect {
            x0,
            y0,
            x1: x1.max(x0),
            y1: y1.max(y0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.x1 <= self.x0 || self.y1 <= self.y0
    }

    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }

    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }

    pub fn area(&self) -> u64 {
        self.width() as u64 * self.height() as u64
    }

    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    /// This rectangle clamped to a `width` × `height` image.
    pub fn clamped(&self, width: u32, height: u32) -> PixelRect {
        let x1 = self.x1.min(width);
        let y1 = self.y1.min(height);
        PixelRect {
            x0: self.x0.min(x1),
            y0: self.y0.min(y1),
            x1,
            y1,
        }
    }
}

/// Sums of linear-light colour over a set of pixels; combine several regions, then take the mean.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinearSum {
    pub r: f64,
    pub g: f64,
    pub b: f64,
    pub count: u64,
}

impl LinearSum {
    pub fn add(&mut self, o: &LinearSum) {
        self.r += o.r;
        self.g += o.g;
        self.b += o.b;
        self.count += o.count;
    }

    /// The mean colour, or None when no pixel was summed.
    pub fn mean(&self) -> Option<LinearRgb> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        Some(LinearRgb::new(
            (self.r / n) as f32,
            (self.g / n) as f32,
            (self.b / n) as f32,
        ))
    }
}

/// Brightness statistics of a region, on 8-bit luma.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LumaStats {
    /// Mean luma, 0..255.
    pub mean: f32,
    /// Fraction of pixels at or above [`CLIPPED_LUMA`], 0..1.
    pub clipped: f32,
    pub count: u64,
}

/// A channel at or above this level counts as saturated: it no longer follows the light reaching it,
/// so the pixel's colour response is lost even when its luma is not clipped.
pub const SATURATED_LEVEL: u8 = 250;

/// Luma at or above which a pixel counts as clipped (a sensor near saturation loses the
/// colour response the reflection decoder needs).
pub const CLIPPED_LUMA: u8 = 250;

/// The frame at analysis size: packed sRGB and its luma, in buffers reused frame after frame.
#[derive(Clone, Debug, Default)]
pub struct AnalysisImage {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    luma: Vec<u8>,
    /// Per output column: the first source column of its box (len = width + 1).
    col_bounds: Vec<u32>,
    /// Per output column and channel: the running box sums of the current output row.
    acc: Vec<u32>,
    /// Per output column: the rounding divisor of its box.
    divisors: Vec<BoxDivisor>,
}

/// Rounded division by a fixed box size without a hardware divide per pixel: `(sum + count/2) × m
/// >> 32` with `m = ceil(2³² / count)`, exact while `sum ≤ 255 × count` and `count < 4096`
/// (then `(sum + count/2) × count < 2³²`); larger boxes divide.
#[derive(Clone, Copy, Debug, Default)]
struct BoxDivisor {
    count: u32,
    m: u64,
}

/// Largest box for which the multiply-shift division is exact.
const MAX_RECIPROCAL_BOX: u32 = 4095;

impl BoxDivisor {
    fn new(count: u32) -> BoxDivisor {
        let count = count.max(1);
        BoxDivisor {
            count,
            m: (1u64 << 32).div_ceil(count as u64),
        }
    }

    #[inline]
    fn mean(&self, sum: u32) -> u32 {
        let n = sum as u64 + (self.count / 2) as u64;
        if self.count <= MAX_RECIPROCAL_BOX {
            ((n * self.m) >> 32) as u32
        } else {
            (n / self.count as u64) as u32
        }
    }
}

impl AnalysisImage {
    pub fn new() -> AnalysisImage {
        AnalysisImage::default()
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Packed sRGB, 3 bytes per pixel, `width × height` pixels.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// 8-bit luma (BT.601 weights on sRGB values, as face detectors expect), `width × height`.
    pub fn luma(&self) -> &[u8] {
        &self.luma
    }

    /// Downscales `frame` by area averaging (box filter) to fit `max_w` × `max_h`, keeping the aspect
    /// ratio (never upscaling), and computes luma. Buffers are reused: once they have grown to the
    /// largest size seen, this allocates nothing.
    pub fn load(&mut self, frame: &RgbaFrame, max_w: u32, max_h: u32) -> Result<(), FrameError> {
        let (dw, dh) = fit_within(frame.width(), frame.height(), max_w, max_h);
        if dw == 0 || dh == 0 {
            return Err(FrameError::Empty {
                width: dw,
                height: dh,
            });
        }
        let (sw, sh) = (frame.width() as u64, frame.height() as u64);
        self.width = dw;
        self.height = dh;
        let n = dw as usize * dh as usize;
        self.rgb.resize(n * RGB, 0);
        self.luma.resize(n, 0);
        self.col_bounds.clear();
        self.col_bounds
            .extend((0..=dw as u64).map(|x| (x * sw / dw as u64) as u32));
        self.acc.resize(dw as usize * RGB, 0);

        let mut divisor_rows = 0;
        for oy in 0..dh as u64 {
            let y0 = (oy * sh / dh as u64) as u32;
            let y1 = (((oy + 1) * sh / dh as u64) as u32).max(y0 + 1);
            self.acc.iter_mut().for_each(|a| *a = 0);
            for sy in y0..y1 {
                let Some(row) = frame.row(sy) else { continue };
                accumulate_row(row, &self.col_bounds, &mut self.acc);
            }
            // Box sizes change only when the number of source rows does (at most two values).
            let rows = y1 - y0;
            if rows != divisor_rows {
                self.divisors.clear();
                self.divisors.extend(
                    self.col_bounds
                        .windows(2)
                        .map(|b| BoxDivisor::new(b[1].saturating_sub(b[0]).max(1) * rows)),
                );
                divisor_rows = rows;
            }
            let out = oy as usize * dw as usize;
            let rgb_out = &mut self.rgb[out * RGB..(out + dw as usize) * RGB];
            let luma_out = &mut self.luma[out..out + dw as usize];
            for ((a, px), (l, d)) in self
                .acc
                .chunks_exact(RGB)
                .zip(rgb_out.chunks_exact_mut(RGB))
                .zip(luma_out.iter_mut().zip(&self.divisors))
            {
                let (r, g, b) = (d.mean(a[0]), d.mean(a[1]), d.mean(a[2]));
                px[0] = r as u8;
                px[1] = g as u8;
                px[2] = b as u8;
                *l = luma_of(r, g, b);
            }
        }
        Ok(())
    }

    /// Sharpness of a region: the variance of the 4-neighbour Laplacian of luma over the region's
    /// interior pixels. 0 for regions too small to have an interior.
    pub fn sharpness(&self, region: PixelRect) -> f32 {
        self.sharpness_with_spacing(region, 1)
    }

    /// [`AnalysisImage::sharpness`] with the Laplacian's neighbours `spacing` pixels apart (and the
    /// centres on a grid of that spacing): the same detail measured on a larger face gives a
    /// similar value when the spacing grows with the face.
    pub fn sharpness_with_spacing(&self, region: PixelRect, spacing: u32) -> f32 {
        let r = region.clamped(self.width, self.height);
        let d = spacing.max(1);
        if r.width() <= 2 * d || r.height() <= 2 * d {
            return 0.0;
        }
        let (w, d) = (self.width as usize, d as usize);
        let (mut sum, mut sum2, mut n) = (0i64, 0i64, 0i64);
        for y in ((r.y0 as usize + d)..(r.y1 as usize - d)).step_by(d) {
            let (up, mid, down) = (
                &self.luma[(y - d) * w..(y - d + 1) * w],
                &self.luma[y * w..(y + 1) * w],
                &self.luma[(y + d) * w..(y + d + 1) * w],
            );
            for x in ((r.x0 as usize + d)..(r.x1 as usize - d)).step_by(d) {
                let lap = up[x] as i64 + down[x] as i64 + mid[x - d] as i64 + mid[x + d] as i64
                    - 4 * mid[x] as i64;
                sum += lap;
                sum2 += lap * lap;
                n += 1;
            }
        }
        if n == 0 {
            return 0.0;
        }
        let mean = sum as f64 / n as f64;
        (sum2 as f64 / n as f64 - mean * mean).max(0.0) as f32
    }

    /// Linear-light colour and luma statistics over `region`, leaving out pixels inside
    /// `exclude`, in one pass. Each analysis pixel is linearised with [`SRGB_TO_LINEAR`].
    pub fn region_stats(&self, region: PixelRect, exclude: Option<PixelRect>) -> RegionStats {
        let r = region.clamped(self.width, self.height);
        let mut s = RegionStats::default();
        if r.is_empty() {
            return s;
        }
        let ex = exclude.filter(|e| !e.is_empty());
        let w = self.width as usize;
        let (mut sr, mut sg, mut sb) = (0f64, 0f64, 0f64);
        for y in r.y0..r.y1 {
            let rgb_row = &self.rgb[y as usize * w * RGB..(y as usize + 1) * w * RGB];
            let luma_row = &self.luma[y as usize * w..(y as usize + 1) * w];
            // The excluded span of this row (empty unless the exclusion covers the row).
            let (skip0, skip1) = match ex {
                Some(e) if y >= e.y0 && y < e.y1 && e.x0 < r.x1 && e.x1 > r.x0 => {
                    (e.x0.max(r.x0), e.x1.min(r.x1))
                }
                _ => (r.x1, r.x1),
            };
            for (x0, x1) in [(r.x0, skip0), (skip1, r.x1)] {
                if x1 <= x0 {
                    continue;
                }
                let (x0, x1) = (x0 as usize, x1 as usize);
                let (mut rr, mut rg, mut rb) = (0f32, 0f32, 0f32);
                for p in rgb_row[x0 * RGB..x1 * RGB].chunks_exact(RGB) {
                    rr += SRGB_TO_LINEAR[p[0] as usize];
                    rg += SRGB_TO_LINEAR[p[1] as usize];
                    rb += SRGB_TO_LINEAR[p[2] as usize];
                    s.saturated += (p[0].max(p[1]).max(p[2]) >= SATURATED_LEVEL) as u64;
                }
                sr += rr as f64;
                sg += rg as f64;
                sb += rb as f64;
                for &v in &luma_row[x0..x1] {
                    s.luma_sum += v as u64;
                    s.clipped += (v >= CLIPPED_LUMA) as u64;
                }
                s.linear.count += (x1 - x0) as u64;
            }
        }
        s.linear.r = sr;
        s.linear.g = sg;
        s.linear.b = sb;
        s
    }

    /// Linear-light colour sums over `region`, leaving out pixels inside `exclude`.
    pub fn linear_sum(&self, region: PixelRect, exclude: Option<PixelRect>) -> LinearSum {
        self.region_stats(region, exclude).linear
    }

    /// Mean linear-light colour over `region` minus `exclude`; None when no pixel remains.
    pub fn linear_mean(&self, region: PixelRect, exclude: Option<PixelRect>) -> Option<LinearRgb> {
        self.linear_sum(region, exclude).mean()
    }

    /// Luma statistics over `region` minus `exclude`.
    pub fn luma_stats(&self, region: PixelRect, exclude: Option<PixelRect>) -> LumaStats {
        self.region_stats(region, exclude).luma()
    }
}

/// Colour and brightness sums over a set of pixels (see [`AnalysisImage::region_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RegionStats {
    pub linear: LinearSum,
    /// Sum of 8-bit luma.
    pub luma_sum: u64,
    /// Pixels with luma at or above [`CLIPPED_LUMA`].
    pub clipped: u64,
    /// Pixels with a channel at or above [`SATURATED_LEVEL`].
    pub saturated: u64,
}

impl RegionStats {
    pub fn add(&mut self, o: &RegionStats) {
        self.linear.add(&o.linear);
        self.luma_sum += o.luma_sum;
        self.clipped += o.clipped;
        self.saturated += o.saturated;
    }

    pub fn count(&self) -> u64 {
        self.linear.count
    }

    /// Share of pixels with a saturated channel, 0..1 (0 for an empty region).
    pub fn saturated_share(&self) -> f32 {
        if self.count() == 0 {
            0.0
        } else {
            self.saturated as f32 / self.count() as f32
        }
    }

    pub fn luma(&self) -> LumaStats {
        let n = self.count();
        if n == 0 {
            return LumaStats::default();
        }
        LumaStats {
            mean: self.luma_sum as f32 / n as f32,
            clipped: self.clipped as f32 / n as f32,
            count: n,
        }
    }
}

/// Adds one RGBA source row into the per-output-column sums.
fn accumulate_row(row: &[u8], col_bounds: &[u32], acc: &mut [u32]) {
    let out_w = col_bounds.len().saturating_sub(1);
    // Whole-number ratio (640 → 320, 1280 → 320, 320 → 320): fixed-size boxes, no bounds lookups.
    if out_w > 0 && col_bounds[0] == 0 && (col_bounds[out_w] as usize).is_multiple_of(out_w) {
        let fx = col_bounds[out_w] as usize / out_w;
        if fx >= 1 && row.len() >= out_w * fx * RGBA {
            let row = &row[..out_w * fx * RGBA];
            match fx {
                1 => accumulate_fixed::<1>(row, acc),
                2 => accumulate_fixed::<2>(row, acc),
                3 => accumulate_fixed::<3>(row, acc),
                4 => accumulate_fixed::<4>(row, acc),
                _ => {
                    for (px, a) in row.chunks_exact(fx * RGBA).zip(acc.chunks_exact_mut(RGB)) {
                        let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                        for p in px.chunks_exact(RGBA) {
                            r += p[0] as u32;
                            g += p[1] as u32;
                            b += p[2] as u32;
                        }
                        a[0] += r;
                        a[1] += g;
                        a[2] += b;
                    }
                }
            }
            return;
        }
    }
    for (ox, bounds) in col_bounds.windows(2).enumerate() {
        let (x0, x1) = (
            bounds[0] as usize,
            (bounds[1] as usize).max(bounds[0] as usize + 1),
        );
        let Some(px) = row.get(x0 * RGBA..x1 * RGBA) else {
            continue;
        };
        let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
        for p in px.chunks_exact(RGBA) {
            r += p[0] as u32;
            g += p[1] as u32;
            b += p[2] as u32;
        }
        let a = &mut acc[ox * RGB..ox * RGB + RGB];
        a[0] += r;
        a[1] += g;
        a[2] += b;
    }
}

/// [`accumulate_row`] for boxes exactly `N` source pixels wide (unrolled by the compiler).
#[inline]
fn accumulate_fixed<const N: usize>(row: &[u8], acc: &mut [u32]) {
    for (px, a) in row.chunks_exact(N * RGBA).zip(acc.chunks_exact_mut(RGB)) {
        let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
        for k in 0..N {
            r += px[k * RGBA] as u32;
            g += px[k * RGBA + 1] as u32;
            b += px[k * RGBA + 2] as u32;
        }
        a[0] += r;
        a[1] += g;
        a[2] += b;
    }
}

/// BT.601 luma of 8-bit sRGB, in fixed point (weights 77/150/29 of 256).
#[inline]
fn luma_of(r: u32, g: u32, b: u32) -> u8 {
    ((77 * r + 150 * g + 29 * b + 128) >> 8).min(255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, rgba: [u8; 4]) -> Vec<u8> {
        rgba.iter()
            .copied()
            .cycle()
            .take((w * h * 4) as usize)
            .collect()
    }

    #[test]
    fn new_validates_sizes() {
        let d = vec![0u8; 4 * 4 * 3];
        assert!(RgbaFrame::new(&d, 4, 3, 16).is_ok());
        assert_eq!(
            RgbaFrame::new(&d, 0, 3, 16).unwrap_err(),
            FrameError::Empty {
                width: 0,
                height: 3
            }
        );
        assert!(matches!(
            RgbaFrame::new(&d, 4, 3, 15),
            Err(FrameError::StrideTooShort { .. })
        ));
        assert!(matches!(
            RgbaFrame::new(&d, 4, 4, 16),
            Err(FrameError::DataTooShort { .. })
        ));
        // The last row need not be padded to the stride.
        let d = vec![0u8; 20 * 2 + 16];
        assert!(RgbaFrame::new(&d, 4, 3, 20).is_ok());
        assert!(matches!(
            RgbaFrame::new(&d, u32::MAX, u32::MAX, u32::MAX),
            Err(FrameError::StrideTooShort { .. })
        ));
        assert!(matches!(
            RgbaFrame::packed(&d, u32::MAX, 1),
            Err(FrameError::StrideTooShort { .. })
        ));
    }

    #[test]
    fn box_divisor_is_exact_rounded_division() {
        for count in [
            1u32, 2, 3, 4, 6, 7, 9, 16, 25, 100, 1000, 4095, 4096, 100_000,
        ] {
            let d = BoxDivisor::new(count);
            let max = (255u64 * count as u64).min(50_000_000) as u32;
            let step = (max / 200_000).max(1);
            for sum in (0..=max).step_by(step as usize).chain([max]) {
                assert_eq!(d.mean(sum), (sum + count / 2) / count, "{sum}/{count}");
            }
        }
    }

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit_within(640, 480, 320, 240), (320, 240));
        assert_eq!(fit_within(1280, 720, 320, 240), (320, 180));
        assert_eq!(fit_within(480, 640, 320, 240), (180, 240));
        assert_eq!(fit_within(200, 100, 320, 240), (200, 100));
        assert_eq!(fit_within(10000, 1, 320, 240), (320, 1));
        assert_eq!(fit_within(0, 10, 320, 240), (0, 0));
    }

    #[test]
    fn downscale_averages_boxes_and_respects_stride() {
        // 4x2 frame with stride 20 (4 padding bytes of 255 that must be ignored), halved to 2x1.
        let mut d = vec![255u8; 20 * 2];
        let px = [[0u8, 0, 0], [100, 50, 20], [200, 200, 200], [200, 100, 0]];
        for y in 0..2 {
            for (x, p) in px.iter().enumerate() {
                let i = y * 20 + x * 4;
                d[i..i + 3].copy_from_slice(p);
            }
        }
        let f = RgbaFrame::new(&d, 4, 2, 20).unwrap();
        let mut img = AnalysisImage::new();
        img.load(&f, 2, 1).unwrap();
        assert_eq!((img.width(), img.height()), (2, 1));
        assert_eq!(img.rgb(), &[50, 25, 10, 200, 150, 100]);
        assert_eq!(img.luma()[1], luma_of(200, 150, 100));
    }

    #[test]
    fn downscale_with_uneven_boxes() {
        // 5x3 → 2x1: boxes of 2 and 3 columns over all 3 rows; red = column index × 10.
        let mut d = vec![0u8; 5 * 3 * 4];
        for y in 0..3 {
            for x in 0..5 {
                d[(y * 5 + x) * 4] = (x * 10) as u8;
                d[(y * 5 + x) * 4 + 1] = (y * 30) as u8;
            }
        }
        let mut img = AnalysisImage::new();
        img.load(&RgbaFrame::packed(&d, 5, 3).unwrap(), 2, 1)
            .unwrap();
        assert_eq!((img.width(), img.height()), (2, 1));
        assert_eq!(img.rgb(), &[5, 30, 0, 30, 30, 0]);
        // Reloading a different size reuses the buffers and gives the right size.
        img.load(&RgbaFrame::packed(&d, 5, 3).unwrap(), 320, 240)
            .unwrap();
        assert_eq!((img.width(), img.height(), img.luma().len()), (5, 3, 15));
    }

    #[test]
    fn linear_means_exclude_and_count() {
        let d = solid(10, 10, [255, 0, 128, 255]);
        let f = RgbaFrame::packed(&d, 10, 10).unwrap();
        let mut img = AnalysisImage::new();
        img.load(&f, 320, 240).unwrap();
        let all = PixelRect::full(10, 10);
        let m = img.linear_mean(all, None).unwrap();
        assert!((m.r - 1.0).abs() < 1e-6 && m.g == 0.0 && (m.b - SRGB_TO_LINEAR[128]).abs() < 1e-6);
        let ex = PixelRect {
            x0: 2,
            y0: 2,
            x1: 5,
            y1: 6,
        };
        assert_eq!(img.linear_sum(all, Some(ex)).count, 100 - 12);
        assert_eq!(img.linear_sum(ex, Some(all)).count, 0);
        assert_eq!(img.linear_mean(ex, Some(all)), None);
        assert_eq!(img.luma_stats(all, Some(ex)).count, 88);
        // Regions beyond the image are clamped, not indexed.
        assert_eq!(
            img.linear_sum(
                PixelRect {
                    x0: 8,
                    y0: 8,
                    x1: 100,
                    y1: 100
                },
                None
            )
            .count,
            4
        );
    }

    #[test]
    fn sharpness_separates_edges_from_flat() {
        let (w, h) = (32u32, 32u32);
        let mut d = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                let v = if (x / 2 + y / 2) % 2 == 0 { 230 } else { 20 };
                let i = ((y * w + x) * 4) as usize;
                d[i..i + 4].copy_from_slice(&[v, v, v, 255]);
            }
        }
        let mut img = AnalysisImage::new();
        img.load(&RgbaFrame::packed(&d, w, h).unwrap(), 320, 240)
            .unwrap();
        let checker = img.sharpness(PixelRect::full(w, h));
        let flat = solid(w, h, [90, 90, 90, 255]);
        img.load(&RgbaFrame::packed(&flat, w, h).unwrap(), 320, 240)
            .unwrap();
        assert_eq!(img.sharpness(PixelRect::full(w, h)), 0.0);
        assert!(checker > 1000.0, "{checker}");
        assert_eq!(
            img.sharpness(PixelRect {
                x0: 0,
                y0: 0,
                x1: 2,
                y1: 2
            }),
            0.0
        );
    }

    #[test]
    fn face_box_to_pixels_clamps() {
        let b = FaceBox {
            x: -0.1,
            y: 0.5,
            w: 0.5,
            h: 0.7,
            score: 1.0,
        };
        assert_eq!(
            PixelRect::from_face_box(&b, 100, 10),
            PixelRect {
                x0: 0,
                y0: 5,
                x1: 40,
                y1: 10
            }
        );
        let bad = FaceBox { x: f32::NAN, ..b };
        assert!(PixelRect::from_face_box(&bad, 100, 10).is_empty());
    }
}
