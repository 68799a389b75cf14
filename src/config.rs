//! Page options: from the page's own query string (`?token=…&lang=…`) or from an embedder's
//! `mount(element, options)` call.

use faceid_core::protocol::{H5_API_PREFIX, LANDMARK_MODEL_PATH};
use faceid_core::Locale;

/// What the page needs to start.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PageConfig {
    /// Origin (and path prefix) of the server; empty = same origin.
    pub api_base: String,
    pub token: Option<String>,
    /// Overrides the session's locale.
    pub locale: Option<Locale>,
}

impl PageConfig {
    /// Reads `token` and `lang` from a query string (with or without the leading `?`).
    pub fn from_query(query: &str) -> PageConfig {
        let mut config = PageConfig::default();
        for pair in query.trim_start_matches('?').split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "token" | "BizToken" if config.token.is_none() && !value.trim().is_empty() => {
                    config.token = Some(value.trim().to_string());
                }
                "lang" | "locale" => config.locale = Locale::parse(&value).or(config.locale),
                _ => {}
            }
        }
        config
    }

    /// The URL of an H5 API path such as `/session`.
    pub fn api_url(&self, path: &str) -> String {
        format!(
            "{}{}{}",
            self.api_base.trim_end_matches('/'),
            H5_API_PREFIX,
            path
        )
    }

    /// The URL of the landmark model the server hosts for the page.
    pub fn landmark_model_url(&self) -> String {
        format!(
            "{}{}",
            self.api_base.trim_end_matches('/'),
            LANDMARK_MODEL_PATH
        )
    }
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn reads_token_and_language() {
        let c = PageConfig::from_query("?token=ABC-123&lang=en");
        assert_eq!(c.token.as_deref(), Some("ABC-123"));
        assert_eq!(c.locale, Some(Locale::En));
        let c = PageConfig::from_query("lang=fr&token=%41%42+C");
        assert_eq!(c.token.as_deref(), Some("AB C"));
        assert_eq!(c.locale, None);
        assert_eq!(PageConfig::from_query("token=&x").token, None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn api_urls() {
        let c = PageConfig {
            api_base: "https://id.example/".into(),
            ..PageConfig::default()
        };
        assert_eq!(
            c.api_url("/session"),
            "https://id.example/api/h5/v1/session"
        );
        assert_eq!(
            PageConfig::default().api_url("/attempts"),
            "/api/h5/v1/attempts"
        );
        assert_eq!(
            c.landmark_model_url(),
            "https://id.example/h5/models/face_landmark.fnn"
        );
    }
}
