//! The replay attack's camera: a y4m recording, made with ffmpeg from `faceid_core::sim`, of a real
//! face lit by a colour sequence other than the one the server will issue. Chrome plays it in a loop
//! as its fake camera (`--use-file-for-fake-video-capture`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use faceid_core::challenge::ColourChallenge;
use faceid_core::sim::{Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::process::ChildGuard;
use crate::{HarnessError, Result};

/// The recording's frame size: what the page asks a camera for.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// A file has a fixed frame rate (no jitter, no drops); 30 fps like a phone camera.
pub const FPS: u32 = 30;
/// The recorded session's neutral hold: long enough that the page's guidance sees a steady, evenly
/// lit face before the recorded flashes start (the file loops).
pub const HOLD_MS: u32 = 2500;
/// ffmpeg converts a few seconds of 640x480 frames in well under this.
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(60);

/// What was recorded.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The challenge whose colours lit the face in the recording.
    pub challenge: ColourChallenge,
    pub frames: usize,
}

/// Renders a genuine session of `photo_png` (the astronaut) for a freshly drawn challenge and writes
/// it to `path` as y4m (yuv420p) through ffmpeg.
pub fn write_y4m(photo_png: &[u8], path: &Path, seed: u64) -> Result<Recording> {
    let photo = Photo::from_png(photo_png)?.with_face(ASTRONAUT_FACE);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut challenge = ColourChallenge::generate(&mut rng);
    challenge.hold_ms = HOLD_MS;
    let conditions = SimConditions {
        face_width: [0.32, 0.36],
        ..SimConditions::steady()
    }
    .fixed_rate(f64::from(FPS))
    .with_size(WIDTH, HEIGHT);
    let mut session = SimSession::new(&photo, &challenge, conditions, Attack::None, seed);

    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgba",
        ])
        .args([
            "-s",
            &format!("{WIDTH}x{HEIGHT}"),
            "-framerate",
            &FPS.to_string(),
            "-i",
            "-",
        ])
        .args(["-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-y"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut ffmpeg = ChildGuard::spawn(command)?;
    let mut stdin = ffmpeg.take_stdin().ok_or_else(|| HarnessError::Tool {
        program: "ffmpeg".into(),
        detail: "no stdin".into(),
    })?;
    let mut rgba = Vec::new();
    let mut frames = 0;
    while session.render_next(&mut rgba).is_some() {
        stdin.write_all(&rgba).map_err(|e| HarnessError::Tool {
            program: "ffmpeg".into(),
            detail: format!("writing frames: {e}"),
        })?;
        frames += 1;
    }
    drop(stdin);
    if !ffmpeg.wait_bounded(FFMPEG_TIMEOUT)? {
        return Err(HarnessError::Tool {
            program: "ffmpeg".into(),
            detail: format!("could not write {}", path.display()),
        });
    }
    Ok(Recording { challenge, frames })
}
