//! TC3-HMAC-SHA256 request signing (PROTOCOL.md §1), both sides: [`sign`] for callers (tests, the
//! /demo page, the e2e crate), [`verify`] for the server.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::clock::utc_date;

type HmacSha256 = Hmac<Sha256>;

/// The service name in the credential scope.
pub const SERVICE: &str = "faceid";
/// The API version every request names.
pub const API_VERSION: &str = "2018-03-01";
/// The signature algorithm.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The only content type the cloud API accepts (and signs).
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// PROTOCOL.md §1: a timestamp more than 300 s from the server clock is refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The headers of a signed cloud API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    pub authorization: String,
    pub content_type: String,
    pub host: String,
    pub action: String,
    pub version: String,
    pub timestamp: String,
    pub region: String,
}

impl SignedHeaders {
    /// As (name, value) pairs, ready for any HTTP client.
    pub fn pairs(&self) -> [(&'static str, &str); 7] {
        [
            ("Authorization", &self.authorization),
            ("Content-Type", &self.content_type),
            ("Host", &self.host),
            ("X-TC-Action", &self.action),
            ("X-TC-Version", &self.version),
            ("X-TC-Timestamp", &self.timestamp),
            ("X-TC-Region", &self.region),
        ]
    }
}

/// What a caller needs to sign a request.
#[derive(Clone, Debug)]
pub struct SigningKey<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The derived signing key for a date: HMAC("TC3"+key, date) → "faceid" → "tc3_request".
fn derived_key(secret_key: &str, date: &str) -> Vec<u8> {
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac(&k_date, SERVICE.as_bytes());
    hmac(&k_service, b"tc3_request")
}

/// The string to sign for `POST /` with the given content type, host and body. Header values are
/// used as sent (trimmed), as the official SDKs sign them.
pub fn string_to_sign(content_type: &str, host: &str, body: &[u8], timestamp: i64) -> String {
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        content_type.trim(),
        host.trim(),
        sha256_hex(body)
    );
    let date = utc_date(timestamp);
    format!(
        "{ALGORITHM}\n{timestamp}\n{date}/{SERVICE}/tc3_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex signature of a request.
pub fn signature(
    secret_key: &str,
    content_type: &str,
    host: &str,
    body: &[u8],
    timestamp: i64,
) -> String {
    let date = utc_date(timestamp);
    hex::encode(hmac(
        &derived_key(secret_key, &date),
        string_to_sign(content_type, host, body, timestamp).as_bytes(),
    ))
}

/// Signs a cloud API call (`POST /` to `host` with JSON `body`) at `timestamp` (Unix seconds).
pub fn sign(
    key: &SigningKey<'_>,
    host: &str,
    action: &str,
    body: &[u8],
    timestamp: i64,
) -> SignedHeaders {
    let sig = signature(key.secret_key, CONTENT_TYPE, host, body, timestamp);
    let date = utc_date(timestamp);
    SignedHeaders {
        authorization: format!(
            "{ALGORITHM} Credential={}/{date}/{SERVICE}/tc3_request, SignedHeaders=content-type;host, Signature={sig}",
            key.secret_id
        ),
        content_type: CONTENT_TYPE.to_string(),
        host: host.to_string(),
        action: action.to_string(),
        version: API_VERSION.to_string(),
        timestamp: timestamp.to_string(),
        region: "ap-guangzhou".to_string(),
    }
}

/// A parsed `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: String,
    pub signature: String,
}

/// Why a request's signature was refused. Each maps to a documented cloud error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Authorization header is missing or malformed")]
    Malformed,
    #[error("the X-TC-Timestamp header is missing or not a number")]
    BadTimestamp,
    #[error(
        "the request timestamp is more than {MAX_CLOCK_SKEW_SECS} s away from the server time"
    )]
    Expired,
    #[error("unknown SecretId")]
    UnknownSecretId,
    #[error("the signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// The cloud API error code (PROTOCOL.md §1).
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Expired => "AuthFailure.SignatureExpire",
            SignatureError::UnknownSecretId => "AuthFailure.SecretIdNotFound",
            SignatureError::Malformed | SignatureError::BadTimestamp | SignatureError::Mismatch => {
                "AuthFailure.SignatureFailure"
            }
        }
    }
}

