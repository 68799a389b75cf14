//! The synthetic person: an init script that replaces `getUserMedia` with a canvas stream showing a
//! real face photo lit by the colour the page is showing (read from the page a little earlier, with
//! noise), following the reflection model of `faceid_core::sim`.

use base64::Engine;
use serde::Serialize;

use faceid_core::sim::ASTRONAUT_FACE;

const SCRIPT: &str = include_str!("person.js");
const PLACEHOLDER: &str = "__PERSON_CONFIG__";

/// The face box of the photo, normalised to the photo.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PhotoFace {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// How the person looks to the camera and how the screen lights them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The photo as a `data:` URL: the page's Content-Security-Policy allows `img-src data:`, and
    /// a data URL never taints the canvas.
    pub photo_url: String,
    /// The face in the photo.
    pub face: PhotoFace,
    /// Camera frame size and rate: 640x480 at 30 fps, what the page asks for.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Face width as a fraction of the frame width, and the face centre (fractions of the frame).
    pub face_width: f32,
    pub face_centre: [f32; 2],
    /// Screen-to-camera delay: panel latency plus a camera pipeline (LIVENESS.md: 49–68 ms median
    /// panel latency, one to three camera frames), so ~80 ms.
    pub delay_ms: f64,
    /// Ambient light per channel (slightly warm room light).
    pub ambient: [f32; 3],
    /// The screen's light on a face patch facing it as a share of the room's light (k, white
    /// screen), and on the background. 0.25 is a dim room (issue #9: 0.05–0.15 in common rooms,
    /// up to ~0.6 in dim ones); the end-to-end flow must pass reliably, faceid-eval measures the
    /// decision over the whole range.
    pub face_gain: f32,
    pub background_gain: f32,
    /// Whether the face is a live head (its response follows a head's shape: the screen lights the
    /// parts turned toward it more, the room those turned toward the ceiling, and the room's light
    /// relights the photo, so the screen's added light follows the screen's light alone — the model
    /// of `faceid_core::sim::scene`) or flat paper (the same response everywhere on the sheet).
    pub relief: bool,
    /// Face luminance under the white screen (linear), mid-range for a webcam.
    pub target_level: f32,
    /// Sensor noise, standard deviation in 8-bit levels.
    pub noise_levels: f32,
    /// Where the page shows its flash colour: an element (the page's overlay canvas), an attribute
    /// that may hold `#rrggbb`, and the class that hides it between challenges. Without the
    /// attribute, a canvas's painted corner pixel is read (else the computed background colour).
    pub flash_selector: String,
    pub flash_attribute: String,
    pub hidden_class: String,
    /// The colour assumed when the page shows nothing readable.
    pub page_colour: [u8; 3],
}

impl Person {
    /// The astronaut (shared/data/faces/astronaut.png) at a phone's arm's length, face filling
    /// about a third of the frame width (inside the page's oval guide).
    pub fn astronaut(photo_url: String) -> Person {
        Person {
            photo_url,
            face: PhotoFace {
                x: ASTRONAUT_FACE.x,
                y: ASTRONAUT_FACE.y,
                w: ASTRONAUT_FACE.w,
                h: ASTRONAUT_FACE.h,
            },
            width: 640,
            height: 480,
            fps: 30,
            face_width: 0.34,
            face_centre: [0.5, 0.47],
            delay_ms: 80.0,
            ambient: [1.05, 1.0, 0.95],
            face_gain: 0.25,
            background_gain: 0.01,
            relief: true,
            target_level: 0.22,
            noise_levels: 2.0,
            flash_selector: "canvas.fid-flash".into(),
            flash_attribute: "data-colour".into(),
            hidden_class: "fid-hidden".into(),
            page_colour: [255, 255, 255],
        }
    }

    /// The same photo printed on paper and held up to the camera: face and background are one flat
    /// sheet at one distance from the screen, so both respond to it equally (LIVENESS.md: a print
    /// responds uniformly).
    pub fn as_flat_print(mut self) -> Person {
        self.background_gain = self.face_gain;
        self.relief = false;
        self
    }

    /// The astronaut from `shared/data/faces/`.
    pub fn astronaut_from_shared() -> crate::Result<Person> {
        let png = crate::read_file(&crate::astronaut_png())?;
        Ok(Person::astronaut(photo_data_url(&png)))
    }

    /// The init script for this person.
    pub fn script(&self) -> crate::Result<String> {
        let config = serde_json::to_string(self)?;
        Ok(SCRIPT.replacen(PLACEHOLDER, &config, 1))
    }
}

/// A PNG as a `data:` URL.
pub fn photo_data_url(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}
