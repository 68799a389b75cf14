//! `/demo`: a small business-side page for newcomers. A form button makes the server call
//! DetectAuth on itself (signed, through the same handler a business backend reaches), sends the
//! person to the H5 page with RedirectUrl back to /demo/result, which shows what
//! GetDetectInfoEnhanced returns: text, best frame, video. No scripts at all; forms work without JS.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::Shared;
use crate::cloud;
use crate::hosting::page_security_headers;
use crate::store::RateLimit;

/// Marks the tokens the demo created; /demo/result shows no other token's result.
pub const DEMO_EXTRA: &str = "faceid-demo";
/// The demo page runs no script; images and the video come inline as data: URLs.
const DEMO_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self' data:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}\
button{font-size:1.1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:0;background:#0052d9;color:#fff;cursor:pointer}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
pre{background:#f5f5f5;padding:.8rem;overflow:auto;font-size:.85rem}img,video{max-width:100%;border-radius:.4rem}\
.pass{color:#067d17}.fail{color:#b3261e}";

fn page(title: &str, body: &str, status: StatusCode) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/demo/style.css\"></head><body>{body}</body></html>",
        escape(title)
    );
    let mut r = (status, Html(html)).into_response();
    page_security_headers(r.headers_mut(), DEMO_CSP);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub async fn stylesheet() -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// The RuleId the demo uses: "1" when configured, else the first enabled light-mode rule.
fn demo_rule(app: &Shared) -> Option<String> {
    let rules = &app.config.rules;
    rules
        .get("1")
        .filter(|r| r.enabled && r.mode_supported())
        .or_else(|| rules.iter().find(|r| r.enabled && r.mode_supported()))
        .map(|r| r.id.clone())
}

pub async fn index(State(app): State<Shared>) -> Response {
    let rule = demo_rule(&app).unwrap_or_else(|| "-".into());
    page(
        "faceid-h5 demo",
        &format!(
            "<h1>faceid-h5 demo</h1>\
             <p>This page plays the business backend. The button makes the server call <code>DetectAuth</code> \
             on itself (RuleId {}), signed with its own SecretId/SecretKey, then sends you to the liveness page. \
             When you finish, the page brings you back here and this page calls <code>GetDetectInfoEnhanced</code> \
             and shows what a business receives.</p>\
             <p>The check flashes a short sequence of colours on the screen. If flashing lights affect you, do not start it.</p>\
             <form method=\"post\" action=\"/demo/start\"><button type=\"submit\">Start a verification</button></form>",
            escape(&rule)
        ),
        StatusCode::OK,
    )
}

fn internal_error(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "demo: internal error");
    error_page("The server had a problem; try again later.")
}

fn error_page(message: &str) -> Response {
    page(
        "faceid-h5 demo: error",
        &format!(
            "<h1>Something went wrong</h1><p>{}</p><p><a href=\"/demo\">Back to the demo</a></p>",
            escape(message)
        ),
        StatusCode::BAD_GATEWAY,
    )
}

/// The demo's own limits on `/demo/start` (each start is a BizToken and an H5 session): per client
/// address, a person trying it out a few times a minute; in all, what one demo machine needs.
const DEMO_STARTS_PER_CLIENT_PER_MINUTE: u32 = 6;
const DEMO_STARTS_PER_HOUR: u32 = 120;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// `scheme://host[:port]` of a base URL.
fn origin_of(base: &str) -> &str {
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest
                .find(['/', '?', '#'])
                .map_or(base.len(), |i| scheme.len() + 3 + i);
            &base[..host_end]
        }
        None => base,
    }
}

/// Whether a POST to /demo/start comes from the demo's own page. Browsers send `Origin` with every
/// POST: it must be the server's public origin, or the origin of the `Host` the request was sent
/// to (the page opened by another name, e.g. 127.0.0.1 for localhost). Without `Origin`, a
/// browser's `Sec-Fetch-Site` must say same-origin (or none: typed in). A request with neither is
/// no browser acting on someone's behalf (curl, a script) and is left to the rate limit.
fn from_own_page(app: &Shared, headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let via_host = host
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"));
        return origin == origin_of(&app.public_url) || via_host;
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

pub async fn start(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !from_own_page(&app, &headers) {
        return page(
            "faceid-h5 demo: refused",
            "<h1>Refused</h1><p>A verification can only be started from the demo page itself.</p>\
             <p><a href=\"/demo\">Go to the demo</a></p>",
            StatusCode::FORBIDDEN,
        );
    }
    let client = hex::encode(Sha256::digest(peer.ip().to_string().as_bytes()));
    let limits = vec![
        RateLimit {
            key: format!("demo:client:{client}"),
            window_ms: MINUTE_MS,
            max: DEMO_STARTS_PER_CLIENT_PER_MINUTE,
        },
        RateLimit {
            key: "demo:all".into(),
            window_ms: HOUR_MS,
            max: DEMO_STARTS_PER_HOUR,
        },
    ];
    let now = app.now_ms();
    match app
        .blocking(move |s| s.store.check_and_count(&limits, now))
        .await
    {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            let mut r = page(
                "faceid-h5 demo: slow down",
                "<h1>Too many verifications started</h1><p>Wait a minute and try again.</p>\
                 <p><a href=\"/demo\">Back to the demo</a></p>",
                StatusCode::TOO_MANY_REQUESTS,
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(MINUTE_MS as u64 / 1000),
            );
            return r;
        }
        Ok(Err(e)) => return internal_error(&e),
        Err(e) => return internal_error(&e),
    }
    let Some(rule) = demo_rule(&app) else {
        return error_page("No enabled light-mode rule is configured.");
    };
    let params = json!({
        "RuleId": rule,
        "RedirectUrl": format!("{}/demo/result", app.public_url),
        "Extra": DEMO_EXTRA,
    });
    match cloud::call_signed(&app, "DetectAuth", &params).await {
        Ok(v) => match v.get("Url").and_then(Value::as_str) {
            Some(url) => Redirect::to(url).into_response(),
            None => error_page("DetectAuth answered without a Url."),
        },
        Err(e) => error_page(&format!("DetectAuth failed: {} ({})", e.message, e.code)),
    }
}

