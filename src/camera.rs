//! Opening the camera: what we ask for, how each refusal maps to a result code, and the fallback
//! from ideal to looser constraints. The browser implementation lives in `web::camera`; tests use
//! [`MemoryCamera`].

use std::cell::RefCell;
use std::collections::VecDeque;

use faceid_core::ResultCode;

/// Ideal capture width: enough for a 320x240 analysis frame and a 640x480 recording.
pub const IDEAL_WIDTH: u32 = 640;
/// Ideal capture height (4:3, the shape of the oval guide's frame).
pub const IDEAL_HEIGHT: u32 = 480;
/// Ideal frame rate: PROTOCOL.md §5 recommends 25–30 fps for uploads.
pub const IDEAL_FRAME_RATE: f64 = 30.0;
/// localStorage key of the camera the person chose last.
pub const CAMERA_CHOICE_KEY: &str = "faceid-h5.camera";

/// Why the camera could not be opened (the names are those of the DOMException getUserMedia rejects with).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// NotAllowedError / SecurityError: the person or a policy refused.
    #[error("camera permission refused")]
    PermissionDenied,
    /// NotFoundError: no camera (matching the request).
    #[error("no camera found")]
    NotFound,
    /// OverconstrainedError: no camera can satisfy the constraints.
    #[error("no camera satisfies the constraints")]
    Overconstrained,
    /// NotReadableError / AbortError: the camera exists but another app holds it.
    #[error("camera busy or unreadable")]
    Busy,
    /// No `navigator.mediaDevices` or an insecure context: real-time capture is impossible here.
    #[error("camera capture not supported in this context")]
    Unsupported,
    /// Anything else the browser reported.
    #[error("camera failed: {0}")]
    Other(String),
}

impl CameraError {
    /// Maps a DOMException name from getUserMedia.
    pub fn from_dom_name(name: &str) -> CameraError {
        match name {
            "NotAllowedError" | "PermissionDeniedError" | "SecurityError" => {
                CameraError::PermissionDenied
            }
            "NotFoundError" | "DevicesNotFoundError" => CameraError::NotFound,
            "OverconstrainedError" | "ConstraintNotSatisfiedError" => CameraError::Overconstrained,
            "NotReadableError" | "TrackStartError" | "AbortError" => CameraError::Busy,
            "NotSupportedError" | "TypeError" => CameraError::Unsupported,
            other => CameraError::Other(other.to_string()),
        }
    }

    /// The PROTOCOL.md §3 code the person sees.
    pub fn result_code(&self) -> ResultCode {
        match self {
            CameraError::PermissionDenied
            | CameraError::NotFound
            | CameraError::Busy
            | CameraError::Other(_) => ResultCode::NoCameraPermission,
            CameraError::Overconstrained => ResultCode::CannotRecord,
            CameraError::Unsupported => ResultCode::RealtimeUnsupported,
        }
    }

    /// Whether asking again with looser constraints may succeed.
    pub fn worth_loosening(&self) -> bool {
        matches!(self, CameraError::NotFound | CameraError::Overconstrained)
    }
}

/// One getUserMedia request (video only, never audio).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraRequest {
    /// `deviceId: {exact}` of a camera the person chose.
    pub device_id: Option<String>,
    /// `facingMode: "user"` (front camera).
    pub facing_user: bool,
    /// `width/height: {ideal}`.
    pub ideal_size: Option<(u32, u32)>,
    /// `frameRate: {ideal}`.
    pub ideal_frame_rate: Option<f64>,
}

/// The requests tried in order: the chosen camera (if any) at the ideal format, the front camera at
/// the ideal format, the front camera at any format, then any camera.
pub fn request_ladder(chosen_device: Option<&str>) -> Vec<CameraRequest> {
    let ideal = |device_id: Option<String>| CameraRequest {
        facing_user: device_id.is_none(),
        device_id,
        ideal_size: Some((IDEAL_WIDTH, IDEAL_HEIGHT)),
        ideal_frame_rate: Some(IDEAL_FRAME_RATE),
    };
    let mut ladder = Vec::with_capacity(4);
    if let Some(id) = chosen_device.filter(|id| !id.is_empty()) {
        ladder.push(ideal(Some(id.to_string())));
    }
    ladder.push(ideal(None));
    ladder.push(CameraRequest {
        device_id: None,
        facing_user: true,
        ideal_size: None,
        ideal_frame_rate: None,
    });
    ladder.push(CameraRequest {
        device_id: None,
        facing_user: false,
        ideal_size: None,
        ideal_frame_rate: None,
    });
    ladder
}

