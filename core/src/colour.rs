//! Colours: 8-bit sRGB as shown on a screen, and linear-light RGB as measured on a face.
//!
//! LIVENESS.md: "Work in linear light: undo the sRGB curve before averaging."

/// An 8-bit sRGB colour, as drawn on the screen. On the wire: `"#rrggbb"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rgb8 {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb8 {
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb8 { r, g, b }
    }

    /// `#rrggbb`, lower case: usable directly as a CSS colour.
    pub fn to_hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// Parses `#rrggbb` (case-insensitive). Anything else is None.
    pub fn from_hex(s: &str) -> Option<Rgb8> {
        let h = s.strip_prefix('#')?;
        if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Rgb8::new(byte(0)?, byte(2)?, byte(4)?))
    }

    /// The colour in linear light, each channel in 0..=1.
    pub fn to_linear(self) -> LinearRgb {
        LinearRgb {
            r: srgb_to_linear(self.r),
            g: srgb_to_linear(self.g),
            b: srgb_to_linear(self.b),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Rgb8 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Rgb8 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        Rgb8::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a #rrggbb colour: {s:?}")))
    }
}

/// Linear-light RGB, each channel nominally in 0..=1 (means of linearised pixels).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LinearRgb {
    pub r: f32,
    pub g: f32,
    pub b: f32,
}

impl LinearRgb {
    pub const fn new(r: f32, g: f32, b: f32) -> Self {
        LinearRgb { r, g, b }
    }

    /// Mean of the three channels: a brightness that ignores the eye's weighting on purpose,
    /// so that normalising by it treats the camera's channels alike.
    pub fn mean(self) -> f32 {
        (self.r + self.g + self.b) / 3.0
    }

    /// Relative luminance (Rec. 709 / sRGB primaries).
    pub fn luminance(self) -> f32 {
        0.2126 * self.r + 0.7152 * self.g + 0.0722 * self.b
    }

    pub fn to_array(self) -> [f32; 3] {
        [self.r, self.g, self.b]
    }

    pub fn from_array(a: [f32; 3]) -> Self {
        LinearRgb::new(a[0], a[1], a[2])
    }

    pub fn is_finite(self) -> bool {
        self.r.is_finite() && self.g.is_finite() && self.b.is_finite()
    }

    /// Back to 8-bit sRGB (clamped).
    pub fn to_srgb8(self) -> Rgb8 {
        Rgb8::new(
            linear_to_srgb(self.r),
            linear_to_srgb(self.g),
            linear_to_srgb(self.b),
        )
    }
}

/// sRGB transfer function inverse for one 8-bit channel (IEC 61966-2-1).
pub fn srgb_to_linear(v: u8) -> f32 {
    SRGB_TO_LINEAR[v as usize]
}

/// sRGB transfer function for one linear channel, clamped to 0..=255.
pub fn linear_to_srgb(v: f32) -> u8 {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0).round().clamp(0.0, 255.0) as u8
}

/// The 256-entry sRGB → linear table, so the per-pixel hot path is one load.
pub static SRGB_TO_LINEAR: [f32; 256] = build_srgb_table();

const fn build_srgb_table() -> [f32; 256] {
    // const fn cannot call powf: x^2.4 = x^2 * (x^2)^(1/5), the fifth root by Newton's method.
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as f64 / 255.0;
        t[i] = if c <= 0.040_45 {
            (c / 12.92) as f32
        } else {
            let x = (c + 0.055) / 1.055;
            (x * x * fifth_root(x * x)) as f32
        };
        i += 1;
    }
    t
}

/// y = a^(1/5) for a in (0, 1], by Newton's method (const-evaluable).
const fn fifth_root(a: f64) -> f64 {
    let mut y = 1.0;
    let mut k = 0;
    while k < 60 {
        let y4 = y * y * y * y;
        y -= (y * y4 - a) / (5.0 * y4);
        k += 1;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_srgb_curve() {
        for v in 0..=255u8 {
            let c = v as f64 / 255.0;
            let exact = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
            assert!((srgb_to_linear(v) as f64 - exact).abs() < 1e-6, "{v}");
            assert_eq!(linear_to_srgb(srgb_to_linear(v)), v);
        }
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let c = Rgb8::new(0x12, 0xab, 0xff);
        assert_eq!(c.to_hex(), "#12abff");
        assert_eq!(Rgb8::from_hex("#12ABFF"), Some(c));
        for bad in ["12abff", "#12abf", "#12abfg", "", "#", "#12abff0", "#ééé"] {
            assert_eq!(Rgb8::from_hex(bad), None, "{bad}");
        }
    }
}
