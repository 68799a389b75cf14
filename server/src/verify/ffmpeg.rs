//! ffmpeg as a child process (argument lists, never a shell), each inside a deadline:
//! the process is killed when the deadline passes.
//!
//! Decoding is one ffmpeg process: `showinfo` (the decoded frame: display size, rotation already
//! applied), `scale` into the analysis box keeping the aspect ratio, `showinfo` again (the frame's
//! presentation time and output size), raw RGBA on stdout read into one reused buffer. showinfo
//! logs a frame before the frame reaches the raw-video muxer, so frame *i*'s description is on
//! stderr before its bytes are on stdout: the reader takes the description first, then exactly
//! that many bytes. No separate ffprobe run is needed.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// Lines of ffmpeg's own error output kept for the log when a video cannot be decoded.
const STDERR_TAIL_LINES: usize = 8;
/// A frame whose time is missing from showinfo's log (NOPTS) is placed one 30 fps interval after
/// the previous one: recorders deliver 25–30 fps (PROTOCOL.md §5).
const FALLBACK_FRAME_INTERVAL_MS: f64 = 1000.0 / 30.0;

/// The external tools.
#[derive(Clone, Debug)]
pub struct MediaTools {
    pub ffmpeg: PathBuf,
}

impl Default for MediaTools {
    fn default() -> Self {
        MediaTools {
            ffmpeg: PathBuf::from("ffmpeg"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot start {tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("the decoder did not finish within its time limit")]
    Timeout,
    #[error("the video cannot be decoded: {0}")]
    Undecodable(String),
    #[error("reading the decoder's output: {0}")]
    Io(#[from] std::io::Error),
}

fn spawn(cmd: &mut Command, tool: &Path) -> Result<Child, DecodeError> {
    cmd.stdin(Stdio::null())
        .spawn()
        .map_err(|source| DecodeError::Spawn {
            tool: tool.display().to_string(),
            source,
        })
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
        Watchdog {
            stop: Some(stop),
            fired,
            thread: Some(thread),
        }
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

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join(" | ")
}

/// One frame as a showinfo instance logged it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShowinfoFrame {
    /// Which showinfo instance: 0 before scaling, 2 after.
    pub instance: u32,
    /// Presentation time in ms (None for NOPTS).
    pub t_ms: Option<f64>,
    pub width: u32,
    pub height: u32,
}

/// Parses a showinfo frame line (`[Parsed_showinfo_N @ …] n: … pts_time:… s:WxH …`); None for
/// every other line.
pub fn parse_showinfo(line: &str) -> Option<ShowinfoFrame> {
    let rest = line.split("[Parsed_showinfo_").nth(1)?;
    let instance: u32 = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let pts = rest.split("pts_time:").nth(1)?.split_whitespace().next()?;
    let t_ms = pts
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|s| s * 1000.0);
    let size = rest.split(" s:").nth(1)?.split_whitespace().next()?;
    let (w, h) = size.split_once('x')?;
    Some(ShowinfoFrame {
        instance,
        t_ms,
        width: w.parse().ok()?,
        height: h.parse().ok()?,
    })
}

/// A decoded frame's description.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameInfo {
    /// Presentation time on the recording's clock, ms.
    pub t_ms: f64,
    /// The delivered RGBA frame's size (inside the requested box).
    pub width: u32,
    pub height: u32,
    /// The video's own frame size (display orientation).
    pub source_width: u32,
    pub source_height: u32,
}

/// What decoding delivered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeSummary {
    pub frames: usize,
    /// Whether the frame callback stopped the decode early.
    pub stopped_early: bool,
}

