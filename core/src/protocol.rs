//! H5 API wire types (PROTOCOL.md §2), shared by the page and the server. JSON, camelCase.

use serde::{Deserialize, Serialize};

use crate::challenge::{ColourChallenge, DisplayedColour};
use crate::codes::{Locale, ResultCode};

/// Path prefix of the H5 API.
pub const H5_API_PREFIX: &str = "/api/h5/v1";
/// Where the server hosts the landmark model (FaceMesh, `core/models/face_landmark.fnn`) for the
/// page: the same bytes its own verifier embeds, so page and server find and place the face alike.
pub const LANDMARK_MODEL_PATH: &str = "/h5/models/face_landmark.fnn";
/// PROTOCOL.md §2 / §5: an upload (video and report together) may not exceed 8 MB.
pub const MAX_UPLOAD_BYTES: u64 = 8 * 1024 * 1024;
/// PROTOCOL.md §2: an attempt expires if no video arrives within 60 s of its creation.
pub const ATTEMPT_TTL_MS: u64 = 60_000;

/// Liveness modes (Text.LivenessMode digits of PROTOCOL.md §1; 6 = light, our addition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LivenessMode {
    /// Read four digits aloud (FaceID mode 1).
    Digit,
    /// Open mouth / blink actions (mode 2).
    Action,
    /// Silent liveness (mode 3).
    Silent,
    /// Screen flash (mode 4).
    Flash,
    /// Near-far (mode 5).
    NearFar,
    /// The light challenge: a server-issued colour sequence (mode 6).
    Light,
}

impl LivenessMode {
    /// The LivenessMode digit of GetDetectInfoEnhanced.
    pub fn digit(self) -> u8 {
        match self {
            LivenessMode::Digit => 1,
            LivenessMode::Action => 2,
            LivenessMode::Silent => 3,
            LivenessMode::Flash => 4,
            LivenessMode::NearFar => 5,
            LivenessMode::Light => 6,
        }
    }
}

/// `GET /api/h5/v1/session?token=…`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub mode: LivenessMode,
    pub locale: Locale,
    pub retries_left: u32,
    /// When the BizToken expires, ms since the Unix epoch.
    pub expires_at: i64,
    pub max_video_bytes: u64,
    /// The business's RedirectUrl as given to DetectAuth (without our parameters), if any.
    pub redirect_url: Option<String>,
    /// The business's Extra, passed through to the redirect.
    #[serde(default)]
    pub extra: Option<String>,
}

/// `POST /api/h5/v1/attempts`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRequest {
    pub token: String,
}

/// Answer to `POST /api/h5/v1/attempts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptCreated {
    pub attempt_id: String,
    pub challenge: ColourChallenge,
    /// When this attempt expires if no video arrives, ms since the Unix epoch.
    pub expires_at: i64,
}

/// The page's own reading of the challenge (advisory: the server decodes the video itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDecode {
    pub code: ResultCode,
    pub score: f32,
    pub delay_ms: f32,
}

/// The `report` part of the video upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadReport {
    /// The colours as actually shown, with start times in ms from the recorder's start.
    pub shown: Vec<DisplayedColour>,
    /// When the flash phase (the hold) began on the recording's clock.
    #[serde(default)]
    pub hold_start_ms: Option<f64>,
    pub recorder_mime: String,
    pub frame_width: u32,
    pub frame_height: u32,
    #[serde(default)]
    pub page_decode: Option<PageDecode>,
    #[serde(default)]
    pub user_agent: String,
}

/// Answer to the video upload (also returned again, unchanged, for a repeated upload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadAnswer {
    pub err_code: ResultCode,
    pub err_msg: String,
    pub passed: bool,
    pub retries_left: u32,
    /// The full redirect target (RedirectUrl with token, BizToken, Extra), if the business gave one.
    pub redirect_url: Option<String>,
}

/// Every H5 API error body: `{"errCode": …, "errMsg": "…"}` with a matching HTTP status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct H5Error {
    pub err_code: ResultCode,
    pub err_msg: String,
}

impl H5Error {
    pub fn new(code: ResultCode, locale: Locale) -> Self {
        H5Error {
            err_code: code,
            err_msg: code.message(locale).to_string(),
        }
    }
}

/// The message a framed page posts to its parent when the flow ends (see the page's `mount`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentMessage {
    /// Always `"faceid-h5"`, so a host page can tell our messages from others.
    pub source: String,
    /// `"result"` or `"error"`.
    pub kind: String,
    pub biz_token: String,
    pub err_code: ResultCode,
    pub err_msg: String,
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::ColourStep;
    use crate::colour::Rgb8;

    #[test]
    fn wire_shapes_are_camel_case() {
        let s = SessionInfo {
            mode: LivenessMode::Light,
            locale: Locale::En,
            retries_left: 3,
            expires_at: 1_700_000_000_000,
            max_video_bytes: MAX_UPLOAD_BYTES,
            redirect_url: Some("https://b/x".into()),
            extra: None,
        };
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["mode"], "light");
        assert_eq!(j["locale"], "en");
        assert_eq!(j["retriesLeft"], 3);
        assert_eq!(j["maxVideoBytes"], 8_388_608);
        assert_eq!(serde_json::from_value::<SessionInfo>(j).unwrap(), s);

        let a = AttemptCreated {
            attempt_id: "A1".into(),
            challenge: ColourChallenge {
                hold_colour: Rgb8::new(200, 200, 200),
                hold_ms: 1000,
                steps: vec![ColourStep {
                    colour: Rgb8::new(0, 0, 255),
                    duration_ms: 375,
                }],
            },
            expires_at: 1,
        };
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j["challenge"]["steps"][0]["colour"], "#0000ff");
        assert_eq!(j["challenge"]["steps"][0]["durationMs"], 375);
        assert_eq!(j["challenge"]["holdColour"], "#c8c8c8");

        let e: H5Error = serde_json::from_str(r#"{"errCode":1107,"errMsg":"x"}"#).unwrap();
        assert_eq!(e.err_code, ResultCode::VideoEmptyOrTooLarge);
        assert!(serde_json::from_str::<H5Error>(r#"{"errCode":4242,"errMsg":"x"}"#).is_err());
    }
}
