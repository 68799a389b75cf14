//! End-to-end harness for faceid-h5: the real `faceid-server` on a loopback port with a fresh data
//! directory, Debian's headless Chromium driven through chromedriver over WebDriver (fantoccini),
//! and the business's part played through the cloud API (DetectAuth before, GetDetectInfoEnhanced
//! after).
//!
//! The scenarios live in `e2e/tests/*.rs`; this crate holds what they share:
//! - [`process`]: child processes that die with their guard, free loopback ports, bounded waits.
//! - [`browser`]: chromedriver plus one Chromium per test (fresh profile), the camera set-ups
//!   (synthetic person, fake default camera, a y4m file, permission refused), CDP commands,
//!   viewports and screenshots.
//! - [`page`]: reading the page's screens from its DOM and pressing its buttons.
//! - [`person`]: the synthetic person in front of the screen (an init script that replaces
//!   `getUserMedia` with a canvas stream lit by the colour the page is showing).
//! - [`replay`]: a y4m recording made from `faceid_core::sim` for the replay attack.
//! - [`business`]: the business's website on a second origin (RedirectUrl target, iframe host page).
//! - [`screens`]: screenshots (under `docs/screens/` with `FACEID_E2E_UPDATE_SCREENS=1`, else a temp dir).
//! - [`cloud`]: the business backend's signed (TC3-HMAC-SHA256) cloud API client.
//! - [`link`]: a relay between browser and server that cuts the first uploads (network drop).
//! - [`scenario`]: one scenario's stack and browser, screenshots, diagnosis, video probe.
//! - [`stack`]: the server started in-process with a fresh data directory, plus the above.
//!
//! Running: `scripts/build-page.sh` (wasm-pack build --profile page + wasm-opt; the page in `pkg/`),
//! then `cargo test -p faceid-e2e`. Needs `/usr/bin/chromium`, `/usr/bin/chromedriver`, `ffmpeg`
//! and `ffprobe` (scripts/setup.sh installs them) and `../shared/data/faces/astronaut.png`.
//! Scenarios run one at a time ([`serial`]); each is bounded as a whole
//! ([`scenario::SCENARIO_LIMIT`]) and cleans up its processes and directories. They rewrite their
//! screenshots under `docs/screens/` when `FACEID_E2E_UPDATE_SCREENS=1`. `FACEID_E2E_SERVER_LOG=1` prints the server's request log.

pub mod browser;
pub mod business;
pub mod cloud;
pub mod link;
pub mod page;
pub mod person;
pub mod process;
pub mod replay;
pub mod scenario;
pub mod screens;
pub mod stack;

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while setting up or driving a scenario.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what} is missing at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("webdriver session could not start: {0}")]
    Session(#[from] fantoccini::error::NewSessionError),
    #[error("webdriver command failed: {0}")]
    Command(#[from] fantoccini::error::CmdError),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cloud API {action} answered an error: {code}: {message}")]
    Cloud {
        action: String,
        code: String,
        message: String,
    },
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("simulator: {0}")]
    Sim(#[from] faceid_core::sim::SimError),
    #[error("{program} failed: {detail}")]
    Tool { program: String, detail: String },
    #[error("server: {0}")]
    Server(String),
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Returns `HarnessError::Unexpected` from the enclosing function unless `cond` holds, so a
/// scenario that fails still cleans up its browser and server before the test reports it.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::HarnessError::Unexpected(format!($($arg)+)));
        }
    };
}

/// Scenarios run one at a time (two cores: one Chromium and one server at a time); every test
/// holds this for its whole run.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// The repository root (the workspace that holds `e2e/`).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `shared/` beside the repository (CI clones the repository with `shared/` next to it).
pub fn shared_dir() -> PathBuf {
    repo_root().join("..").join("shared")
}

/// The real face photo of the synthetic person.
pub fn astronaut_png() -> PathBuf {
    shared_dir()
        .join("data")
        .join("faces")
        .join("astronaut.png")
}

/// Reads a file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| HarnessError::Io {
        path: path.to_path_buf(),
        source,
    })
}
