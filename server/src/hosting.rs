//! Static hosting of the H5 page: `www/` at `/h5/`, wasm-pack's `pkg/` at `/h5/pkg/`, with MIME
//! types, cache headers and the page's security headers.

use std::path::{Component, PathBuf};
use std::time::UNIX_EPOCH;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::Shared;
pub use faceid_core::protocol::LANDMARK_MODEL_PATH;

/// The page's Content-Security-Policy: scripts and styles only from our origin (no inline script,
/// no inline style), wasm compilation allowed, network only to our origin, camera frames and
/// recordings as blob:/mediastream: URLs.
pub const H5_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'";
/// The camera is for this origin only.
pub const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(), geolocation=()";
/// Files other than HTML may be reused for a minute, then revalidated by ETag (wasm-pack's file
/// names carry no content hash, so long caching would pin old code after an upgrade).
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=60, must-revalidate";

/// Security headers shared by every page this server renders.
pub fn page_security_headers(headers: &mut HeaderMap, csp: &'static str) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page URL carries the BizToken: never send it to another origin as a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The MIME type of a file by extension.
pub fn mime_type(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `/h5` → `/h5/` (the page loads `./boot.js` relative to it), query kept.
pub async fn h5_without_slash(uri: Uri) -> Redirect {
    match uri.query() {
        Some(q) => Redirect::permanent(&format!("/h5/?{q}")),
        None => Redirect::permanent("/h5/"),
    }
}

/// `/h5/` → index.html.
pub async fn h5_index(State(app): State<Shared>, headers: HeaderMap) -> Response {
    serve(&app, "index.html", &headers).await
}

/// `/h5/{*path}`.
pub async fn h5_file(
    State(app): State<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&app, &path, &headers).await
}

/// Maps a request path to a file: `pkg/…` under the pkg directory, anything else under www.
/// Refuses `..`, absolute parts, hidden files and empty segments.
pub fn resolve(www: &std::path::Path, pkg: &std::path::Path, rel: &str) -> Option<PathBuf> {
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_string()
    };
    let mut parts = Vec::new();
    for seg in rel.split('/') {
        if seg.is_empty() || seg.starts_with('.') || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        parts.push(seg);
    }
    let (root, rest) = match parts.split_first() {
        Some((&"pkg", rest)) if !rest.is_empty() => (pkg, rest),
        _ => (www, &parts[..]),
    };
    let mut out = root.to_path_buf();
    for p in rest {
        let c = std::path::Path::new(p).components().next();
        if !matches!(c, Some(Component::Normal(_))) {
            return None;
        }
        out.push(p);
    }
    Some(out)
}

async fn serve(app: &Shared, rel: &str, req_headers: &HeaderMap) -> Response {
    let Some(path) = resolve(&app.config.www_dir, &app.config.pkg_dir, rel) else {
        return not_found_page();
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        _ => return not_found_page(),
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("W/\"{:x}-{:x}\"", meta.len(), mtime);
    let mime = mime_type(&path);
    let cache = if mime.starts_with("text/html") {
        "no-cache"
    } else {
        ASSET_CACHE_CONTROL
    };
    let (headers, current) = asset_headers(req_headers, mime, cache, &etag);
    if current {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => (StatusCode::OK, headers, bytes).into_response(),
        Err(_) => not_found_page(),
    }
}

/// `GET /h5/models/face_landmark.fnn` ([`LANDMARK_MODEL_PATH`]): the landmark model the page
/// loads at start, served from the bytes this server verifies with (never a file that could drift
/// from them). Its ETag is the build's model digest; it is revalidated like the other assets.
pub async fn landmark_model(req_headers: HeaderMap) -> Response {
    let model = faceid_core::engine::FACE_LANDMARK_MODEL;
    let etag = landmark_model_etag();
    let (headers, current) = asset_headers(
        &req_headers,
        "application/octet-stream",
        ASSET_CACHE_CONTROL,
        etag,
    );
    if current {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, model).into_response()
}

/// The headers of a hosted asset (security headers, type, cache policy, ETag), and whether the
/// request's If-None-Match already names `etag` (answer 304 with these headers, no body).
fn asset_headers(
    req_headers: &HeaderMap,
    mime: &'static str,
    cache: &'static str,
    etag: &str,
) -> (HeaderMap, bool) {
    let mut headers = HeaderMap::new();
    page_security_headers(&mut headers, H5_CSP);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    let matches = req_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    (headers, matches)
}

/// A strong ETag from the model's SHA-256 (computed once).
fn landmark_model_etag() -> &'static str {
    use sha2::{Digest, Sha256};
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| {
        let digest = Sha256::digest(faceid_core::engine::FACE_LANDMARK_MODEL);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    })
}

fn not_found_page() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "not found").into_response();
    page_security_headers(r.headers_mut(), H5_CSP);
    r
}

/// Anything no route matches.
pub async fn not_found() -> Response {
    not_found_page()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn paths_resolve_inside_their_roots() {
        let (w, p) = (Path::new("/w"), Path::new("/p"));
        assert_eq!(resolve(w, p, ""), Some(PathBuf::from("/w/index.html")));
        assert_eq!(resolve(w, p, "boot.js"), Some(PathBuf::from("/w/boot.js")));
        assert_eq!(
            resolve(w, p, "pkg/faceid_h5_bg.wasm"),
            Some(PathBuf::from("/p/faceid_h5_bg.wasm"))
        );
        assert_eq!(
            resolve(w, p, "img/a.png"),
            Some(PathBuf::from("/w/img/a.png"))
        );
        for bad in [
            "../etc/passwd",
            "pkg/../x",
            "a//b",
            ".env",
            "a/.git/x",
            "a\\..\\b",
        ] {
            assert_eq!(resolve(w, p, bad), None, "{bad}");
        }
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(
            mime_type(Path::new("x.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            mime_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
    }
}