#[derive(Deserialize)]
pub struct ResultQuery {
    #[serde(rename = "BizToken")]
    biz_token: Option<String>,
    token: Option<String>,
}

fn video_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "video/webm"
    } else if bytes.get(4..8) == Some(b"ftyp") {
        "video/mp4"
    } else {
        "application/octet-stream"
    }
}

pub async fn result(State(app): State<Shared>, Query(q): Query<ResultQuery>) -> Response {
    let Some(token) = q.biz_token.or(q.token).filter(|t| !t.is_empty()) else {
        return error_page("No BizToken in the address.");
    };
    let Some(rule) = demo_rule(&app) else {
        return error_page("No enabled light-mode rule is configured.");
    };
    let params =
        json!({ "BizToken": token, "RuleId": rule, "InfoType": "0", "BestFramesCount": 0 });
    let v = match cloud::call_signed(&app, "GetDetectInfoEnhanced", &params).await {
        Ok(v) => v,
        Err(e) => {
            return error_page(&format!(
                "GetDetectInfoEnhanced failed: {} ({})",
                e.message, e.code
            ))
        }
    };
    let text = v.get("Text").cloned().unwrap_or(Value::Null);
    if text.get("Extra").and_then(Value::as_str) != Some(DEMO_EXTRA) {
        return error_page("This BizToken was not created by the demo.");
    }
    let code = text.get("ErrCode").and_then(Value::as_i64);
    let verdict = match code {
        Some(0) => "<p class=\"pass\"><strong>Passed</strong> (ErrCode 0)</p>".to_string(),
        Some(c) => format!(
            "<p class=\"fail\"><strong>Not passed</strong>: ErrCode {c}, {}</p>",
            escape(text.get("ErrMsg").and_then(Value::as_str).unwrap_or(""))
        ),
        None => "<p>The flow has not finished yet (ErrCode is null until it does).</p>".to_string(),
    };
    let mut rows = String::new();
    if let Some(details) = text.get("LivenessDetail").and_then(Value::as_array) {
        for d in details {
            let cell = |k: &str| {
                escape(
                    &d.get(k)
                        .map(|x| match x {
                            Value::String(s) => s.clone(),
                            Value::Null => "-".into(),
                            o => o.to_string(),
                        })
                        .unwrap_or_default(),
                )
            };
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell("ReqTime"),
                cell("Errcode"),
                cell("Errmsg"),
                cell("IsNeedCharge")
            ));
        }
    }
    let frame = v
        .pointer("/BestFrame/BestFrame")
        .and_then(Value::as_str)
        .map(|b| {
            format!(
                "<h2>Best frame</h2><img alt=\"best frame\" src=\"data:image/jpeg;base64,{}\">",
                escape(b)
            )
        })
        .unwrap_or_default();
    let video = v
        .pointer("/VideoData/LivenessVideo")
        .and_then(Value::as_str)
        .map(|b| {
            use base64::Engine;
            let head = base64::engine::general_purpose::STANDARD
                .decode(&b[..b.len().min(16)])
                .unwrap_or_default();
            format!(
                "<h2>Video</h2><video controls src=\"data:{};base64,{}\"></video>",
                video_mime(&head),
                escape(b)
            )
        })
        .unwrap_or_default();
    // The raw Text part as the business receives it (media left out: shown above).
    let raw = serde_json::to_string_pretty(&text).unwrap_or_default();
    page(
        "faceid-h5 demo: result",
        &format!(
            "<h1>Result</h1>{verdict}\
             <table><tr><th>ReqTime</th><th>Errcode</th><th>Errmsg</th><th>IsNeedCharge</th></tr>{rows}</table>\
             {frame}{video}<h2>GetDetectInfoEnhanced Text</h2><pre>{}</pre>\
             <form method=\"post\" action=\"/demo/start\"><button type=\"submit\">Start another verification</button></form>",
            escape(&raw)
        ),
        StatusCode::OK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://localhost:8000"), "http://localhost:8000");
        assert_eq!(origin_of("https://id.example/base?x"), "https://id.example");
    }

    #[test]
    fn video_types() {
        assert_eq!(video_mime(&[0x1A, 0x45, 0xDF, 0xA3, 0]), "video/webm");
        assert_eq!(video_mime(b"\0\0\0\x18ftypmp42"), "video/mp4");
        assert_eq!(video_mime(b"xx"), "application/octet-stream");
    }
}
