//! The redirect back to the business: RedirectUrl with `token`, `BizToken` (and `Extra`) added to
//! its query, keeping what is already there. Only http(s) targets are ever produced, so a
//! `javascript:` or `data:` RedirectUrl can never run in the person's browser.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("redirect URL must start with http:// or https://")]
    NotHttp,
    #[error("redirect URL has no host")]
    NoHost,
    #[error("redirect URL contains control characters or spaces")]
    BadCharacters,
}

/// Checks that `url` is an absolute http(s) URL with a host and no control characters.
pub fn validate_redirect_url(url: &str) -> Result<(), RedirectError> {
    if url.chars().any(|c| c.is_control() || c == ' ' || c == '\\') {
        return Err(RedirectError::BadCharacters);
    }
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        r
    } else {
        return Err(RedirectError::NotHttp);
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(RedirectError::NoHost);
    }
    Ok(())
}

/// Builds the redirect target: `base` with `token=<biz_token>&BizToken=<biz_token>[&Extra=<extra>]`
/// appended to its query (before any `#fragment`), existing parameters kept.
pub fn build_redirect_url(
    base: &str,
    biz_token: &str,
    extra: Option<&str>,
) -> Result<String, RedirectError> {
    validate_redirect_url(base)?;
    let (before_fragment, fragment) = match base.find('#') {
        Some(i) => (&base[..i], &base[i..]),
        None => (base, ""),
    };
    let mut out = String::with_capacity(base.len() + 2 * biz_token.len() + 32);
    out.push_str(before_fragment);
    let mut sep = if before_fragment.contains('?') {
        if before_fragment.ends_with('?') || before_fragment.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    let mut add = |out: &mut String, key: &str, value: &str| {
        out.push_str(sep);
        out.push_str(key);
        out.push('=');
        out.push_str(&percent_encode(value));
        sep = "&";
    };
    add(&mut out, "token", biz_token);
    add(&mut out, "BizToken", biz_token);
    if let Some(extra) = extra.filter(|e| !e.is_empty()) {
        add(&mut out, "Extra", extra);
    }
    out.push_str(fragment);
    Ok(out)
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_query_and_fragment() {
        let u = build_redirect_url("https://biz.example/cb?a=1&b=x#top", "TOK-1", Some("o 1&2"))
            .unwrap();
        assert_eq!(
            u,
            "https://biz.example/cb?a=1&b=x&token=TOK-1&BizToken=TOK-1&Extra=o%201%262#top"
        );
        assert_eq!(
            build_redirect_url("http://h/p", "T", None).unwrap(),
            "http://h/p?token=T&BizToken=T"
        );
        assert_eq!(
            build_redirect_url("http://h/p?", "T", Some("")).unwrap(),
            "http://h/p?token=T&BizToken=T"
        );
    }

    #[test]
    fn refuses_non_http() {
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,x",
            "//evil",
            "ftp://h/",
            "https://",
            "http:///path",
            "https://h/\nx",
            " https://h/",
        ] {
            assert!(build_redirect_url(bad, "T", None).is_err(), "{bad}");
        }
    }
}