/// Decodes the first video stream to packed RGBA scaled into `max_w × max_h` (aspect kept, never
/// upscaled for inputs at least that large) and calls `on_frame(info, rgba)` for every frame, in
/// order. The buffer is reused (it grows only if a frame is larger than every one before it).
/// `on_frame` may stop the decode early.
pub fn decode_rgba(
    tools: &MediaTools,
    path: &Path,
    max_w: u32,
    max_h: u32,
    deadline: Instant,
    on_frame: &mut dyn FnMut(&FrameInfo, &[u8]) -> ControlFlow<()>,
) -> Result<DecodeSummary, DecodeError> {
    // checksum=0: showinfo's per-plane checksums and statistics cost as much as the scaling.
    let filter = format!(
        "showinfo=checksum=0,scale=w={max_w}:h={max_h}:force_original_aspect_ratio=decrease:flags=area,showinfo=checksum=0"
    );
    let mut cmd = Command::new(&tools.ffmpeg);
    // One decoding thread: a verification holds one core (the verification semaphore is sized to
    // the cores), so concurrent verifications do not oversubscribe the machine.
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-threads",
        "1",
        "-filter_threads",
        "1",
        "-i",
    ])
    .arg(path)
    .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", &filter])
    .args([
        "-fps_mode",
        "passthrough",
        "-pix_fmt",
        "rgba",
        "-f",
        "rawvideo",
        "pipe:1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, &tools.ffmpeg)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let child = Arc::new(Mutex::new(child));
    let watchdog = Watchdog::start(child.clone(), deadline);

    // stderr: frame descriptions to the channel, everything else kept (bounded) for error messages.
    let (info_tx, info_rx) = mpsc::channel::<(ShowinfoFrame, Option<(u32, u32)>)>();
    let log_thread = std::thread::spawn(move || {
        let mut other: Vec<String> = Vec::new();
        let mut source: Option<(u32, u32)> = None;
        if let Some(stderr) = stderr {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match parse_showinfo(&line) {
                    Some(f) if f.instance == 0 => source = Some((f.width, f.height)),
                    Some(f) => {
                        let _ = info_tx.send((f, source));
                    }
                    None if line.contains("[Parsed_showinfo_") => {}
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

    let mut buf: Vec<u8> = Vec::new();
    let mut frames = 0usize;
    let mut stopped_early = false;
    let mut last_t: Option<f64> = None;
    let mut read_error: Option<std::io::Error> = None;
    let mut deadline_hit = false;
    if let Some(mut out) = stdout {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let (f, source) = match info_rx.recv_timeout(wait) {
                Ok(v) => v,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    deadline_hit = true;
                    break;
                }
                // ffmpeg is done: no more frames.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let len = f.width as usize * f.height as usize * 4;
            if len == 0 {
                read_error = Some(std::io::Error::other("ffmpeg described an empty frame"));
                break;
            }
            if buf.len() != len {
                buf.resize(len, 0);
            }
            match read_frame(&mut out, &mut buf) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
            let t_ms = f
                .t_ms
                .unwrap_or_else(|| last_t.map_or(0.0, |p| p + FALLBACK_FRAME_INTERVAL_MS));
            last_t = Some(t_ms);
            let (source_width, source_height) = source.unwrap_or((f.width, f.height));
            frames += 1;
            let info = FrameInfo {
                t_ms,
                width: f.width,
                height: f.height,
                source_width,
                source_height,
            };
            if on_frame(&info, &buf).is_break() {
                stopped_early = true;
                break;
            }
        }
    }
    if stopped_early || deadline_hit || read_error.is_some() {
        if let Ok(mut c) = child.lock() {
            let _ = c.kill();
        }
    }
    // Either side may notice the deadline first: the watchdog (ffmpeg stalled while we waited
    // for bytes) or the reader (no frame description before the deadline).
    let timed_out = watchdog.finish() || deadline_hit;
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
        return Err(DecodeError::Undecodable(if exited_ok {
            "no video frames".into()
        } else {
            tail(&log)
        }));
    }
    Ok(DecodeSummary {
        frames,
        stopped_early,
    })
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
        let l = "[Parsed_showinfo_2 @ 0x564b] n:   1 pts:     33 pts_time:0.033   pos:     8256 fmt:rgba sar:1/1 s:320x240 i:P iskey:0";
        assert_eq!(
            parse_showinfo(l),
            Some(ShowinfoFrame {
                instance: 2,
                t_ms: Some(33.0),
                width: 320,
                height: 240
            })
        );
        let l = "frame=    1 fps=0.0 q=-0.0 size=     300kB    [Parsed_showinfo_0 @ 0x1] n:   0 pts: NOPTS pts_time:NOPTS pos: 1 fmt:yuv420p sar:1/1 s:480x640 i:P";
        assert_eq!(
            parse_showinfo(l),
            Some(ShowinfoFrame {
                instance: 0,
                t_ms: None,
                width: 480,
                height: 640
            })
        );
        assert_eq!(
            parse_showinfo(
                "[Parsed_showinfo_0 @ 0x1] config in time_base: 1/1000, frame_rate: 30/1"
            ),
            None
        );
        assert_eq!(
            parse_showinfo("[Parsed_showinfo_0 @ 0x1] color_range:tv color_space:bt470bg"),
            None
        );
        assert_eq!(parse_showinfo("Input #0, matroska,webm, from 'x':"), None);
    }
}
