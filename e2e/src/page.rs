//! Reading and driving the H5 page through its DOM: which screen is up (`section.fid-screen` and
//! its kind class), its heading, the guidance hint, the result code, the progress bar, whether the
//! light challenge is flashing, and the buttons.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::browser::Browser;
use crate::{HarnessError, Result};

/// The page's screens, by the kind class on `section.fid-screen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScreenKind {
    /// No screen section yet (module loading).
    None,
    /// Loading spinner (`fid-status`).
    Status,
    Intro,
    Declined,
    /// Camera, guidance and challenge (`fid-capture`).
    Capture,
    Upload,
    Passed,
    Failed,
    Problem,
    Other,
}

/// What the page shows at one moment.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView {
    pub kind: ScreenKind,
    pub title: String,
    /// The guidance or challenge hint (`.fid-hint`, announced to screen readers).
    pub hint: Option<String>,
    /// The result code shown (`.fid-code`), parsed from its text.
    pub code: Option<u32>,
    /// The guidance or upload progress bar value (0..100).
    pub progress: Option<f64>,
    /// The light challenge overlay is up (`.fid-flashing`).
    pub flashing: bool,
    /// Texts of the visible buttons.
    pub buttons: Vec<String>,
    /// The screen's live status line (`[role=status]`), e.g. the upload's retry notice.
    pub status: Option<String>,
    pub body: String,
    pub url: String,
}

const PROBE: &str = r#"
const s = document.querySelector("section.fid-screen");
const text = (sel) => { const e = s && s.querySelector(sel); return e ? e.textContent.trim() : null; };
let kind = "none";
if (s) {
  const c = s.classList;
  kind = c.contains("fid-passed") ? "passed" : c.contains("fid-failed") ? "failed"
    : c.contains("fid-problem") ? "problem" : c.contains("fid-capture") ? "capture"
    : c.contains("fid-upload") ? "upload" : c.contains("fid-intro") ? "intro"
    : c.contains("fid-declined") ? "declined" : c.contains("fid-status") ? "status" : "other";
}
const codeText = text(".fid-code");
const m = codeText && /(\d{1,5})\s*$/.exec(codeText);
const bar = s && s.querySelector("progress");
return {
  kind,
  title: text(".fid-title") || "",
  hint: text(".fid-hint"),
  code: m ? parseInt(m[1], 10) : null,
  progress: bar ? Number(bar.value) : null,
  flashing: !!(s && s.classList.contains("fid-flashing")),
  buttons: s ? Array.from(s.querySelectorAll("button")).map((b) => b.textContent.trim()) : [],
  status: text("[role=status]"),
  body: s ? s.innerText.slice(0, 400) : "",
  url: location.href,
};
"#;

/// The current view of the page (in the current browsing context: top page or entered frame).
pub async fn view(browser: &Browser) -> Result<PageView> {
    let v = browser.eval(PROBE, vec![]).await?;
    Ok(serde_json::from_value(v)?)
}

/// Everything seen while waiting, for assertions about the path the page took.
#[derive(Clone, Debug, Default)]
pub struct Journey {
    pub views: Vec<PageView>,
}

impl Journey {
    /// Records `v` if it differs from the last view in kind, hint, code or flashing.
    pub fn record(&mut self, v: &PageView) {
        let changed = self.views.last().is_none_or(|l| {
            l.kind != v.kind
                || l.hint != v.hint
                || l.code != v.code
                || l.flashing != v.flashing
                || l.title != v.title
                || (v.kind == ScreenKind::Upload && l.status != v.status)
        });
        if changed {
            self.views.push(v.clone());
        }
    }

    pub fn saw(&self, pred: impl Fn(&PageView) -> bool) -> bool {
        self.views.iter().any(pred)
    }

    /// The highest guidance progress seen.
    pub fn max_guidance_progress(&self) -> f64 {
        self.views
            .iter()
            .filter(|v| v.kind == ScreenKind::Capture && !v.flashing)
            .filter_map(|v| v.progress)
            .fold(0.0, f64::max)
    }

    /// A compact trace for failure messages.
    pub fn trace(&self) -> String {
        self.views
            .iter()
            .map(|v| {
                format!(
                    "{:?}{}{} '{}' hint={:?} status={:?} code={:?} progress={:?}",
                    v.kind,
                    if v.flashing { " flashing" } else { "" },
                    if v.buttons.is_empty() {
                        String::new()
                    } else {
                        format!(" buttons={:?}", v.buttons)
                    },
                    v.title,
                    v.hint,
                    v.status,
                    v.code,
                    v.progress
                )
            })
            .collect::<Vec<_>>()
            .join("\n  ")
    }
}

/// How often a scenario looks at the page: often enough to catch a 350 ms colour step, rarely
/// enough to leave the two cores to the page and the server.
pub const LOOK_EVERY: Duration = Duration::from_millis(150);

/// Watches the page until `done` holds for a view, at most `timeout`, recording the journey.
pub async fn watch_until(
    browser: &Browser,
    journey: &mut Journey,
    what: &str,
    timeout: Duration,
    done: impl Fn(&PageView) -> bool,
) -> Result<PageView> {
    let start = Instant::now();
    loop {
        let v = view(browser).await?;
        journey.record(&v);
        if done(&v) {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(HarnessError::Timeout {
                what: format!("{what}; the page went:\n  {}", journey.trace()),
                after: timeout,
            });
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Clicks the first button of the current screen whose class list has `class` (e.g. `fid-primary`).
pub async fn click(browser: &Browser, class: &str) -> Result<()> {
    let clicked = browser
        .eval(
            r#"const b = document.querySelector("section.fid-screen button." + arguments[0]);
               if (!b) return false; b.click(); return true;"#,
            vec![json!(class)],
        )
        .await?;
    if clicked.as_bool() == Some(true) {
        Ok(())
    } else {
        Err(HarnessError::Unexpected(format!(
            "no button .{class} on the current screen"
        )))
    }
}
