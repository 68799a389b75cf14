//! BlazeFace short-range: faces in a 128×128 view, boxes and six keypoints per face.
//!
//! Decoding follows MediaPipe's `face_detection_short_range` graph: 896 SSD anchors (strides 8, 16,
//! 16, 16 on 128 px; 2 and 6 anchors per cell; fixed anchor size), box and keypoint offsets in
//! input pixels, sigmoid scores with a 0.5 threshold, and weighted non-maximum suppression at IoU
//! 0.3. Large photos are scanned in overlapping square tiles ([`BlazeFace::detect_tiled`]).
//!
//! # Whole frames: a tensor of the frame's shape
//! The network is fully convolutional, so a whole frame is not letterboxed into 128×128 (a 4:3
//! frame would spend a quarter of the 31 M multiply-adds on black bars) but resampled into the
//! smallest tensor of [`INPUT`] pixels on its long side whose short side is a multiple of
//! [`GRID_STRIDE`] ([`input_size`]): 128×96 for 4:3, 96×128 for 3:4, no bars at all; other shapes
//! keep thin bars (16:9 → 128×80), a square keeps 128×128. The anchors are laid on that tensor's
//! grids (16×12 and 8×6 cells for 128×96) by MediaPipe's rule, and the offsets, in input pixels,
//! decode as on the square. Faces keep their size in input pixels, so the model sees them as it
//! was trained to; `tests/engine.rs` checks that both paths find the same faces.

use super::crop::{sample, InputSpec, RgbImage, Roi};
use super::EngineError;
use crate::nn::{Graph, Network};

/// Input side of the model (as converted), and the long side of a whole frame's tensor.
pub const INPUT: usize = 128;
/// The coarsest output grid's stride: a tensor side must be a multiple of it for both grids to
/// have whole cells (16 px → the 8 × 8 grid of the square input).
pub const GRID_STRIDE: usize = 16;
/// Output grids: stride and anchors per cell (MediaPipe's strides 8, 16, 16, 16 with two anchors
/// per layer: layers of equal stride share one grid).
const GRIDS: [(usize, usize); 2] = [(8, 2), (16, 6)];
/// Anchors of the square input's grids: 16 × 16 cells × 2 and 8 × 8 cells × 6.
const ANCHORS: usize = 896;
/// Networks kept for different tensor sizes (each holds its own packed weights and buffers,
/// about 1 MB for BlazeFace): the square of tiles and one or two frame shapes (a camera frame
/// and, after a rotation, its transpose) fit without rebuilding.
const CACHED_SIZES: usize = 3;
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

/// The network for one tensor size, with its anchors.
struct SizedNetwork {
    /// Tensor width and height.
    size: (usize, usize),
    net: Network,
    anchors: Vec<(f32, f32)>,
}

/// The detector: the model's graph, networks built from it for the tensor sizes in use, and the
/// input buffer.
pub struct BlazeFace {
    graph: Graph,
    /// Most recently used first.
    nets: Vec<SizedNetwork>,
    input: Vec<f32>,
    min_score: f32,
}

impl std::fmt::Debug for BlazeFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlazeFace")
            .field(
                "sizes",
                &self.nets.iter().map(|n| n.size).collect::<Vec<_>>(),
            )
            .field("min_score", &self.min_score)
            .finish()
    }
}

