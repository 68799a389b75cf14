//! One scenario's world: the server stack, one browser with its camera, the screenshots it takes
//! and what to print when it fails.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::browser::{Browser, CameraSetup, Viewport};
use crate::page::Journey;
use crate::person::Person;
use crate::stack::{Stack, StackOptions};
use crate::{screens, HarnessError, Result};

/// A scenario's own waits are bounded; this bounds the whole (a WebDriver call that never answers).
/// The slowest scenario takes about 40 s; the brief allows about two minutes.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(150);

/// Runs a scenario body under [`SCENARIO_LIMIT`].
pub async fn bounded<F: std::future::Future<Output = Result<()>>>(body: F) -> Result<()> {
    tokio::time::timeout(SCENARIO_LIMIT, body)
        .await
        .unwrap_or_else(|_| {
            Err(HarnessError::Timeout {
                what: "the whole scenario".into(),
                after: SCENARIO_LIMIT,
            })
        })
}

/// ffprobe reads a few seconds of video in well under this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Scenario {
    pub name: &'static str,
    pub stack: Stack,
    pub browser: Browser,
    pub journey: Journey,
    pub viewport: Viewport,
}

impl Scenario {
    /// Starts the stack and a browser with `camera` at `viewport`; for a synthetic person, installs
    /// the astronaut before any page loads.
    pub async fn start(
        name: &'static str,
        camera: CameraSetup,
        options: StackOptions,
        viewport: Viewport,
    ) -> Result<Scenario> {
        let person = match camera {
            CameraSetup::SyntheticPerson => Some(Person::astronaut_from_shared()?),
            _ => None,
        };
        Scenario::start_with(name, camera, person, options, viewport).await
    }

    /// Like [`Scenario::start`] with a given synthetic person in front of the camera.
    pub async fn start_with(
        name: &'static str,
        camera: CameraSetup,
        person: Option<Person>,
        options: StackOptions,
        viewport: Viewport,
    ) -> Result<Scenario> {
        let stack = Stack::start(options).await?;
        let browser = Browser::start(&camera).await?;
        if let Some(p) = person {
            browser.add_init_script(&p.script()?).await?;
        }
        browser.set_viewport(viewport).await?;
        Ok(Scenario {
            name,
            stack,
            browser,
            journey: Journey::default(),
            viewport,
        })
    }

    /// Saves the current screen as `<screens_dir>/<scenario>-<screen>-<viewport>.png` at the current
    /// viewport, then at each of `also` (for screens that hold still), returning to the current one.
    pub async fn shot(&self, screen: &str, also: &[Viewport]) -> Result<()> {
        let name = format!("{}-{screen}", self.name);
        screens::capture(&self.browser, &name, self.viewport).await?;
        if !also.is_empty() {
            screens::capture_all(&self.browser, &name, also).await?;
            self.browser.set_viewport(self.viewport).await?;
        }
        Ok(())
    }

    /// What to print when the scenario fails: the page's path and the browser console.
    pub async fn diagnosis(&self) -> String {
        let console = self
            .browser
            .console_log()
            .await
            .map(|l| l.join("\n    "))
            .unwrap_or_else(|e| e.to_string());
        format!(
            "scenario {}:\n  page path:\n  {}\n  browser console:\n    {console}",
            self.name,
            self.journey.trace()
        )
    }

    /// Ends the browser and the stack.
    pub async fn finish(self) {
        let Scenario { stack, browser, .. } = self;
        browser.close().await;
        stack.stop().await;
    }

    /// Ends the scenario with the result of its body: prints the diagnosis on failure, cleans up
    /// either way, and hands the result back for the test to assert.
    pub async fn conclude(self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            eprintln!("{}", self.diagnosis().await);
        }
        self.finish().await;
        result
    }
}

/// What ffprobe sees in a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoProbe {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// Decodes a Base64 field of a cloud answer.
pub fn base64_field(v: &Value, what: &str) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| HarnessError::Unexpected(format!("{what} is not a string: {v}")))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| HarnessError::Unexpected(format!("{what} is not Base64: {e}")))
}

/// Counts the decodable frames of a video with ffprobe (playable = at least one frame decodes).
pub async fn probe_video(bytes: &[u8]) -> Result<VideoProbe> {
    let dir = tempfile::tempdir().map_err(|source| HarnessError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let path = dir.path().join("liveness-video");
    std::fs::write(&path, bytes).map_err(|source| HarnessError::Io {
        path: path.clone(),
        source,
    })?;
    let mut command = tokio::process::Command::new("ffprobe");
    command
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=width,height,nb_read_frames",
            "-of",
            "json",
        ])
        .arg(&path)
        .kill_on_drop(true);
    let out = tokio::time::timeout(PROBE_TIMEOUT, command.output())
        .await
        .map_err(|_| HarnessError::Timeout {
            what: "ffprobe".into(),
            after: PROBE_TIMEOUT,
        })?
        .map_err(|source| HarnessError::Spawn {
            program: "ffprobe".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(HarnessError::Tool {
            program: "ffprobe".into(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let s = &v["streams"][0];
    let num = |k: &str| -> u32 {
        s[k].as_u64()
            .map(|n| n as u32)
            .or_else(|| s[k].as_str().and_then(|t| t.parse().ok()))
            .unwrap_or(0)
    };
    Ok(VideoProbe {
        width: num("width"),
        height: num("height"),
        frames: num("nb_read_frames"),
    })
}
