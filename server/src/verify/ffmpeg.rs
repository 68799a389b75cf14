//! ffmpeg as a child process (argument lists, never a shell), each inside a deadline:
//! the process is killed when the deadline passes.
//!
//! Decoding is one ffmpeg process: `showinfo` (the decoded frame: display size, rotation already
//! applied), `scale` into the analysis box keeping the aspect ratio, `showinfo` again (the frame's
//! presentation time and output size), raw RGBA on stdout read into one reused buffer. showinfo
//! logs a frame before the frame reaches the raw-video muxer, so frame *i*'s description is on
//! stderr before its bytes are on stdout: the reader takes the description first, then exactly
//! that many bytes. No separate ffprobe run is needed.
//!
//! What ffmpeg may do with an upload is narrowed before it runs and while it runs: the container is
//! recognised from its first bytes (EBML: Matroska/WebM; an `ftyp` box: MP4) and anything else is
//! refused without starting ffmpeg; ffmpeg is then told which demuxer to use (`-f`, never its own
//! probing, which would happily open a DASH or HLS manifest and fetch the files it names), may use
//! only that demuxer, the H.264/VP8/VP9 decoders and the `file` protocol, reads the upload as
//! `file:<absolute path>`, refuses frames above 1920×1080 pixels before allocating them, and may
//! allocate no single block above [`MAX_FFMPEG_ALLOC_BYTES`]. Its own messages never leave this
//! module: a failure is reported as a fixed [`Undecodable`] category (its stderr carries the
//! upload's path and text from the file's metadata).

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// PROTOCOL.md §5: recordings are at most 1920×1080, in either orientation.
pub const MAX_SOURCE_LONG_SIDE: u32 = 1920;
pub const MAX_SOURCE_SHORT_SIDE: u32 = 1080;
/// ffmpeg's decoders refuse a frame with more pixels than this before allocating it
/// (`-max_pixels`): a 10000×10000 VP8 stream otherwise took 488 MB of memory per ffmpeg.
const MAX_SOURCE_PIXELS: u32 = MAX_SOURCE_LONG_SIDE * MAX_SOURCE_SHORT_SIDE;
/// The largest single block ffmpeg may allocate (`-max_alloc`): a 1920×1080 RGBA frame is 8 MB and
/// a whole upload at most 8 MB, so 64 MiB leaves room without letting a forged size field in a
/// container ask for gigabytes.
pub const MAX_FFMPEG_ALLOC_BYTES: u64 = 64 * 1024 * 1024;
/// The only decoders ffmpeg may open (PROTOCOL.md §5: H.264, VP8, VP9).
const ALLOWED_DECODERS: &str = "h264,vp8,vp9";
/// The only demuxers ffmpeg may open, as `-format_whitelist` names them (nested demuxers too).
const ALLOWED_DEMUXERS: &str = "matroska,mov";
/// The only protocol ffmpeg may open: the upload itself, as a local file. No network, and with the
/// demuxer fixed no manifest can name another file either.
const ALLOWED_PROTOCOLS: &str = "file";
/// How many first bytes [`Container::sniff`] looks at.
const SNIFF_BYTES: usize = 12;
/// The EBML header magic every Matroska/WebM file starts with.
const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
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

/// The containers an upload may be (PROTOCOL.md §5), recognised by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// Matroska or WebM (EBML magic `1A 45 DF A3`).
    Matroska,
    /// MP4 and its ISO-BMFF relatives (an `ftyp` box first: its type at bytes 4–8).
    IsoBmff,
}

impl Container {
    /// The container the first bytes of a file announce; None for anything else (a manifest, a
    /// playlist, a concat list, an image, garbage).
    pub fn sniff(head: &[u8]) -> Option<Container> {
        if head.starts_with(&EBML_MAGIC) {
            Some(Container::Matroska)
        } else if head.get(4..8) == Some(b"ftyp") {
            Some(Container::IsoBmff)
        } else {
            None
        }
    }

    /// Sniffs the file at `path`.
    pub fn of_file(path: &Path) -> std::io::Result<Option<Container>> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        std::fs::File::open(path)?
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)?;
        Ok(Container::sniff(&head))
    }

    /// ffmpeg's demuxer for it (`-f`).
    fn demuxer(self) -> &'static str {
        match self {
            Container::Matroska => "matroska",
            Container::IsoBmff => "mov",
        }
    }
}

/// Whether a frame of `width`×`height` (either orientation) is within PROTOCOL.md §5's 1920×1080.
pub fn within_size_limit(width: u32, height: u32) -> bool {
    width.max(height) <= MAX_SOURCE_LONG_SIDE && width.min(height) <= MAX_SOURCE_SHORT_SIDE
}

/// Why an upload could not be decoded: a fixed category, so that nothing from the file itself
/// (ffmpeg's messages carry its path and metadata text) reaches a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Undecodable {
    #[error("not a WebM/Matroska or MP4 file (first bytes)")]
    NotAContainer,
    #[error("the container could not be read")]
    InvalidData,
    #[error("a video codec other than H.264, VP8 or VP9")]
    CodecNotAllowed,
    #[error("frames of {width}x{height}, above 1920x1080")]
    TooLarge { width: u32, height: u32 },
    #[error("no video stream")]
    NoVideoStream,
    #[error("no video frames")]
    NoFrames,
    #[error("ffmpeg failed for another reason")]
    Other,
}

