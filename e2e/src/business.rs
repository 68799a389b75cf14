//! The business's own website, as a second origin on loopback: the page a verification returns to
//! (RedirectUrl) and a host page that embeds the H5 page in an iframe.

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;

use crate::{HarnessError, Result};

/// The business site, serving until dropped.
pub struct BusinessSite {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(serde::Deserialize)]
struct Embed {
    src: String,
}

const RETURN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Business: back from verification</title>
<style>body{font-family:sans-serif;margin:2rem;background:#f4f6f8;color:#1d2129}code{word-break:break-all}</style></head>
<body><h1 id="business-return">Back at the business</h1><p>The verification ended; the business backend now asks
GetDetectInfoEnhanced for the result.</p><p><code id="query"></code></p>
<script>document.getElementById("query").textContent = location.search;</script></body></html>"#;

/// The iframe host page; every message the frame posts is kept in `window.__faceidMessages`.
fn host_page(src: &str) -> String {
    let src = src
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Business: verify your identity</title>
<style>body{{font-family:sans-serif;margin:0;background:#eef1f5;color:#1d2129}}header{{padding:12px 20px;background:#1d2129;color:#fff}}
main{{display:flex;justify-content:center;padding:16px}}iframe{{border:0;width:min(100%,420px);height:640px;background:#fff;border-radius:12px;box-shadow:0 2px 12px #0002}}
#result{{margin:12px 20px 0;font-family:monospace;font-size:13px;word-break:break-all}}</style></head>
<body><header>Business portal: verify your identity</header>
<p id="result">Waiting for the verification frame…</p>
<main><iframe id="faceid" src="{src}" allow="camera" title="FaceID verification"></iframe></main>
<script>
window.__faceidMessages = [];
window.addEventListener("message", (e) => {{
  window.__faceidMessages.push({{ origin: e.origin, data: e.data }});
  document.getElementById("result").textContent = "Message from the verification frame: " + JSON.stringify(e.data);
}});
</script></body></html>"#
    )
}

impl BusinessSite {
    /// Starts the site on a free loopback port.
    pub async fn start() -> Result<BusinessSite> {
        let app = Router::new()
            .route("/return", get(|| async { Html(RETURN_PAGE) }))
            .route("/host", get(host));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| HarnessError::Io {
                path: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| HarnessError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(BusinessSite { addr, task })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The RedirectUrl a business passes to DetectAuth (with a query of its own that must survive).
    pub fn return_url(&self) -> String {
        format!("{}/return?from=faceid", self.base())
    }

    /// The host page embedding `h5_url` in an iframe with `allow="camera"`.
    pub fn host_url(&self, h5_url: &str) -> Result<String> {
        let mut u = url::Url::parse(&format!("{}/host", self.base()))
            .map_err(|e| HarnessError::Unexpected(format!("host page URL: {e}")))?;
        u.query_pairs_mut().append_pair("src", h5_url);
        Ok(u.to_string())
    }
}

impl Drop for BusinessSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn host(Query(embed): Query<Embed>) -> Html<String> {
    Html(host_page(&embed.src))
}
