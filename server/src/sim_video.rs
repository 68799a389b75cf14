//! Simulated recordings as real video files: faceid-core's camera simulator rendered frame by
//! frame into ffmpeg (WebM/VP8 or MP4/H.264), as a phone's MediaRecorder would deliver them.
//! Used by the server's tests, the verification load benchmark and the end-to-end tests.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use faceid_core::challenge::{ColourChallenge, DisplayedColour};
use faceid_core::sim::{Attack, Photo, SimConditions, SimSession};

use crate::verify::MediaTools;

/// Container and codec of a simulated recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoFormat {
    /// WebM with VP8 (Chrome and Firefox MediaRecorder).
    Webm,
    /// MP4 with H.264 (Safari MediaRecorder).
    Mp4,
}

impl VideoFormat {
    pub fn extension(self) -> &'static str {
        match self {
            VideoFormat::Webm => "webm",
            VideoFormat::Mp4 => "mp4",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            VideoFormat::Webm => "video/webm;codecs=vp8",
            VideoFormat::Mp4 => "video/mp4;codecs=avc1",
        }
    }

    /// ffmpeg's output arguments for this format: a fast encoder, 4:2:0 as recorders deliver
    /// (the bitrate comes separately). VP8's speed is fixed (a negative `cpu-used`, as Chrome's
    /// recorder sets it): libvpx's realtime mode with a positive one picks the speed from how
    /// long the last frames took to encode, so one seed encoded differently from run to run and
    /// the evaluation was not reproducible.
    pub fn encoder_args(self) -> &'static [&'static str] {
        match self {
            VideoFormat::Webm => &[
                "-c:v",
                "libvpx",
                "-pix_fmt",
                "yuv420p",
                "-deadline",
                "realtime",
                "-cpu-used",
                "-6",
            ],
            VideoFormat::Mp4 => &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ],
        }
    }
}

/// A rendered recording and the display timeline the page would report with it.
#[derive(Clone, Debug)]
pub struct SimRecording {
    pub video: Vec<u8>,
    pub shown: Vec<DisplayedColour>,
    pub hold_start_ms: f64,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SimVideoError {
    #[error("cannot run ffmpeg: {0}")]
    Io(#[from] std::io::Error),
    #[error("ffmpeg failed to encode: {0}")]
    Encode(String),
}

/// How simulated sessions are encoded.
#[derive(Clone, Debug)]
pub struct SimEncoder {
    pub tools: MediaTools,
    pub format: VideoFormat,
    /// Target bitrate (MediaRecorder's usual is about 1 Mbit/s).
    pub bitrate_kbps: u32,
}

impl SimEncoder {
    pub fn new(format: VideoFormat, bitrate_kbps: u32) -> SimEncoder {
        SimEncoder {
            tools: MediaTools::default(),
            format,
            bitrate_kbps,
        }
    }

    /// See [`record`].
    pub fn record(
        &self,
        photo: &Photo,
        challenge: &ColourChallenge,
        conditions: SimConditions,
        attack: Attack,
        seed: u64,
    ) -> Result<SimRecording, SimVideoError> {
        record(self, photo, challenge, conditions, attack, seed)
    }
}

/// Renders a session of `challenge` into a constant-frame-rate video at the session's frame rate:
/// every output frame shows the latest simulated frame captured at or before its time, so dropped
/// and jittered camera frames keep their place on the recording clock.
pub fn record(
    encoder: &SimEncoder,
    photo: &Photo,
    challenge: &ColourChallenge,
    conditions: SimConditions,
    attack: Attack,
    seed: u64,
) -> Result<SimRecording, SimVideoError> {
    encoder.encode(SimSession::new(photo, challenge, conditions, attack, seed))
}

impl SimEncoder {
    /// Encodes a prepared session (see [`record`]).
    pub fn encode(&self, mut session: SimSession) -> Result<SimRecording, SimVideoError> {
        encode_session(self, &mut session)
    }
}

fn encode_session(
    encoder: &SimEncoder,
    session: &mut SimSession,
) -> Result<SimRecording, SimVideoError> {
    let (tools, format, bitrate_kbps) = (&encoder.tools, encoder.format, encoder.bitrate_kbps);
    let (width, height) = (session.conditions().width, session.conditions().height);
    let fps = session.frame_rate();
    let shown = session.shown().to_vec();
    let hold_start_ms = shown.first().map_or(0.0, |d| d.start_ms);
    let out: PathBuf = std::env::temp_dir().join(format!(
        "faceid-sim-{}.{}",
        uuid::Uuid::new_v4().simple(),
        format.extension()
    ));
    let size = format!("{width}x{height}");
    let rate = format!("{fps:.3}");
    let bitrate = format!("{bitrate_kbps}k");
    let mut cmd = Command::new(&tools.ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgba",
    ])
    .args(["-s", &size, "-framerate", &rate, "-i", "pipe:0", "-an"]);
    cmd.args(format.encoder_args()).args(["-b:v", &bitrate]);
    // No date or encoder version in the container: the same session makes the same bytes.
    cmd.args(["-fflags", "+bitexact"]);
    cmd.arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let write_result = (|| -> std::io::Result<()> {
        let Some(mut stdin) = child.stdin.take() else {
            return Err(std::io::Error::other("ffmpeg stdin missing"));
        };
        let period = 1000.0 / fps;
        let mut latest: Vec<u8> = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_t = session.render_next(&mut pending).map(|(t, _)| t);
        let mut k: u64 = 0;
        loop {
            let slot = k as f64 * period;
            while pending_t.is_some_and(|t| t <= slot) {
                std::mem::swap(&mut latest, &mut pending);
                pending_t = session.render_next(&mut pending).map(|(t, _)| t);
            }
            // Before the first capture the first frame stands in.
            let frame = if latest.is_empty() { &pending } else { &latest };
            if frame.is_empty() {
                break;
            }
            stdin.write_all(frame)?;
            if pending_t.is_none() {
                // No capture is left: this slot showed the last one.
                break;
            }
            k += 1;
        }
        Ok(())
    })();
    let status = child.wait()?;
    let log = err_thread.join().unwrap_or_default();
    if !status.success() {
        let _ = std::fs::remove_file(&out);
        return Err(SimVideoError::Encode(log));
    }
    write_result?;
    let video = std::fs::read(&out)?;
    let _ = std::fs::remove_file(&out);
    Ok(SimRecording {
        video,
        shown,
        hold_start_ms,
        width,
        height,
    })
}