impl Undecodable {
    /// The category an ffmpeg error line belongs to, if it names one.
    fn of_line(line: &str) -> Option<Undecodable> {
        if line.contains("not on whitelist") {
            Some(Undecodable::CodecNotAllowed)
        } else if line.contains("Invalid data found when processing input") {
            Some(Undecodable::InvalidData)
        } else if line.contains("matches no streams")
            || line.contains("does not contain any stream")
        {
            Some(Undecodable::NoVideoStream)
        } else {
            None
        }
    }
}

/// The frame size an input stream header declares (`Stream #0:0…: Video: vp8, yuv420p(…),
/// 640x480, …`); None for every other line.
pub fn parse_stream_size(line: &str) -> Option<(u32, u32)> {
    let (head, video) = line.split_once(": Video: ")?;
    if !head.trim_start().starts_with("Stream #") {
        return None;
    }
    video.split(',').find_map(|part| {
        let (w, h) = part.split_whitespace().next()?.split_once('x')?;
        let digits =
            |s: &str| !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(w) && digits(h)) {
            return None;
        }
        Some((w.parse().ok()?, h.parse().ok()?))
    })
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
    Undecodable(Undecodable),
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
/// order. Only a WebM/Matroska or MP4 file is handed to ffmpeg, under the restrictions of the
/// module documentation. The buffer is reused (it grows only if a frame is larger than every one before it).
/// `on_frame` may stop the decode early.
pub fn decode_rgba(
    tools: &MediaTools,
    path: &Path,
    max_w: u32,
    max_h: u32,
    deadline: Instant,
    on_frame: &mut dyn FnMut(&FrameInfo, &[u8]) -> ControlFlow<()>,
) -> Result<DecodeSummary, DecodeError> {
    let container =
        Container::of_file(path)?.ok_or(DecodeError::Undecodable(Undecodable::NotAContainer))?;
    // `file:` and an absolute path: ffmpeg takes nothing in the name as a protocol or an option.
    let mut input = std::ffi::OsString::from("file:");
    input.push(std::path::absolute(path)?);
    let max_pixels = MAX_SOURCE_PIXELS.to_string();
    let max_alloc = MAX_FFMPEG_ALLOC_BYTES.to_string();
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
        "-max_alloc",
        &max_alloc,
        "-protocol_whitelist",
        ALLOWED_PROTOCOLS,
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-codec_whitelist",
        ALLOWED_DECODERS,
        "-max_pixels",
        &max_pixels,
        "-f",
        container.demuxer(),
        "-i",
    ])
    .arg(&input)
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

    // stderr: frame descriptions to the channel; of everything else only the declared frame size
    // and the first failure category are kept (the text itself stays here).
    let (info_tx, info_rx) = mpsc::channel::<(ShowinfoFrame, Option<(u32, u32)>)>();
    let log_thread = std::thread::spawn(move || {
        let mut declared: Option<(u32, u32)> = None;
        let mut failure: Option<Undecodable> = None;
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
                        // The input's stream header comes before the output's: keep the first.
                        declared = declared.or_else(|| parse_stream_size(&line));
                        failure = failure.or_else(|| Undecodable::of_line(&line));
                    }
                }
            }
        }
        (declared, failure)
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
    let (declared, failure) = log_thread.join().unwrap_or_default();
    if timed_out {
        return Err(DecodeError::Timeout);
    }
    if let Some(e) = read_error {
        return Err(DecodeError::Io(e));
    }
    let exited_ok = status.is_some_and(|s| s.success());
    if frames == 0 {
        let why = match declared {
            // ffmpeg's decoder refused the frames (-max_pixels) or would have decoded them huge.
            Some((width, height)) if !within_size_limit(width, height) => {
                Undecodable::TooLarge { width, height }
            }
            _ if exited_ok => Undecodable::NoFrames,
            _ => failure.unwrap_or(Undecodable::Other),
        };
        return Err(DecodeError::Undecodable(why));
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

    #[test]
    fn stream_header_sizes() {
        let l = "  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 640x480 [SAR 1:1 DAR 4:3], 184 kb/s, 30 fps";
        assert_eq!(parse_stream_size(l), Some((640, 480)));
        let l = "  Stream #0:0: Video: vp8, yuv420p(tv, bt470bg/unknown/unknown, progressive), 10000x10000, SAR 1:1 DAR 1:1, 30 fps";
        assert_eq!(parse_stream_size(l), Some((10000, 10000)));
        let l = "  Stream #0:0[0x1](und): Video: mpeg4 (mp4v / 0x7634706D), none, 613 kb/s, SAR 1:1 DAR 0:0";
        assert_eq!(parse_stream_size(l), None);
        assert_eq!(
            parse_stream_size("    title           : 1920x1080: Video: 9x9"),
            None
        );
        assert_eq!(
            parse_stream_size("  Stream #0:0 -> #0:0 (vp8 (native) -> rawvideo (native))"),
            None
        );
    }

    #[test]
    fn containers_by_their_first_bytes() {
        assert_eq!(
            Container::sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
            Some(Container::Matroska)
        );
        assert_eq!(
            Container::sniff(b"\0\0\0\x18ftypmp42\0\0"),
            Some(Container::IsoBmff)
        );
        assert_eq!(Container::sniff(b"<?xml version=\"1.0\"?><MPD"), None);
        assert_eq!(Container::sniff(b"#EXTM3U\n"), None);
        assert_eq!(Container::sniff(b"ffconcat version 1.0\n"), None);
        assert_eq!(Container::sniff(b"\x1A\x45"), None);
        assert!(within_size_limit(1920, 1080) && within_size_limit(1080, 1920));
        assert!(!within_size_limit(1921, 1080) && !within_size_limit(4000, 500));
    }
}
