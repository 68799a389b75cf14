//! The system under test: `faceid-server` started in-process on 127.0.0.1:0 with a fresh data
//! directory, serving the real page (www/ and the wasm-pack build in pkg/), the business's site on
//! a second loopback origin, and a signed cloud API client for the business backend.

use std::path::PathBuf;
use std::sync::Arc;

use faceid_server::clock::{Clock, ManualClock};
use faceid_server::rules::Rules;
use faceid_server::{RunningServer, ServerConfig};
use tempfile::TempDir;

use crate::business::BusinessSite;
use crate::cloud::CloudClient;
use crate::link::FlakyLink;
use crate::{HarnessError, Result};

/// Business flows the scenarios use: the built-in default (zh-CN, the product's default language)
/// and the same flow in English.
const RULES_TOML: &str = r#"
[[rules]]
id = "1"
mode = "light"
retries = 99
locale = "zh-CN"

[[rules]]
id = "en"
mode = "light"
retries = 99
locale = "en"
"#;

/// The wasm-pack output the page needs (`faceid-h5` → `faceid_h5.js`).
const PKG_ENTRY: &str = "faceid_h5.js";
const PKG_WASM: &str = "faceid_h5_bg.wasm";

/// How a scenario wants the server.
#[derive(Clone, Default)]
pub struct StackOptions {
    /// A clock the test moves (expired tokens) instead of the system clock.
    pub clock: Option<Arc<ManualClock>>,
    /// Reach the server through a [`FlakyLink`] that cuts this many uploads (0: direct).
    pub cut_uploads: u32,
}

/// Server, data directory, business site and cloud client of one scenario.
pub struct Stack {
    pub server: RunningServer,
    pub cloud: CloudClient,
    pub business: BusinessSite,
    /// The relay the browser goes through, when the scenario cuts uploads.
    pub link: Option<FlakyLink>,
    data: TempDir,
}

/// Where the page build must be (`www/` and `pkg/` of the repository), with a clear error when it
/// is not there.
pub fn page_build() -> Result<(PathBuf, PathBuf)> {
    page_build_in(&crate::repo_root())
}

fn page_build_in(root: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    let pkg = root.join("pkg");
    for file in [PKG_ENTRY, PKG_WASM] {
        let path = pkg.join(file);
        if !path.is_file() {
            return Err(HarnessError::Missing {
                what: "the page build",
                path,
                hint: "run `scripts/build-page.sh` (wasm-pack build, then wasm-opt; scripts/test.sh does)",
            });
        }
    }
    Ok((root.join("www"), pkg))
}

impl Stack {
    /// Starts everything. With `FACEID_E2E_SERVER_LOG` set, the server logs one line per request
    /// (and its verification notes) to stderr, filtered by `RUST_LOG`.
    pub async fn start(options: StackOptions) -> Result<Stack> {
        let (www, pkg) = page_build()?;
        if std::env::var_os("FACEID_E2E_SERVER_LOG").is_some() {
            faceid_server::logging::init();
        }
        let data = tempfile::Builder::new()
            .prefix("faceid-e2e-data-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let mut config = ServerConfig::for_data_dir(data.path())
            .map_err(|e| HarnessError::Server(e.to_string()))?;
        config.www_dir = www;
        config.pkg_dir = pkg;
        config.rules =
            Rules::from_toml(RULES_TOML).map_err(|e| HarnessError::Server(e.to_string()))?;
        // The scenarios run many attempts from one browser profile each; the per-browser daily
        // limit is not what they test.
        config.browser_per_day = 1000;
        if let Some(clock) = &options.clock {
            config.clock = clock.clone() as Arc<dyn Clock>;
        }
        let mut link = match options.cut_uploads {
            0 => None,
            n => Some(FlakyLink::bind(n).await?),
        };
        if let Some(l) = &link {
            // DetectAuth's Url (and so the browser) goes through the relay.
            config.public_url = Some(l.base());
        }
        let server = faceid_server::start(config)
            .await
            .map_err(|e| HarnessError::Server(e.to_string()))?;
        if let Some(l) = &mut link {
            l.connect_to(server.addr());
        }
        let credentials = server.credentials().clone();
        // The business backend talks to the server directly.
        let cloud = CloudClient::new(
            &format!("http://{}", server.addr()),
            &credentials.secret_id,
            &credentials.secret_key,
        )?;
        let business = BusinessSite::start().await?;
        Ok(Stack {
            server,
            cloud,
            business,
            link,
            data,
        })
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Stops the server; the data directory goes with `self`.
    pub async fn stop(self) {
        let Stack {
            server,
            cloud: _,
            business,
            link,
            data,
        } = self;
        drop(link);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server.shutdown()).await;
        drop(business);
        drop(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_page_build_names_the_command_that_makes_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = page_build_in(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("faceid_h5.js") && err.contains("scripts/build-page.sh"),
            "{err}"
        );
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg").join(PKG_ENTRY), "").unwrap();
        std::fs::write(dir.path().join("pkg").join(PKG_WASM), "").unwrap();
        let (www, pkg) = page_build_in(dir.path()).unwrap();
        assert_eq!((www, pkg), (dir.path().join("www"), dir.path().join("pkg")));
    }
}
