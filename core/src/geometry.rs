//! Face boxes in normalised frame coordinates (0..1 of width and height), so the page, the
//! server and the simulator agree whatever resolution each one analyses at.

#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FaceBox {
    /// Left edge, 0..1 of the frame width.
    pub x: f32,
    /// Top edge, 0..1 of the frame height.
    pub y: f32,
    /// Width, 0..1 of the frame width.
    pub w: f32,
    /// Height, 0..1 of the frame height.
    pub h: f32,
    /// Detector confidence (detector-specific scale; higher is more certain).
    pub score: f32,
}

impl FaceBox {
    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union with another box.
    pub fn iou(&self, o: &FaceBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The same box shrunk about its centre by `factor` (0.6 keeps the central 60 % of each side).
    pub fn shrunk(&self, factor: f32) -> FaceBox {
        let (cx, cy) = self.centre();
        let (w, h) = (self.w * factor, self.h * factor);
        FaceBox {
            x: cx - w / 2.0,
            y: cy - h / 2.0,
            w,
            h,
            score: self.score,
        }
    }

    /// Whether every coordinate is finite and the box has positive size.
    pub fn is_valid(&self) -> bool {
        [self.x, self.y, self.w, self.h]
            .iter()
            .all(|v| v.is_finite())
            && self.w > 0.0
            && self.h > 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_and_shrink() {
        let a = FaceBox {
            x: 0.0,
            y: 0.0,
            w: 0.5,
            h: 0.5,
            score: 1.0,
        };
        let b = FaceBox {
            x: 0.25,
            y: 0.25,
            w: 0.5,
            h: 0.5,
            score: 1.0,
        };
        assert!((a.iou(&b) - 0.0625 / 0.4375).abs() < 1e-6);
        assert_eq!(a.iou(&FaceBox { x: 0.6, ..a }), 0.0);
        let s = a.shrunk(0.5);
        assert_eq!(s.centre(), a.centre());
        assert!((s.w - 0.25).abs() < 1e-6);
    }
}
