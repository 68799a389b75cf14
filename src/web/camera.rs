//! The real camera: getUserMedia behind the [`Camera`] trait, a stream handle that stops its
//! tracks when dropped, the camera list, and the remembered choice.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaDeviceInfo, MediaDeviceKind, MediaDevices, MediaStream, MediaStreamTrack};

use crate::camera::{Camera, CameraError, CameraRequest, CAMERA_CHOICE_KEY};
use crate::state::CameraChoice;

/// Maps whatever getUserMedia rejected with (normally a DOMException) to a [`CameraError`].
pub fn camera_error_from_js(error: &JsValue) -> CameraError {
    match Reflect::get(error, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
    {
        Some(name) => CameraError::from_dom_name(&name),
        None => CameraError::Other(super::describe(error)),
    }
}

/// `navigator.mediaDevices`, or [`CameraError::Unsupported`] when capture is impossible here
/// (no API, or an insecure context where browsers hide it).
pub fn media_devices() -> Result<MediaDevices, CameraError> {
    let window = web_sys::window().ok_or(CameraError::Unsupported)?;
    let secure = Reflect::get(&window, &"isSecureContext".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    if !secure {
        return Err(CameraError::Unsupported);
    }
    let devices = Reflect::get(&window.navigator(), &"mediaDevices".into())
        .map_err(|_| CameraError::Unsupported)?;
    if devices.is_undefined() || devices.is_null() {
        return Err(CameraError::Unsupported);
    }
    let get_user_media =
        Reflect::get(&devices, &"getUserMedia".into()).map_err(|_| CameraError::Unsupported)?;
    if !get_user_media.is_function() {
        return Err(CameraError::Unsupported);
    }
    Ok(devices.unchecked_into())
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property on a plain object we just created cannot throw.
    let _ = Reflect::set(target, &key.into(), value);
}

fn ideal(value: f64) -> Object {
    let o = Object::new();
    set(&o, "ideal", &value.into());
    o
}

/// The MediaStreamConstraints object for one request: video only, never audio.
pub fn constraints(request: &CameraRequest) -> Object {
    let video = Object::new();
    if let Some(id) = &request.device_id {
        let exact = Object::new();
        set(&exact, "exact", &id.into());
        set(&video, "deviceId", &exact);
    }
    if request.facing_user {
        set(&video, "facingMode", &"user".into());
    }
    if let Some((w, h)) = request.ideal_size {
        set(&video, "width", &ideal(f64::from(w)));
        set(&video, "height", &ideal(f64::from(h)));
    }
    if let Some(fps) = request.ideal_frame_rate {
        set(&video, "frameRate", &ideal(fps));
    }
    let all = Object::new();
    let video_value: JsValue = if Object::keys(&video).length() == 0 {
        JsValue::TRUE
    } else {
        video.into()
    };
    set(&all, "video", &video_value);
    set(&all, "audio", &JsValue::FALSE);
    all
}

/// An open camera stream; its tracks stop when this is dropped.
#[derive(Debug)]
pub struct CameraStream {
    stream: MediaStream,
}

impl CameraStream {
    /// Takes ownership of `stream`: its tracks stop when the handle is dropped.
    pub fn new(stream: MediaStream) -> CameraStream {
        CameraStream { stream }
    }

    pub fn media_stream(&self) -> &MediaStream {
        &self.stream
    }

    /// The first video track.
    pub fn video_track(&self) -> Option<MediaStreamTrack> {
        self.stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .ok()
    }

    /// The device id of the camera actually delivering frames.
    pub fn device_id(&self) -> Option<String> {
        self.video_track()
            .and_then(|t| t.get_settings().get_device_id())
    }
}

/// Stops every track of `stream` (the camera light goes off).
pub fn stop_tracks(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            track.stop();
        }
    }
}

impl Drop for CameraStream {
    fn drop(&mut self) {
        stop_tracks(&self.stream);
    }
}

/// getUserMedia.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebCamera;

impl Camera for WebCamera {
    type Stream = CameraStream;

    async fn open(&self, request: &CameraRequest) -> Result<CameraStream, CameraError> {
        let devices = media_devices()?;
        let get_user_media: js_sys::Function = Reflect::get(&devices, &"getUserMedia".into())
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or(CameraError::Unsupported)?;
        let promise: js_sys::Promise = get_user_media
            .call1(&devices, &constraints(request))
            .map_err(|e| camera_error_from_js(&e))?
            .dyn_into()
            .map_err(|_| CameraError::Unsupported)?;
        let stream = JsFuture::from(promise)
            .await
            .map_err(|e| camera_error_from_js(&e))?;
        let stream: MediaStream = stream
            .dyn_into()
            .map_err(|_| CameraError::Other("not a MediaStream".into()))?;
        Ok(CameraStream { stream })
    }
}

/// The video inputs the browser lists (labels are only filled in once permission is granted).
pub async fn list_cameras() -> Vec<CameraChoice> {
    let Ok(devices) = media_devices() else {
        return Vec::new();
    };
    let Ok(promise) = devices.enumerate_devices() else {
        return Vec::new();
    };
    let Ok(list) = JsFuture::from(promise).await else {
        return Vec::new();
    };
    let list: js_sys::Array = list.unchecked_into();
    list.iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
        .filter(|d| d.kind() == MediaDeviceKind::Videoinput && !d.device_id().is_empty())
        .map(|d| CameraChoice {
            device_id: d.device_id(),
            label: d.label(),
        })
        .collect()
}

fn local_storage() -> Option<web_sys::Storage> {
    // localStorage throws in some private modes and sandboxed frames: then nothing is remembered.
    web_sys::window()?.local_storage().ok().flatten()
}

/// The camera chosen last time, if remembered.
pub fn stored_camera() -> Option<String> {
    local_storage()?
        .get_item(CAMERA_CHOICE_KEY)
        .ok()
        .flatten()
        .filter(|id| !id.is_empty())
}

/// Remembers the chosen camera (best effort).
pub fn store_camera(device_id: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(CAMERA_CHOICE_KEY, device_id);
    }
}