/// A source of camera streams.
#[allow(async_fn_in_trait)] // used single-threaded in the browser; no Send bound wanted
pub trait Camera {
    type Stream;
    async fn open(&self, request: &CameraRequest) -> Result<Self::Stream, CameraError>;
}

/// Opens a camera, loosening the request while the refusal is one that looser constraints can fix.
pub async fn open_with_fallback<C: Camera>(
    camera: &C,
    chosen_device: Option<&str>,
) -> Result<C::Stream, CameraError> {
    let mut last = CameraError::NotFound;
    for request in request_ladder(chosen_device) {
        match camera.open(&request).await {
            Ok(stream) => return Ok(stream),
            Err(e) if e.worth_loosening() => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// An in-memory camera for tests: answers each request from a script and records what was asked.
#[derive(Debug, Default)]
pub struct MemoryCamera {
    answers: RefCell<VecDeque<Result<(), CameraError>>>,
    requests: RefCell<Vec<CameraRequest>>,
}

impl MemoryCamera {
    /// A camera that answers requests with `answers` in order (and NotFound once they run out).
    pub fn scripted(answers: impl IntoIterator<Item = Result<(), CameraError>>) -> Self {
        MemoryCamera {
            answers: RefCell::new(answers.into_iter().collect()),
            requests: RefCell::default(),
        }
    }

    pub fn requests(&self) -> Vec<CameraRequest> {
        self.requests.borrow().clone()
    }
}

impl Camera for MemoryCamera {
    type Stream = ();

    async fn open(&self, request: &CameraRequest) -> Result<(), CameraError> {
        self.requests.borrow_mut().push(request.clone());
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or(Err(CameraError::NotFound))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn dom_names_map_to_codes() {
        assert_eq!(
            CameraError::from_dom_name("NotAllowedError").result_code(),
            ResultCode::NoCameraPermission
        );
        assert_eq!(
            CameraError::from_dom_name("NotReadableError"),
            CameraError::Busy
        );
        assert_eq!(
            CameraError::from_dom_name("OverconstrainedError").result_code(),
            ResultCode::CannotRecord
        );
        assert_eq!(
            CameraError::from_dom_name("NotFoundError").result_code(),
            ResultCode::NoCameraPermission
        );
        assert_eq!(
            CameraError::Unsupported.result_code(),
            ResultCode::RealtimeUnsupported
        );
        assert_eq!(
            CameraError::from_dom_name("Weird"),
            CameraError::Other("Weird".into())
        );
    }

    #[test]
    fn loosens_on_overconstrained_and_stops_on_denial() {
        let cam = MemoryCamera::scripted([Err(CameraError::Overconstrained), Ok(())]);
        assert_eq!(pollster::block_on(open_with_fallback(&cam, None)), Ok(()));
        let asked = cam.requests();
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[0].ideal_size, Some((IDEAL_WIDTH, IDEAL_HEIGHT)));
        assert_eq!(asked[1].ideal_size, None);
        assert!(asked[1].facing_user);

        let cam = MemoryCamera::scripted([Err(CameraError::PermissionDenied), Ok(())]);
        assert_eq!(
            pollster::block_on(open_with_fallback(&cam, None)),
            Err(CameraError::PermissionDenied)
        );
        assert_eq!(cam.requests().len(), 1);

        let cam = MemoryCamera::scripted([]);
        assert_eq!(
            pollster::block_on(open_with_fallback(&cam, Some("cam-2"))),
            Err(CameraError::NotFound)
        );
        let asked = cam.requests();
        assert_eq!(asked.len(), 4);
        assert_eq!(asked[0].device_id.as_deref(), Some("cam-2"));
        assert!(!asked[0].facing_user);
        assert!(asked[1..].iter().all(|r| r.device_id.is_none()));
    }
}
