//! chromedriver and one headless Chromium per test, with the camera set-up of the scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::process::{free_port, wait_until, ChildGuard};
use crate::{HarnessError, Result};

/// Debian's chromedriver and Chromium.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver answers `/status` within a second or two; ten is generous on a loaded machine.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often bounded waits poll the page.
pub const POLL: Duration = Duration::from_millis(100);

/// Headless Chromium as root in a container (common brief): no sandbox, no GPU, no background
/// traffic, no first-run UI, and no QUIC (loopback HTTP only).
const BASE_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    // Timers and frames keep running at full rate while headless.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
];

/// What the browser's camera is in a scenario.
#[derive(Clone, Debug)]
pub enum CameraSetup {
    /// Chrome's default fake camera (a moving test pattern: no face), permission granted.
    FakePattern,
    /// Chrome's fake camera playing a y4m file in a loop, permission granted.
    File(PathBuf),
    /// A synthetic person: the fake camera is granted, and an init script (see [`crate::person`])
    /// replaces `getUserMedia` with a canvas stream; the script is installed by the scenario.
    SyntheticPerson,
    /// The person refuses the camera: permission prompts are answered "deny" by the browser.
    Refused,
}

impl CameraSetup {
    fn args(&self) -> Vec<String> {
        let grant = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ];
        match self {
            CameraSetup::FakePattern | CameraSetup::SyntheticPerson => {
                grant.iter().map(|s| s.to_string()).collect()
            }
            CameraSetup::File(path) => {
                let mut args: Vec<String> = grant.iter().map(|s| s.to_string()).collect();
                args.push(format!(
                    "--use-file-for-fake-video-capture={}",
                    path.display()
                ));
                args
            }
            // A real device would be asked for; the fake device keeps the machine's hardware out of
            // it, and the prompt is denied as a person tapping "Block" would.
            CameraSetup::Refused => vec![
                "--use-fake-device-for-media-stream".into(),
                "--deny-permission-prompts".into(),
            ],
        }
    }
}

/// A viewport the screenshots are taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

/// A phone (iPhone 12–14 class CSS viewport).
pub const MOBILE: Viewport = Viewport {
    name: "mobile",
    width: 390,
    height: 844,
    mobile: true,
};
/// A laptop browser window.
pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};

/// One Chromium, its own chromedriver and a fresh profile; everything dies with it.
pub struct Browser {
    client: Client,
    // Field order matters for drop: the client's connection closes, then the processes are killed,
    // then the profile directory is removed.
    driver: ChildGuard,
    profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session with `camera`.
    pub async fn start(camera: &CameraSetup) -> Result<Browser> {
        for (what, path) in [("chromedriver", CHROMEDRIVER), ("Chromium", CHROMIUM)] {
            if !Path::new(path).exists() {
                return Err(HarnessError::Missing {
                    what,
                    path: path.into(),
                    hint: "run scripts/setup.sh",
                });
            }
        }
        let profile = tempfile::Builder::new()
            .prefix("faceid-e2e-chromium-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let port = free_port()?;
        let log_path = profile.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path).map_err(|source| HarnessError::Io {
            path: log_path.clone(),
            source,
        })?;
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let mut driver = ChildGuard::spawn(command)?;
        let base = format!("http://127.0.0.1:{port}");

        let status_url = format!("{base}/status");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        wait_until(
            "chromedriver to answer /status",
            DRIVER_START_TIMEOUT,
            POLL,
            || {
                let running = driver.is_running();
                let http = http.clone();
                let url = status_url.clone();
                async move {
                    if !running {
                        return Err(HarnessError::Unexpected(
                            "chromedriver exited at start".into(),
                        ));
                    }
                    match http.get(&url).send().await {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().await?;
                            Ok(v["value"]["ready"]
                                .as_bool()
                                .filter(|ready| *ready)
                                .map(|_| ()))
                        }
                        _ => Ok(None),
                    }
                }
            },
        )
        .await?;

        let user_data = profile.path().join("profile");
        let mut args: Vec<String> = BASE_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", user_data.display()));
        args.push(format!(
            "--window-size={},{}",
            DESKTOP.width, DESKTOP.height
        ));
        args.extend(camera.args());
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        // No WebDriver call should ever block a test for long: scripts and loads are bounded.
        caps.insert(
            "timeouts".into(),
            json!({ "script": 30_000, "pageLoad": 30_000, "implicit": 0 }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&base),
        )
        .await
        .map_err(|_| HarnessError::Timeout {
            what: "a Chromium session".into(),
            after: Duration::from_secs(60),
        })??;
        Ok(Browser {
            client,
            driver,
            profile,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The profile directory (also holds chromedriver.log).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Runs a Chrome DevTools Protocol command on the current tab (chromedriver's goog/cdp/execute).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let v = self
            .client
            .issue_cmd(CdpCommand {
                cmd: cmd.to_string(),
                params,
            })
            .await?;
        Ok(v)
    }

    /// Makes `source` run at the start of every document (and frame) this tab loads from now on.
    pub async fn add_init_script(&self, source: &str) -> Result<()> {
        self.cdp("Page.enable", json!({})).await?;
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await?;
        Ok(())
    }

    /// Sets the CSS viewport exactly (and touch for mobile); the window follows for desktop.
    pub async fn set_viewport(&self, viewport: Viewport) -> Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": viewport.width,
                "height": viewport.height,
                "deviceScaleFactor": 1,
                "mobile": viewport.mobile,
            }),
        )
        .await?;
        self.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": viewport.mobile, "maxTouchPoints": 5 }),
        )
        .await?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Polls `script` until it returns something other than null/undefined/false, at most `timeout`.
    pub async fn wait_for_js(&self, what: &str, timeout: Duration, script: &str) -> Result<Value> {
        wait_until(what, timeout, POLL, || async {
            let v = self.client.execute(script, vec![]).await?;
            Ok(match v {
                Value::Null | Value::Bool(false) => None,
                other => Some(other),
            })
        })
        .await
    }

    /// The browser console so far (for diagnosing a failed scenario).
    pub async fn console_log(&self) -> Result<Vec<String>> {
        let v = self.client.issue_cmd(BrowserLog).await?;
        let lines = v
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["level"].as_str().unwrap_or(""),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(lines)
    }

    /// PNG of the current viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        Ok(self.client.screenshot().await?)
    }

    /// Ends the WebDriver session (Chromium quits), then the processes and profile go with `self`.
    pub async fn close(self) {
        let Browser {
            client,
            driver,
            profile,
        } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
        drop(profile);
    }
}

/// `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct CdpCommand {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// `POST /session/{id}/se/log` with `{"type": "browser"}` (chromedriver's console log).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