/// Parses `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(header: &str) -> Result<Authorization, SignatureError> {
    let rest = header
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(SignatureError::Malformed)?;
    let (mut credential, mut signed_headers, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => sig = Some(v.trim()),
            _ => return Err(SignatureError::Malformed),
        }
    }
    let credential = credential.ok_or(SignatureError::Malformed)?;
    let mut scope = credential.split('/');
    let (Some(id), Some(date), Some(service), Some("tc3_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(SignatureError::Malformed);
    };
    Ok(Authorization {
        secret_id: id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers.ok_or(SignatureError::Malformed)?.to_string(),
        signature: sig.ok_or(SignatureError::Malformed)?.to_ascii_lowercase(),
    })
}

/// The parts of a received request that the signature covers.
#[derive(Clone, Debug)]
pub struct ReceivedRequest<'a> {
    pub authorization: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub host: Option<&'a str>,
    pub body: &'a [u8],
}

/// Verifies a received request against the server's credentials at `now_secs`.
/// The signature comparison runs in constant time.
pub fn verify(
    req: &ReceivedRequest<'_>,
    secret_id: &str,
    secret_key: &str,
    now_secs: i64,
) -> Result<(), SignatureError> {
    let auth = parse_authorization(req.authorization.ok_or(SignatureError::Malformed)?)?;
    let timestamp: i64 = req
        .timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SignatureError::BadTimestamp)?;
    if (now_secs - timestamp).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Expired);
    }
    let id_matches: bool =
        subtle::ConstantTimeEq::ct_eq(auth.secret_id.as_bytes(), secret_id.as_bytes()).into();
    if !id_matches {
        return Err(SignatureError::UnknownSecretId);
    }
    if auth.service != SERVICE
        || auth.signed_headers != "content-type;host"
        || auth.date != utc_date(timestamp)
    {
        return Err(SignatureError::Mismatch);
    }
    let (Some(content_type), Some(host)) = (req.content_type, req.host) else {
        return Err(SignatureError::Mismatch);
    };
    let given = hex::decode(&auth.signature).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(&derived_key(secret_key, &auth.date))
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(string_to_sign(content_type, host, req.body, timestamp).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SigningKey<'static> = SigningKey {
        secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
    };

    /// Reference value computed with the official tencentcloud-sdk-python-common signer
    /// (`AbstractClient._get_tc3_signature`) for the same inputs.
    #[test]
    fn matches_the_official_sdk_signer() {
        let body = br#"{"RuleId":"1","RedirectUrl":"https://biz.example/done"}"#;
        assert_eq!(utc_date(1_700_000_000), "2023-11-14");
        assert_eq!(
            signature(
                KEY.secret_key,
                "application/json",
                "127.0.0.1:8000",
                body,
                1_700_000_000
            ),
            "91ff96dab79cc3532c95aeb9a4e5b433a03f5803bfa07b0d935dfdeea393550f"
        );
    }

    #[test]
    fn sign_then_verify() {
        let body = br#"{"RuleId":"1"}"#;
        let h = sign(&KEY, "127.0.0.1:8000", "DetectAuth", body, 1_700_000_000);
        let req = ReceivedRequest {
            authorization: Some(&h.authorization),
            timestamp: Some(&h.timestamp),
            content_type: Some(&h.content_type),
            host: Some(&h.host),
            body,
        };
        assert_eq!(
            verify(&req, KEY.secret_id, KEY.secret_key, 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            verify(&req, KEY.secret_id, KEY.secret_key, 1_700_000_301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(&req, KEY.secret_id, "other", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&req, "AKIDother", KEY.secret_key, 1_700_000_000),
            Err(SignatureError::UnknownSecretId)
        );
        let altered = ReceivedRequest {
            body: br#"{"RuleId":"2"}"#,
            ..req.clone()
        };
        assert_eq!(
            verify(&altered, KEY.secret_id, KEY.secret_key, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        let other_host = ReceivedRequest {
            host: Some("evil:1"),
            ..req.clone()
        };
        assert_eq!(
            verify(&other_host, KEY.secret_id, KEY.secret_key, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        let none = ReceivedRequest {
            authorization: None,
            ..req
        };
        assert_eq!(
            verify(&none, KEY.secret_id, KEY.secret_key, 1_700_000_000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn malformed_authorizations() {
        for bad in [
            "",
            "Basic abc",
            "TC3-HMAC-SHA256 Credential=a/b/c",
            "TC3-HMAC-SHA256 Credential=a/b/c/tc3_request, Foo=1",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad}");
        }
    }
}