/// SSD anchor centres of the short-range model for a `width × height` tensor, normalised to it
/// (MediaPipe's `SsdAnchorsCalculator` with `num_layers: 4, strides: [8, 16, 16, 16],
/// aspect_ratios: [1.0], interpolated_scale_aspect_ratio: 1.0, fixed_anchor_size: true`): layers
/// of equal stride share one grid, two anchors per layer; the centre of cell (x, y) of a
/// `grid_w × grid_h` grid is ((x + 0.5) / grid_w, (y + 0.5) / grid_h), rows first, as the
/// network's outputs are laid out.
fn anchors(width: usize, height: usize) -> Vec<(f32, f32)> {
    let mut out = Vec::new();
    for (stride, per_cell) in GRIDS {
        let (grid_w, grid_h) = (width / stride, height / stride);
        for y in 0..grid_h {
            for x in 0..grid_w {
                let centre = (
                    (x as f32 + 0.5) / grid_w as f32,
                    (y as f32 + 0.5) / grid_h as f32,
                );
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

/// The tensor (width, height) a whole `width × height` frame is resampled into: [`INPUT`] on the
/// long side, the short side rounded up to a multiple of [`GRID_STRIDE`] (so the frame fits with
/// the least bars: none for 4:3 and 3:4, i.e. 128×96 and 96×128).
pub fn input_size(width: usize, height: usize) -> (usize, usize) {
    let (long, short) = (width.max(height).max(1), width.min(height));
    let short = (short * INPUT)
        .div_ceil(long)
        .div_ceil(GRID_STRIDE)
        .clamp(1, INPUT / GRID_STRIDE)
        * GRID_STRIDE;
    if width >= height {
        (INPUT, short)
    } else {
        (short, INPUT)
    }
}

impl BlazeFace {
    /// The detector from a model file (see [`super::models::FACE_DETECTION`]).
    pub fn from_bytes(model: &[u8]) -> Result<BlazeFace, EngineError> {
        let graph = Graph::from_bytes(model)?;
        let square = SizedNetwork::new(&graph, (INPUT, INPUT))?;
        if square.anchors.len() != ANCHORS {
            return Err(EngineError::ModelShape("BlazeFace short-range"));
        }
        Ok(BlazeFace {
            graph,
            nets: vec![square],
            input: Vec::new(),
            min_score: MIN_SCORE,
        })
    }

    /// Faces in the whole of `image`, resampled into a tensor of its shape ([`input_size`]; the
    /// module docs say why), best first.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Detection>, EngineError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let size = input_size(image.width(), image.height());
        // One scale on both axes: the frame fills the tensor on the long side, centred.
        let scale = (w / size.0 as f32).max(h / size.1 as f32);
        let roi = Roi {
            cx: w / 2.0,
            cy: h / 2.0,
            w: size.0 as f32 * scale,
            h: size.1 as f32 * scale,
            angle: 0.0,
        };
        self.detect_sized(image, &roi, size)
    }

    /// Faces inside the axis-aligned square `roi` of `image` (parts outside the image are black),
    /// in image pixels, best first: the model's own 128×128 input. With a square `roi` around the
    /// whole image this is the letterboxed detection MediaPipe runs.
    pub fn detect_in(
        &mut self,
        image: &RgbImage,
        roi: &Roi,
    ) -> Result<Vec<Detection>, EngineError> {
        self.detect_sized(image, roi, (INPUT, INPUT))
    }

    /// Faces inside the axis-aligned `roi` of `image` resampled into a `size` tensor (`roi` has
    /// the tensor's aspect ratio), in image pixels, best first.
    fn detect_sized(
        &mut self,
        image: &RgbImage,
        roi: &Roi,
        (width, height): (usize, usize),
    ) -> Result<Vec<Detection>, EngineError> {
        if !roi.is_valid() {
            return Ok(Vec::new());
        }
        let min_score = self.min_score;
        let input = &mut self.input;
        input.resize(width * height * 3, 0.0);
        // [-1, 1] input; black outside the image, as MediaPipe's letterbox pads.
        let spec = InputSpec {
            width,
            height,
            scale: 2.0 / 255.0,
            offset: -1.0,
            fill: Some(-1.0),
        };
        sample(image, roi, &spec, input);
        let sized = network_for(&mut self.nets, &self.graph, (width, height))?;
        sized.net.run(input)?;
        let boxes = sized.net.output("regressors")?;
        let scores = sized.net.output("classificators")?;
        let mut found = Vec::new();
        let (scale_x, scale_y) = (roi.w / width as f32, roi.h / height as f32);
        let (left, top) = (roi.cx - roi.w / 2.0, roi.cy - roi.h / 2.0);
        let to_image = |x: f32, y: f32| (left + x * scale_x, top + y * scale_y);
        for (i, (&(ax, ay), &raw)) in sized.anchors.iter().zip(scores).enumerate() {
            let score = 1.0 / (1.0 + (-raw.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
            if score < min_score {
                continue;
            }
            let r = &boxes[i * REGRESSORS..(i + 1) * REGRESSORS];
            // Offsets are in input pixels on both axes, whatever the tensor's shape.
            let (ax, ay) = (ax * width as f32, ay * height as f32);
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

/// The network of `nets` for a `size` tensor, moved to the front; built from `graph` when missing
/// (the least recently used one is dropped beyond [`CACHED_SIZES`]).
fn network_for<'a>(
    nets: &'a mut Vec<SizedNetwork>,
    graph: &Graph,
    size: (usize, usize),
) -> Result<&'a mut SizedNetwork, EngineError> {
    match nets.iter().position(|n| n.size == size) {
        Some(i) => nets[..=i].rotate_right(1),
        None => {
            let built = SizedNetwork::new(graph, size)?;
            nets.truncate(CACHED_SIZES - 1);
            nets.insert(0, built);
        }
    }
    Ok(&mut nets[0])
}

impl SizedNetwork {
    /// The model resized to a `(width, height)` tensor, checked to give one box and one score per
    /// anchor of that size.
    fn new(graph: &Graph, (width, height): (usize, usize)) -> Result<SizedNetwork, EngineError> {
        let wrong = EngineError::ModelShape("BlazeFace short-range");
        let [_, _, channels] = graph.shapes[graph.input];
        if channels != 3 || width % GRID_STRIDE != 0 || height % GRID_STRIDE != 0 {
            return Err(wrong);
        }
        let net = Network::new(&graph.with_input_size(height, width)?)?;
        let anchors = anchors(width, height);
        if net.output("regressors").map(<[f32]>::len).ok() != Some(anchors.len() * REGRESSORS)
            || net.output("classificators").map(<[f32]>::len).ok() != Some(anchors.len())
        {
            return Err(wrong);
        }
        Ok(SizedNetwork {
            size: (width, height),
            net,
            anchors,
        })
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
        let a = anchors(INPUT, INPUT);
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], (1.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[512], (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[895], (7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn anchors_of_a_4_3_tensor_lie_on_its_16_by_12_and_8_by_6_grids() {
        let a = anchors(128, 96);
        assert_eq!(a.len(), 16 * 12 * 2 + 8 * 6 * 6);
        assert_eq!(a[0], (0.5 / 16.0, 0.5 / 12.0));
        assert_eq!(a[2 * 16], (0.5 / 16.0, 1.5 / 12.0));
        assert_eq!(a[16 * 12 * 2 - 1], (15.5 / 16.0, 11.5 / 12.0));
        assert_eq!(a[16 * 12 * 2], (0.5 / 8.0, 0.5 / 6.0));
        assert_eq!(a[16 * 12 * 2 + 6], (1.5 / 8.0, 0.5 / 6.0));
        assert_eq!(*a.last().unwrap(), (7.5 / 8.0, 5.5 / 6.0));
        // Portrait: the transpose.
        let p = anchors(96, 128);
        assert_eq!(p.len(), a.len());
        assert_eq!(p[2], (1.5 / 12.0, 0.5 / 16.0));
    }

    #[test]
    fn whole_frames_get_the_smallest_grid_aligned_tensor_that_holds_them() {
        assert_eq!(input_size(640, 480), (128, 96));
        assert_eq!(input_size(320, 240), (128, 96));
        assert_eq!(input_size(480, 640), (96, 128));
        assert_eq!(input_size(512, 512), (128, 128));
        // 16:9 → 72 px rounded up to 80; very wide frames keep one cell.
        assert_eq!(input_size(1280, 720), (128, 80));
        assert_eq!(input_size(1000, 10), (128, 16));
        // 1666×1136 (the group photo) → 87.3 → 96.
        assert_eq!(input_size(1666, 1136), (128, 96));
    }

    #[test]
    fn the_model_runs_on_every_tensor_size_it_is_given() {
        let mut bf = BlazeFace::from_bytes(super::super::FACE_DETECTION_MODEL).unwrap();
        for size in [(128, 96), (96, 128), (128, 80), (128, 128)] {
            let n = network_for(&mut bf.nets, &bf.graph, size).unwrap();
            assert_eq!(n.net.input_shape(), [size.1, size.0, 3]);
            assert_eq!(n.anchors.len(), anchors(size.0, size.1).len());
        }
        // The cache keeps the most recent sizes.
        assert_eq!(bf.nets.len(), CACHED_SIZES);
        assert_eq!(bf.nets[0].size, (128, 128));
        // A size off the grid is refused.
        assert!(network_for(&mut bf.nets, &bf.graph, (100, 96)).is_err());
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
