//! BlazeFace short-range: faces in a 128×128 view, boxes and six keypoints per face.
//!
//! Decoding follows MediaPipe's `face_detection_short_range` graph: 896 SSD anchors (strides 8, 16,
//! 16, 16 on 128 px; 2 and 6 anchors per cell; fixed anchor size), box and keypoint offsets in
//! input pixels, sigmoid scores with a 0.5 threshold, and weighted non-maximum suppression at IoU
//! 0.3. Images of any shape are letterboxed into the square input; large photos are scanned in
//! overlapping tiles ([`BlazeFace::detect_tiled`]).

use super::crop::{sample, InputSpec, RgbImage, Roi};
use super::EngineError;
use crate::nn::Network;

/// Input side of the model.
pub const INPUT: usize = 128;
/// [-1, 1] input, black outside the image (MediaPipe's letterbox pads with zeros).
const SPEC: InputSpec = InputSpec {
    width: INPUT,
    height: INPUT,
    scale: 2.0 / 255.0,
    offset: -1.0,
    fill: Some(-1.0),
};
/// Anchors of the model's two output grids: 16 × 16 cells × 2 and 8 × 8 cells × 6.
const ANCHORS: usize = 896;
/// Values per anchor in the regressor output: box (cx, cy, w, h) and six (x, y) keypoints.
const REGRESSORS: usize = 16;
/// MediaPipe's score threshold for this model (`min_score_thresh: 0.5`).
pub const MIN_SCORE: f32 = 0.5;
/// MediaPipe's suppression threshold (`min_suppression_threshold: 0.3`, IoU).
const SUPPRESSION_IOU: f32 = 0.3;
/// Raw scores are clamped to ±100 before the sigmoid, as MediaPipe does (`score_clipping_thresh`).
const SCORE_CLIP: f32 = 100.0;

/// A face found by the detector, in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Box centre and size.
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    /// Sigmoid score, 0..1.
    pub score: f32,
    /// In image pixels: the eye on the image's left, the eye on the image's right, nose tip,
    /// mouth centre, the ear (tragion) on the image's left, the one on the image's right.
    pub keypoints: [(f32, f32); 6],
}

impl Detection {
    fn iou(&self, o: &Detection) -> f32 {
        let ix = (self.cx + self.w / 2.0).min(o.cx + o.w / 2.0)
            - (self.cx - self.w / 2.0).max(o.cx - o.w / 2.0);
        let iy = (self.cy + self.h / 2.0).min(o.cy + o.h / 2.0)
            - (self.cy - self.h / 2.0).max(o.cy - o.h / 2.0);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        let union = self.w * self.h + o.w * o.h - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    fn is_valid(&self) -> bool {
        let k = self.keypoints.iter().flat_map(|&(x, y)| [x, y]);
        [self.cx, self.cy, self.w, self.h, self.score]
            .into_iter()
            .chain(k)
            .all(f32::is_finite)
            && self.w > 0.0
            && self.h > 0.0
    }
}

/// The detector: the network, its anchors and its input buffer.
pub struct BlazeFace {
    net: Network,
    anchors: Vec<(f32, f32)>,
    input: Vec<f32>,
    min_score: f32,
}

impl std::fmt::Debug for BlazeFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlazeFace")
            .field("net", &self.net)
            .field("min_score", &self.min_score)
            .finish()
    }
}

