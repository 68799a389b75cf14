//! Screenshots of key screens, saved under `docs/screens/` for the README.
//!
//! WebDriver gives a full-colour PNG; ffmpeg re-encodes it with a 64-colour palette (dithered) so a
//! screenshot stays a few dozen KB in git. The raw capture is written as `*.tmp.png` (git-ignored)
//! and removed once the small one exists.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::browser::{Browser, Viewport};
use crate::process::ChildGuard;
use crate::{HarnessError, Result};

/// Palette size: UI screens are flat colours plus one camera picture; 64 colours keep both readable.
const PALETTE_COLOURS: u32 = 64;
/// ffmpeg re-encodes one screenshot in well under a second.
const ENCODE_TIMEOUT: Duration = Duration::from_secs(30);

/// Set to `1` to refresh the committed screenshots in `docs/screens/` (the README shows them).
pub const UPDATE_SCREENS_ENV: &str = "FACEID_E2E_UPDATE_SCREENS";

/// Where screenshots go: `docs/screens/` in the repository when [`UPDATE_SCREENS_ENV`] is `1`,
/// otherwise a directory under the system temp dir, so an ordinary test run (CI included) still
/// takes every screenshot but leaves the working tree clean.
pub fn screens_dir() -> PathBuf {
    if std::env::var(UPDATE_SCREENS_ENV).is_ok_and(|v| v == "1") {
        crate::repo_root().join("docs").join("screens")
    } else {
        std::env::temp_dir().join("faceid-e2e-screens")
    }
}

/// Saves the current viewport as `<screens_dir>/<name>-<viewport>.png` and returns the path.
pub async fn capture(browser: &Browser, name: &str, viewport: Viewport) -> Result<PathBuf> {
    let png = browser.screenshot_png().await?;
    let dir = screens_dir();
    std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
        path: dir.clone(),
        source,
    })?;
    let raw = dir.join(format!("{name}-{}.tmp.png", viewport.name));
    let out = dir.join(format!("{name}-{}.png", viewport.name));
    std::fs::write(&raw, &png).map_err(|source| HarnessError::Io {
        path: raw.clone(),
        source,
    })?;
    let filter = format!(
        "split[a][b];[a]palettegen=max_colors={PALETTE_COLOURS}:stats_mode=full[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
    );
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(&raw)
        .args(["-vf", &filter, "-frames:v", "1", "-y"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut ffmpeg = ChildGuard::spawn(command)?;
    let encoded = ffmpeg.wait_bounded(ENCODE_TIMEOUT)?;
    let _ = std::fs::remove_file(&raw);
    if !encoded {
        // Keep the full-colour capture rather than nothing.
        std::fs::write(&out, &png).map_err(|source| HarnessError::Io {
            path: out.clone(),
            source,
        })?;
    }
    Ok(out)
}

/// Captures the current screen at each viewport (the page re-lays itself out for each).
pub async fn capture_all(
    browser: &Browser,
    name: &str,
    viewports: &[Viewport],
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(viewports.len());
    for v in viewports {
        browser.set_viewport(*v).await?;
        // Let the page re-lay itself out before the capture.
        tokio::time::sleep(Duration::from_millis(300)).await;
        out.push(capture(browser, name, *v).await?);
    }
    Ok(out)
}
