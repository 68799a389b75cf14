//! ffmpeg/ffprobe as child processes (argument lists, never a shell), each inside a deadline:
//! the process is killed when the deadline passes.
//!
//! Decoding streams raw RGBA frames at analysis size from ffmpeg's stdout into one reused buffer,
//! and reads each frame's presentation time from the `showinfo` filter's log on stderr (showinfo
//! logs a frame before the frame reaches the raw-video muxer, so frame *i*'s time is always
//! available once frame *i*'s bytes have been read).

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a short child process is polled for exit while its deadline runs.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Lines of ffmpeg's own error output kept for the log when a video cannot be decoded.
const STDERR_TAIL_LINES: usize = 8;
/// A frame whose time is missing from showinfo's log (NOPTS) is placed one 30 fps interval after
/// the previous one: recorders deliver 25–30 fps (PROTOCOL.md §5).
const FALLBACK_FRAME_INTERVAL_MS: f64 = 1000.0 / 30.0;

/// The external tools.
#[derive(Clone, Debug)]
pub struct MediaTools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for MediaTools {
    fn default() -> Self {
        MediaTools { ffmpeg: PathBuf::from("ffmpeg"), ffprobe: PathBuf::from("ffprobe") }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot start {tool}: {source}")]
    Spawn { tool: String, source: std::io::Error },
    #[error("the decoder did not finish within its time limit")]
    Timeout,
    #[error("the video cannot be decoded: {0}")]
    Undecodable(String),
    #[error("reading the decoder's output: {0}")]
    Io(#[from] std::io::Error),
}

/// The first video stream's display size (rotation applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
}

fn spawn(cmd: &mut Command, tool: &Path) -> Result<Child, DecodeError> {
    cmd.stdin(Stdio::null())
        .spawn()
        .map_err(|source| DecodeError::Spawn { tool: tool.display().to_string(), source })
}

/// Kills the child when `deadline` passes unless told first (a send or drop on the returned sender).
struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, deadline: Instant) -> Watchdog {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            let wait = deadline.saturating_duration_since(Instant::now());
            if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                flag.store(true, Ordering::SeqCst);
                if let Ok(mut c) = child.lock() {
                    let _ = c.kill();
                }
            }
        });
        Watchdog { stop: Some(stop), fired, thread: Some(thread) }
    }

    /// Stops the watchdog; true if it had already fired.
    fn finish(mut self) -> bool {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}

/// Reads a child's stream to the end on its own thread.
fn drain<R: Read + Send + 'static>(stream: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_end(&mut out);
        }
        out
    })
}

/// Probes the first video stream: its display size, with a 90°/270° rotation swapping the sides.
pub fn probe(tools: &MediaTools, path: &Path, deadline: Instant) -> Result<VideoInfo, DecodeError> {
    let mut cmd = Command::new(&tools.ffprobe);
    cmd.args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height:stream_tags=rotate:stream_side_data=rotation")
        .args(["-of", "json"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, &tools.ffprobe)?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DecodeError::Timeout);
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(DecodeError::Undecodable(tail(&String::from_utf8_lossy(&stderr))));
    }
    parse_probe(&stdout)
}

fn parse_probe(json: &[u8]) -> Result<VideoInfo, DecodeError> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| DecodeError::Undecodable(format!("ffprobe output: {e}")))?;
    let stream = v
        .get("streams")
        .and_then(|s| s.get(0))
        .ok_or_else(|| DecodeError::Undecodable("no video stream".into()))?;
    let dim = |k: &str| stream.get(k).and_then(|x| x.as_u64()).and_then(|x| u32::try_from(x).ok()).filter(|&x| x > 0);
    let (Some(w), Some(h)) = (dim("width"), dim("height")) else {
        return Err(DecodeError::Undecodable("video stream without a size".into()));
    };
    let tag_rotation = stream
        .get("tags")
        .and_then(|t| t.get("rotate"))
        .and_then(|r| r.as_str())
        .and_then(|r| r.trim().parse::<i64>().ok());
    let side_rotation = stream
        .get("side_data_list")
        .and_then(|l| l.as_array())
        .and_then(|l| l.iter().find_map(|d| d.get("rotation").and_then(|r| r.as_i64())));
    let rotation = side_rotation.or(tag_rotation).unwrap_or(0).rem_euclid(360);
    if rotation == 90 || rotation == 270 {
        Ok(VideoInfo { width: h, height: w })
    } else {
        Ok(VideoInfo { width: w, height: h })
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join(" | ")
}

/// Parses `pts_time:<seconds>` from a showinfo log line; None for other lines and NOPTS.
pub fn showinfo_pts_ms(line: &str) -> Option<Option<f64>> {
    if !line.contains("Parsed_showinfo") {
        return None;
    }
    let rest = line.split("pts_time:").nth(1)?;
    let value = rest.split_whitespace().next().unwrap_or("");
    Some(value.parse::<f64>().ok().filter(|v| v.is_finite()).map(|s| s * 1000.0))
}