/// SSD anchor centres of the short-range model (MediaPipe's `SsdAnchorsCalculator` with
/// `num_layers: 4, strides: [8, 16, 16, 16], aspect_ratios: [1.0], interpolated_scale_aspect_ratio:
/// 1.0, fixed_anchor_size: true`): layers of equal stride share one grid, two anchors per layer.
fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(ANCHORS);
    for (stride, per_cell) in [(8usize, 2usize), (16, 6)] {
        let side = INPUT / stride;
        for y in 0..side {
            for x in 0..side {
                let centre = (
                    (x as f32 + 0.5) / side as f32,
                    (y as f32 + 0.5) / side as f32,
                );
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

impl BlazeFace {
    /// The detector from a model file (see [`super::models::FACE_DETECTION`]).
    pub fn from_bytes(model: &[u8]) -> Result<BlazeFace, EngineError> {
        let net = Network::from_bytes(model)?;
        if net.input_shape() != [INPUT, INPUT, 3]
            || net.output("regressors").map(<[f32]>::len).ok() != Some(ANCHORS * REGRESSORS)
            || net.output("classificators").map(<[f32]>::len).ok() != Some(ANCHORS)
        {
            return Err(EngineError::ModelShape("BlazeFace short-range"));
        }
        Ok(BlazeFace {
            net,
            anchors: anchors(),
            input: vec![0f32; INPUT * INPUT * 3],
            min_score: MIN_SCORE,
        })
    }

    /// Faces in `image`, letterboxed whole into the input, best first.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Detection>, EngineError> {
        let side = image.width().max(image.height()) as f32;
        let roi = Roi {
            cx: image.width() as f32 / 2.0,
            cy: image.height() as f32 / 2.0,
            w: side,
            h: side,
            angle: 0.0,
        };
        self.detect_in(image, &roi)
    }

    /// Faces inside the axis-aligned square `roi` of `image` (parts outside the image are black),
    /// in image pixels, best first.
    pub fn detect_in(
        &mut self,
        image: &RgbImage,
        roi: &Roi,
    ) -> Result<Vec<Detection>, EngineError> {
        if !roi.is_valid() {
            return Ok(Vec::new());
        }
        // [-1, 1] input; black outside the image, as MediaPipe's letterbox pads.
        sample(image, roi, &SPEC, &mut self.input);
        self.net.run(&self.input)?;
        let boxes = self.net.output("regressors")?;
        let scores = self.net.output("classificators")?;
        let mut found = Vec::new();
        let (scale_x, scale_y) = (roi.w / INPUT as f32, roi.h / INPUT as f32);
        let (left, top) = (roi.cx - roi.w / 2.0, roi.cy - roi.h / 2.0);
        let to_image = |x: f32, y: f32| (left + x * scale_x, top + y * scale_y);
        for (i, (&(ax, ay), &raw)) in self.anchors.iter().zip(scores).enumerate() {
            let score = 1.0 / (1.0 + (-raw.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
            if score < self.min_score {
                continue;
            }
            let r = &boxes[i * REGRESSORS..(i + 1) * REGRESSORS];
            let (ax, ay) = (ax * INPUT as f32, ay * INPUT as f32);
            let (cx, cy) = to_image(ax + r[0], ay + r[1]);
            let keypoints = std::array::from_fn(|k| to_image(ax + r[4 + 2 * k], ay + r[5 + 2 * k]));
            let d = Detection {
                cx,
                cy,
                w: r[2] * scale_x,
                h: r[3] * scale_y,
                score,
                keypoints,
            };
            if d.is_valid() {
                found.push(d);
            }
        }
        Ok(weighted_nms(found))
    }

    /// Faces anywhere in a large image, down to about `min_face` pixels wide: the image is scanned
    /// in overlapping square tiles at several scales (each tile about four faces wide, where the
    /// short-range model is at home), and the detections are merged.
    pub fn detect_tiled(
        &mut self,
        image: &RgbImage,
        min_face: f32,
    ) -> Result<Vec<Detection>, EngineError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let longest = w.max(h);
        let mut all = self.detect(image)?;
        let mut tile = (min_face * TILE_FACES).max(INPUT as f32 / 2.0);
        while tile < longest {
            let step = tile * TILE_OVERLAP_STEP;
            let (nx, ny) = (
                ((w - tile) / step).ceil().max(0.0) as usize + 1,
                ((h - tile) / step).ceil().max(0.0) as usize + 1,
            );
            for j in 0..ny {
                for i in 0..nx {
                    // Tiles spread evenly so the last one ends at the image's edge.
                    let cx = if nx > 1 {
                        tile / 2.0 + (w - tile).max(0.0) * i as f32 / (nx - 1) as f32
                    } else {
                        w / 2.0
                    };
                    let cy = if ny > 1 {
                        tile / 2.0 + (h - tile).max(0.0) * j as f32 / (ny - 1) as f32
                    } else {
                        h / 2.0
                    };
                    let roi = Roi {
                        cx,
                        cy,
                        w: tile,
                        h: tile,
                        angle: 0.0,
                    };
                    let found = self.detect_in(image, &roi)?;
                    // A face cut by the tile's edge (inside the image) is found whole by a
                    // neighbouring tile; keep only faces well inside this one.
                    all.extend(found.into_iter().filter(|d| inside_tile(d, &roi, w, h)));
                }
            }
            tile *= TILE_SCALE_STEP;
        }
        Ok(weighted_nms(all))
    }
}

/// Tile side in face widths: the short-range model finds faces from about a tenth to over half of
/// its view; six face widths keeps the smallest wanted face well inside that range.
const TILE_FACES: f32 = 6.0;
/// Tiles overlap by half: a face up to half a tile wide is whole inside some tile.
const TILE_OVERLAP_STEP: f32 = 0.5;
/// Tile sizes grow by √2 per scale. Doubling (half the tiles) missed a seventh of the faces of the
/// group photo: the detector's score depends on where a face falls on its anchor grid, and
/// denser scales give every face several chances (29 of 29 found at √2).
const TILE_SCALE_STEP: f32 = std::f32::consts::SQRT_2;

/// Whether a detection lies inside its tile, except along the tile edges that are image edges.
fn inside_tile(d: &Detection, t: &Roi, w: f32, h: f32) -> bool {
    let margin = 0.02 * t.w;
    let (l, r, top, b) = (
        t.cx - t.w / 2.0,
        t.cx + t.w / 2.0,
        t.cy - t.h / 2.0,
        t.cy + t.h / 2.0,
    );
    let ok = |edge_inside: bool, fits: bool| !edge_inside || fits;
    ok(l > 0.0, d.cx - d.w / 2.0 >= l + margin)
        && ok(r < w, d.cx + d.w / 2.0 <= r - margin)
        && ok(top > 0.0, d.cy - d.h / 2.0 >= top + margin)
        && ok(b < h, d.cy + d.h / 2.0 <= b - margin)
}

/// MediaPipe's weighted non-maximum suppression: the best remaining detection and every other
/// one overlapping it by more than [`SUPPRESSION_IOU`] merge into their score-weighted average
/// (box and keypoints), with the best one's score.
fn weighted_nms(mut found: Vec<Detection>) -> Vec<Detection> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut used = vec![false; found.len()];
    for i in 0..found.len() {
        if used[i] {
            continue;
        }
        let best = found[i];
        let (mut total, mut acc) = (0f32, [0f32; 4 + 12]);
        for j in i..found.len() {
            if used[j] || best.iou(&found[j]) <= SUPPRESSION_IOU && j != i {
                continue;
            }
            used[j] = true;
            let d = &found[j];
            let s = d.score;
            total += s;
            let vals = [d.cx, d.cy, d.w, d.h]
                .into_iter()
                .chain(d.keypoints.iter().flat_map(|&(x, y)| [x, y]));
            for (a, v) in acc.iter_mut().zip(vals) {
                *a += s * v;
            }
        }
        let m = |k: usize| acc[k] / total;
        out.push(Detection {
            cx: m(0),
            cy: m(1),
            w: m(2),
            h: m(3),
            score: best.score,
            keypoints: std::array::from_fn(|k| (m(4 + 2 * k), m(5 + 2 * k))),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_mediapipe() {
        let a = anchors();
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], (1.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[512], (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[895], (7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_apart_faces() {
        let d = |cx: f32, score: f32| Detection {
            cx,
            cy: 50.0,
            w: 20.0,
            h: 20.0,
            score,
            keypoints: [(cx, 50.0); 6],
        };
        let out = weighted_nms(vec![d(50.0, 0.9), d(52.0, 0.6), d(150.0, 0.7)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert!((out[0].cx - (50.0 * 0.9 + 52.0 * 0.6) / 1.5).abs() < 1e-4);
        assert_eq!(out[1].cx, 150.0);
    }
}