/// What decoding delivered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeSummary {
    pub frames: usize,
    /// Whether the frame callback stopped the decode early.
    pub stopped_early: bool,
}

/// Decodes the first video stream to packed RGBA at exactly `width × height` (the caller keeps the
/// aspect ratio) and calls `on_frame(rgba, t_ms)` for every frame, in order, with its presentation
/// time. The buffer is reused for every frame. `on_frame` may stop the decode early.
pub fn decode_rgba(
    tools: &MediaTools,
    path: &Path,
    width: u32,
    height: u32,
    deadline: Instant,
    on_frame: &mut dyn FnMut(&[u8], f64) -> ControlFlow<()>,
) -> Result<DecodeSummary, DecodeError> {
    let filter = format!("scale={width}:{height}:flags=area,showinfo");
    let mut cmd = Command::new(&tools.ffmpeg);
    // One decoding thread: a verification holds one core (the verification semaphore is sized to
    // the cores), so concurrent verifications do not oversubscribe the machine.
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "info", "-threads", "1", "-filter_threads", "1", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", &filter])
        .args(["-fps_mode", "passthrough", "-pix_fmt", "rgba", "-f", "rawvideo", "pipe:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, &tools.ffmpeg)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let child = Arc::new(Mutex::new(child));
    let watchdog = Watchdog::start(child.clone(), deadline);

    // stderr: frame times to the channel, everything else kept (bounded) for error messages.
    let (pts_tx, pts_rx) = mpsc::channel::<Option<f64>>();
    let log_thread = std::thread::spawn(move || {
        let mut other: Vec<String> = Vec::new();
        if let Some(stderr) = stderr {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match showinfo_pts_ms(&line) {
                    Some(pts) => {
                        let _ = pts_tx.send(pts);
                    }
                    None => {
                        if other.len() >= STDERR_TAIL_LINES * 4 {
                            other.remove(0);
                        }
                        other.push(line);
                    }
                }
            }
        }
        other.join("\n")
    });

    let frame_len = width as usize * height as usize * 4;
    let mut buf = vec![0u8; frame_len];
    let mut frames = 0usize;
    let mut stopped_early = false;
    let mut last_t: Option<f64> = None;
    let mut read_error: Option<std::io::Error> = None;
    if let Some(mut out) = stdout {
        loop {
            match read_frame(&mut out, &mut buf) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let t = match pts_rx.recv_timeout(wait) {
                Ok(Some(t)) => t,
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    last_t.map_or(0.0, |p| p + FALLBACK_FRAME_INTERVAL_MS)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            };
            last_t = Some(t);
            frames += 1;
            if on_frame(&buf, t).is_break() {
                stopped_early = true;
                break;
            }
        }
    }
    if stopped_early || read_error.is_some() {
        if let Ok(mut c) = child.lock() {
            let _ = c.kill();
        }
    }
    let timed_out = watchdog.finish();
    let status = match child.lock() {
        Ok(mut c) => c.wait().ok(),
        Err(_) => None,
    };
    let log = log_thread.join().unwrap_or_default();
    if timed_out {
        return Err(DecodeError::Timeout);
    }
    if let Some(e) = read_error {
        return Err(DecodeError::Io(e));
    }
    let exited_ok = status.is_some_and(|s| s.success());
    if frames == 0 {
        return Err(DecodeError::Undecodable(if exited_ok { "no video frames".into() } else { tail(&log) }));
    }
    Ok(DecodeSummary { frames, stopped_early })
}

/// Fills `buf` with one frame; false at a clean end of stream (or a truncated last frame).
fn read_frame(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn showinfo_lines() {
        let l = "[Parsed_showinfo_1 @ 0x55d] n:   3 pts:    100 pts_time:0.1     duration:33 fmt:rgba";
        assert_eq!(showinfo_pts_ms(l), Some(Some(100.0)));
        assert_eq!(showinfo_pts_ms("[Parsed_showinfo_1 @ 0x1] n: 0 pts: NOPTS pts_time:NOPTS"), Some(None));
        assert_eq!(showinfo_pts_ms("[Parsed_showinfo_1 @ 0x1] config in time_base: 1/1000"), None);
        assert_eq!(showinfo_pts_ms("Input #0, matroska,webm, from 'x':"), None);
    }

    #[test]
    fn probe_rotation_swaps_sides() {
        let j = br#"{"streams":[{"width":640,"height":480,"side_data_list":[{"rotation":-90}]}]}"#;
        assert_eq!(parse_probe(j).unwrap(), VideoInfo { width: 480, height: 640 });
        let j = br#"{"streams":[{"width":640,"height":480,"tags":{"rotate":"180"}}]}"#;
        assert_eq!(parse_probe(j).unwrap(), VideoInfo { width: 640, height: 480 });
        assert!(parse_probe(br#"{"streams":[]}"#).is_err());
        assert!(parse_probe(b"garbage").is_err());
    }
}
