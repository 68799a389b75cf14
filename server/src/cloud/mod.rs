//! The cloud API (PROTOCOL.md §1): `POST /`, TC3-HMAC-SHA256 signed, API 3.0 envelopes.
//! CORS stays closed: no Access-Control headers are ever sent, so browsers cannot call it.

pub mod encryption;
pub mod id_card;
pub mod sign;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use faceid_core::redirect::validate_redirect_url;
use faceid_core::{Locale, ResultCode};
use rand_core::TryRngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::app::{AppState, Shared};
use crate::store::{AttemptRecord, RateLimit, TokenRecord, TokenStatus};

/// PROTOCOL.md §1 field limits.
pub const MAX_NAME_CHARS: usize = 32;
pub const MAX_REDIRECT_URL_LEN: usize = 1024;
pub const MAX_EXTRA_LEN: usize = 1024;
pub const MAX_IMAGE_BASE64_LEN: usize = 3 * 1024 * 1024;
/// BestFramesCount range.
pub const MAX_BEST_FRAMES: u32 = 10;
/// The message of an unknown or purged BizToken (PROTOCOL.md §1, verbatim).
pub const INVALID_BIZ_TOKEN: &str = "非法BizToken。";
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// An error envelope: a documented code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    pub code: &'static str,
    pub message: String,
}

impl CloudError {
    fn new(code: &'static str, message: impl Into<String>) -> CloudError {
        CloudError {
            code,
            message: message.into(),
        }
    }
    fn invalid(message: impl Into<String>) -> CloudError {
        CloudError::new("InvalidParameter", message)
    }
    fn internal(what: impl std::fmt::Display) -> CloudError {
        tracing::error!(error = %what, "cloud API internal error");
        CloudError::new("FailedOperation.UnKnown", "internal error")
    }
}

fn envelope(request_id: &str, result: Result<Map<String, Value>, CloudError>) -> Response {
    let body = match result {
        Ok(mut fields) => {
            fields.insert("RequestId".into(), Value::String(request_id.to_string()));
            json!({ "Response": Value::Object(fields) })
        }
        Err(e) => {
            json!({ "Response": { "Error": { "Code": e.code, "Message": e.message }, "RequestId": request_id } })
        }
    };
    // API 3.0 answers HTTP 200 for every envelope, errors included.
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /`: verifies the signature, then dispatches on `X-TC-Action`.
pub async fn handle(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = dispatch(&app, &headers, &body).await;
    if let Err(e) = &result {
        tracing::info!(code = e.code, "cloud API error");
    }
    envelope(&request_id, result)
}

async fn dispatch(
    app: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, CloudError> {
    let req = sign::ReceivedRequest {
        authorization: header_str(headers, "authorization"),
        timestamp: header_str(headers, "x-tc-timestamp"),
        content_type: header_str(headers, "content-type"),
        host: header_str(headers, "host"),
        body,
    };
    let creds = &app.config.credentials;
    sign::verify(
        &req,
        &creds.secret_id,
        &creds.secret_key,
        app.clock.now_secs(),
    )
    .map_err(|e| CloudError::new(e.code(), e.to_string()))?;
    if let Some(v) = header_str(headers, "x-tc-version") {
        if v != sign::API_VERSION {
            return Err(CloudError::invalid(format!(
                "X-TC-Version must be {}",
                sign::API_VERSION
            )));
        }
    }
    let action = header_str(headers, "x-tc-action").unwrap_or("");
    let params: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| CloudError::invalid(format!("the body is not JSON: {e}")))?
    };
    match action {
        "DetectAuth" => detect_auth(app, parse(params)?).await,
        "GetDetectInfoEnhanced" => detect_info(app, parse(params)?).await,
        "GetLiveCode" => live_code(),
        "GetActionSequence" => action_sequence(),
        _ => Err(CloudError::new(
            "InvalidAction",
            "unknown or missing X-TC-Action",
        )),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, CloudError> {
    serde_json::from_value(v).map_err(|e| CloudError::invalid(e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DetectAuthRequest {
    rule_id: Option<String>,
    id_card: Option<String>,
    name: Option<String>,
    redirect_url: Option<String>,
    extra: Option<String>,
    image_base64: Option<String>,
    encryption: Option<Value>,
}

/// The cloud error of an encryption failure: FaceID's `InvalidParameter.UnsupportEncryptField` for
/// a field that cannot be encrypted, `InvalidParameter` for the rest (one message for every way a
/// ciphertext fails to decrypt).
fn encryption_error(e: encryption::EncryptionError) -> CloudError {
    match e {
        encryption::EncryptionError::UnsupportedField => {
            CloudError::new("InvalidParameter.UnsupportEncryptField", e.to_string())
        }
        encryption::EncryptionError::Random => CloudError::internal(e),
        _ => CloudError::invalid(e.to_string()),
    }
}

/// Rate-limit key of an IdCard (hashed: the events table never holds the number itself).
fn id_card_key(id: &str) -> String {
    format!("idcard:{}", hex::encode(Sha256::digest(id.as_bytes())))
}

async fn detect_auth(
    app: &Shared,
    req: DetectAuthRequest,
) -> Result<Map<String, Value>, CloudError> {
    let rule_id = req
        .rule_id
        .filter(|r| !r.is_empty())
        .ok_or_else(|| CloudError::invalid("RuleId is required"))?;
    let rule = app
        .config
        .rules
        .get(&rule_id)
        .ok_or_else(|| {
            CloudError::new(
                "InvalidParameterValue.RuleIdNotExist",
                "RuleId does not exist",
            )
        })?
        .clone();
    if !rule.enabled {
        return Err(CloudError::new(
            "InvalidParameterValue.RuleIdDisabled",
            "RuleId is disabled",
        ));
    }
    if !rule.mode_supported() {
        return Err(CloudError::new(
            "InvalidParameterValue.RuleIdDisabled",
            format!("liveness mode {} of this RuleId is not yet supported by this server (light mode is)", rule.mode.digit()),
        ));
    }
    let mut id_card = req.id_card.filter(|s| !s.is_empty());
    let mut name = req.name.filter(|s| !s.is_empty());
    // Encrypted IdCard/Name (PROTOCOL.md §4): decrypted first, then checked like plain ones.
    if let Some(enc) = req.encryption.filter(|e| !e.is_null()) {
        let params: encryption::EncryptionParams = serde_json::from_value(enc)
            .map_err(|e| CloudError::invalid(format!("Encryption: {e}")))?;
        let (sent_id, sent_name) = (id_card.clone(), name.clone());
        let plain =
            encryption::decrypt_request_fields(&app.encryption, &params, |field| match field {
                "IdCard" => sent_id.clone(),
                "Name" => sent_name.clone(),
                _ => None,
            })
            .map_err(encryption_error)?;
        for (field, value) in plain {
            match field.as_str() {
                "IdCard" => id_card = Some(value),
                _ => name = Some(value),
            }
        }
    }
    if let Some(id) = &id_card {
        // A malformed number is a bad parameter; a well-formed one whose check digit or birth date
        // is wrong is a bad value (FaceID's `InvalidParameterValue`).
        id_card::validate(id, app.now_ms()).map_err(|e| match e {
            id_card::IdCardError::Format => CloudError::invalid(e.to_string()),
            id_card::IdCardError::CheckDigit | id_card::IdCardError::BirthDate => {
                CloudError::new("InvalidParameterValue", e.to_string())
            }
        })?;
    }
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return Err(CloudError::invalid(format!(
            "Name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    let redirect_url = req
        .redirect_url
        .filter(|s| !s.is_empty())
        .or(rule.redirect_url.clone());
    if let Some(u) = &redirect_url {
        if u.len() > MAX_REDIRECT_URL_LEN {
            return Err(CloudError::invalid(format!(
                "RedirectUrl is longer than {MAX_REDIRECT_URL_LEN}"
            )));
        }
        validate_redirect_url(u).map_err(|e| CloudError::invalid(format!("RedirectUrl: {e}")))?;
    }
    let extra = req.extra.filter(|s| !s.is_empty());
    if extra.as_ref().is_some_and(|e| e.len() > MAX_EXTRA_LEN) {
        return Err(CloudError::invalid(format!(
            "Extra is longer than {MAX_EXTRA_LEN}"
        )));
    }
    if let Some(img) = req.image_base64.filter(|s| !s.is_empty()) {
        check_image_base64(&img)?;
        return Err(CloudError::invalid(
            "ImageBase64: face comparison is not yet supported by this server; call DetectAuth without it",
        ));
    }

    let now = app.now_ms();
    if let Some(id) = &id_card {
        let key = id_card_key(id);
        let limits = vec![
            RateLimit {
                key: format!("{key}:m"),
                window_ms: MINUTE_MS,
                max: app.config.idcard_per_minute,
            },
            RateLimit {
                key: format!("{key}:d"),
                window_ms: DAY_MS,
                max: app.config.idcard_per_day,
            },
        ];
        let allowed = app
            .blocking(move |s| s.store.check_and_count(&limits, now))
            .await
            .map_err(CloudError::internal)?
            .map_err(CloudError::internal)?;
        if !allowed {
            return Err(CloudError::new(
                "LimitExceeded",
                "too many verifications for this IdCard; try again later",
            ));
        }
    }

    let biz_token = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    let ttl_ms = i64::try_from(app.config.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let record = TokenRecord {
        biz_token: biz_token.clone(),
        rule_id: rule.id.clone(),
        mode: rule.mode,
        locale: rule.locale,
        id_card,
        name,
        redirect_url,
        extra,
        issued_at_ms: now,
        expires_at_ms: now.saturating_add(ttl_ms),
        retry_budget: rule.retries,
        attempts_used: 0,
        status: TokenStatus::Open,
        final_code: None,
    };
    app.blocking(move |s| s.store.insert_token(&record))
        .await
        .map_err(CloudError::internal)?
        .map_err(CloudError::internal)?;
    let mut out = Map::new();
    out.insert(
        "Url".into(),
        Value::String(format!("{}/h5/?token={biz_token}", app.public_url)),
    );
    out.insert("BizToken".into(), Value::String(biz_token));
    Ok(out)
}

/// ImageBase64: ≤ 3 MB, plain Base64 (no `data:` prefix), a JPEG or PNG.
fn check_image_base64(img: &str) -> Result<(), CloudError> {
    if img.len() > MAX_IMAGE_BASE64_LEN {
        return Err(CloudError::invalid("ImageBase64 is larger than 3 MB"));
    }
    if img.starts_with("data:") {
        return Err(CloudError::invalid(
            "ImageBase64 must not carry a data: prefix",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(img)
        .map_err(|_| CloudError::invalid("ImageBase64 is not Base64"))?;
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    if !(jpeg || png) {
        return Err(CloudError::invalid(
            "ImageBase64 must be a JPEG or PNG image",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DetectInfoRequest {
    biz_token: Option<String>,
    rule_id: Option<String>,
    info_type: Option<String>,
    best_frames_count: Option<u32>,
    #[allow(dead_code)]
    is_cut_id_card_image: Option<bool>,
    #[allow(dead_code)]
    is_need_id_card_avatar: Option<bool>,
    is_encrypt_response: Option<bool>,
    encryption: Option<Value>,
}

/// Which parts GetDetectInfoEnhanced returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfoParts {
    pub text: bool,
    pub id_card: bool,
    pub best_frame: bool,
    pub video: bool,
}

/// Parses InfoType: digits 0–4, combinable; "0" (or absent) means all.
pub fn parse_info_type(s: Option<&str>) -> Option<InfoParts> {
    let s = s.unwrap_or("0");
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'4').contains(&b)) {
        return None;
    }
    let mut p = InfoParts::default();
    for b in s.bytes() {
        match b {
            b'0' => {
                p = InfoParts {
                    text: true,
                    id_card: true,
                    best_frame: true,
                    video: true,
                }
            }
            b'1' => p.text = true,
            b'2' => p.id_card = true,
            b'3' => p.best_frame = true,
            _ => p.video = true,
        }
    }
    Some(p)
}

fn code_msg(code: ResultCode) -> Value {
    Value::String(code.message(Locale::ZhCn).to_string())
}

/// Codes for which the engine actually examined a video (billing flag in LivenessDetail).
fn examined_video(code: ResultCode) -> bool {
    !matches!(
        code,
        ResultCode::VideoUndecodable
            | ResultCode::VideoEmptyOrTooLarge
            | ResultCode::VideoResolutionTooLow
            | ResultCode::EngineTimeout
            | ResultCode::InternalError
    )
}

/// The flow's overall code: None while it may still change.
fn flow_code(token: &TokenRecord, attempts: &[AttemptRecord], now_ms: i64) -> Option<ResultCode> {
    if let Some(c) = token.final_code {
        return Some(c);
    }
    if now_ms > token.expires_at_ms {
        // Expired without ending: the last answered attempt's code, else 15.
        return Some(
            attempts
                .iter()
                .rev()
                .find_map(|a| a.result.as_ref().map(|r| r.err_code))
                .unwrap_or(ResultCode::TokenExpired),
        );
    }
    None
}

async fn detect_info(
    app: &Shared,
    req: DetectInfoRequest,
) -> Result<Map<String, Value>, CloudError> {
    let biz_token = req
        .biz_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CloudError::invalid("BizToken is required"))?;
    let rule_id = req
        .rule_id
        .filter(|r| !r.is_empty())
        .ok_or_else(|| CloudError::invalid("RuleId is required"))?;
    let parts = parse_info_type(req.info_type.as_deref())
        .ok_or_else(|| CloudError::invalid("InfoType must be digits 0-4"))?;
    let frames_wanted = req.best_frames_count.unwrap_or(0);
    if frames_wanted > MAX_BEST_FRAMES {
        return Err(CloudError::invalid("BestFramesCount must be 0-10"));
    }
    // The key the response is encrypted with (PROTOCOL.md §4): the caller's own, wrapped in this
    // request's Encryption (the SDK sends the same CiphertextBlob form as for DetectAuth).
    let response_key = match req.encryption.filter(|e| !e.is_null()) {
        Some(enc) => Some(response_key(app, enc)?),
        None => None,
    };
    let whole_body = req.is_encrypt_response == Some(true);
    if whole_body && response_key.is_none() {
        return Err(CloudError::invalid(
            "IsEncryptResponse needs Encryption with the CiphertextBlob of the key to encrypt the response with",
        ));
    }
    if app.config.rules.get(&rule_id).is_none() {
        return Err(CloudError::new(
            "InvalidParameterValue.RuleIdNotExist",
            "RuleId does not exist",
        ));
    }
    let now = app.now_ms();
    let retention_ms = i64::try_from(app.config.retention.as_millis()).unwrap_or(i64::MAX);
    let loaded = app
        .blocking(
            move |s| -> Result<
                Option<(TokenRecord, Vec<AttemptRecord>)>,
                crate::store::StoreError,
            > {
                let Some(t) = s.store.token(&biz_token)? else {
                    return Ok(None);
                };
                let a = s.store.attempts_for_token(&t.biz_token)?;
                Ok(Some((t, a)))
            },
        )
        .await
        .map_err(CloudError::internal)?
        .map_err(CloudError::internal)?;
    // Past retention the record may linger until the next purge: treat it as gone already.
    let Some((token, attempts)) = loaded.filter(|(t, _)| now - t.issued_at_ms <= retention_ms)
    else {
        return Err(CloudError::invalid(INVALID_BIZ_TOKEN));
    };
    if token.rule_id != rule_id {
        return Err(CloudError::invalid("RuleId does not match the BizToken"));
    }

    let code = flow_code(&token, &attempts, now);
    // The deciding attempt: the one that passed, else the last one that examined a video.
    let deciding = attempts
        .iter()
        .find(|a| a.result.as_ref().is_some_and(|r| r.err_code.is_pass()))
        .or_else(|| {
            attempts
                .iter()
                .rev()
                .find(|a| a.result.as_ref().is_some_and(|r| r.video_key.is_some()))
        });

    let mut out = Map::new();
    out.insert(
        "Text".into(),
        if parts.text || parts.id_card {
            text_part(&token, &attempts, code)
        } else {
            Value::Null
        },
    );
    out.insert(
        "IdCardData".into(),
        if parts.id_card {
            json!({ "OcrFront": null, "OcrBack": null })
        } else {
            Value::Null
        },
    );

    let best_frame_keys: Vec<(String, f32, bool)> = attempts
        .iter()
        .filter_map(|a| {
            let r = a.result.as_ref()?;
            Some((
                r.best_frame_key.clone()?,
                r.best_frame_score.unwrap_or(0.0),
                Some(a.attempt_id.as_str()) == deciding.map(|d| d.attempt_id.as_str()),
            ))
        })
        .collect();
    let video_key = deciding
        .and_then(|a| a.result.as_ref())
        .and_then(|r| r.video_key.clone());
    let (want_frames, want_video) = (parts.best_frame, parts.video);
    let media = app
        .blocking(move |s| -> Result<LoadedMedia, crate::media::MediaError> {
            let mut main = None;
            let mut others: Vec<(f32, Vec<u8>)> = Vec::new();
            if want_frames {
                for (key, score, is_deciding) in &best_frame_keys {
                    if let Some(b) = s.media.get(key)? {
                        if *is_deciding {
                            main = Some(b);
                        } else {
                            others.push((*score, b));
                        }
                    }
                }
                others.sort_by(|a, b| b.0.total_cmp(&a.0));
            }
            let video = match (&video_key, want_video) {
                (Some(k), true) => s.media.get(k)?,
                _ => None,
            };
            Ok((main, others.into_iter().map(|(_, b)| b).collect(), video))
        })
        .await
        .map_err(CloudError::internal)?
        .map_err(CloudError::internal)?;
    let b64 = |b: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(b));
    let (main_frame, other_frames, video) = media;
    out.insert(
        "BestFrame".into(),
        if parts.best_frame {
            let mut frames: Vec<Value> = main_frame
                .iter()
                .chain(other_frames.iter())
                .take(frames_wanted as usize)
                .map(|b| b64(b))
                .collect();
            if frames_wanted == 0 {
                frames.clear();
            }
            json!({ "BestFrame": main_frame.as_deref().map(b64), "BestFrames": frames })
        } else {
            Value::Null
        },
    );
    out.insert(
        "VideoData".into(),
        if parts.video {
            json!({ "LivenessVideo": video.as_deref().map(b64) })
        } else {
            Value::Null
        },
    );
    match response_key {
        Some((key, blob)) if whole_body => encrypt_whole_body(out, &key, &blob),
        Some((key, blob)) => {
            let encryption = encrypt_text_fields(&mut out, &key, &blob)?;
            out.insert("Encryption".into(), encryption);
            Ok(out)
        }
        None => {
            out.insert("Encryption".into(), Value::Null);
            Ok(out)
        }
    }
}

/// Unwraps the key of a GetDetectInfoEnhanced `Encryption` (Algorithm and CiphertextBlob).
fn response_key(app: &Shared, enc: Value) -> Result<(encryption::SessionKey, String), CloudError> {
    let params: encryption::EncryptionParams =
        serde_json::from_value(enc).map_err(|e| CloudError::invalid(format!("Encryption: {e}")))?;
    let algorithm =
        encryption::Algorithm::parse(params.algorithm.as_deref()).map_err(encryption_error)?;
    let blob = params
        .ciphertext_blob
        .filter(|b| !b.is_empty())
        .ok_or_else(|| encryption_error(encryption::EncryptionError::MissingKey))?;
    let key = app
        .encryption
        .unwrap_key(algorithm, &blob)
        .map_err(encryption_error)?;
    Ok((key, blob))
}

/// The response's `Encryption` object.
fn encryption_object(
    key: &encryption::SessionKey,
    blob: &str,
    iv: &[u8],
    list: &[&str],
    tags: &[String],
) -> Value {
    json!({
        "EncryptList": list,
        "CiphertextBlob": blob,
        "Iv": encryption::to_b64(iv),
        "Algorithm": key.algorithm().name(),
        "TagList": tags,
    })
}

/// `Encryption` without IsEncryptResponse: Text.IdCard and Text.Name (and their copies in each
/// LivenessDetail) become Base64 ciphertexts under one fresh IV; returns the Encryption object.
fn encrypt_text_fields(
    out: &mut Map<String, Value>,
    key: &encryption::SessionKey,
    blob: &str,
) -> Result<Value, CloudError> {
    let iv = key.fresh_iv().map_err(encryption_error)?;
    let mut list = Vec::new();
    let mut tags = Vec::new();
    if let Some(text) = out.get_mut("Text").and_then(Value::as_object_mut) {
        for (field, detail_field) in [("IdCard", "Idcard"), ("Name", "Name")] {
            let Some(plain) = text.get(field).and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let sealed = key
                .encrypt(&iv, plain.as_bytes())
                .map_err(encryption_error)?;
            let ciphertext = Value::String(encryption::to_b64(&sealed.ciphertext));
            text.insert(field.into(), ciphertext.clone());
            if let Some(details) = text.get_mut("LivenessDetail").and_then(Value::as_array_mut) {
                for detail in details.iter_mut().filter_map(Value::as_object_mut) {
                    if detail.get(detail_field).is_some_and(|v| !v.is_null()) {
                        detail.insert(detail_field.into(), ciphertext.clone());
                    }
                }
            }
            list.push(field);
            tags.extend(sealed.tag.map(|t| encryption::to_b64(&t)));
        }
    }
    Ok(encryption_object(key, blob, &iv, &list, &tags))
}

/// IsEncryptResponse: the whole answer (everything but RequestId) as one ciphertext in
/// `EncryptedBody`, the way FaceID's SDK decrypts it (`CryptoUtil.bodyDecrypt`).
fn encrypt_whole_body(
    out: Map<String, Value>,
    key: &encryption::SessionKey,
    blob: &str,
) -> Result<Map<String, Value>, CloudError> {
    let iv = key.fresh_iv().map_err(encryption_error)?;
    let mut plain = out;
    plain.insert("Encryption".into(), Value::Null);
    let body = serde_json::to_vec(&Value::Object(plain.clone())).map_err(CloudError::internal)?;
    let sealed = key.encrypt(&iv, &body).map_err(encryption_error)?;
    let tags: Vec<String> = sealed.tag.iter().map(|t| encryption::to_b64(t)).collect();
    let mut encrypted: Map<String, Value> =
        plain.keys().map(|k| (k.clone(), Value::Null)).collect();
    encrypted.insert(
        "EncryptedBody".into(),
        Value::String(encryption::to_b64(&sealed.ciphertext)),
    );
    encrypted.insert(
        "Encryption".into(),
        encryption_object(key, blob, &iv, &[encryption::ENCRYPTED_BODY_FIELD], &tags),
    );
    Ok(encrypted)
}

/// `GET /encryption/public-keys`: the public keys a caller wraps its key with, per algorithm.
pub async fn public_keys(State(app): State<Shared>) -> Response {
    let body = json!({
        "AES-256-CBC": { "KeyWrap": "RSA PKCS#1 v1.5", "PublicKey": app.encryption.rsa_public_pem() },
        "SM4-GCM": { "KeyWrap": "SM2 C1C3C2", "PublicKey": app.encryption.sm2_public_pem() },
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /encryption/rsa-public-key.pem` (PKCS#1, `BEGIN RSA PUBLIC KEY`).
pub async fn rsa_public_key_pem(State(app): State<Shared>) -> Response {
    pem_response(app.encryption.rsa_public_pem())
}

/// `GET /encryption/sm2-public-key.pem` (SubjectPublicKeyInfo, `BEGIN PUBLIC KEY`).
pub async fn sm2_public_key_pem(State(app): State<Shared>) -> Response {
    pem_response(app.encryption.sm2_public_pem())
}

fn pem_response(pem: String) -> Response {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response()
}

/// The deciding attempt's best frame, the other attempts' best frames (best first), the video.
type LoadedMedia = (Option<Vec<u8>>, Vec<Vec<u8>>, Option<Vec<u8>>);

fn text_part(token: &TokenRecord, attempts: &[AttemptRecord], code: Option<ResultCode>) -> Value {
    let mode = token.mode.digit();
    let details: Vec<Value> = attempts
        .iter()
        .map(|a| {
            let c = a.result.as_ref().map(|r| r.err_code);
            json!({
                "ReqTime": a.issued_at_ms.to_string(),
                "Seq": a.attempt_id,
                "Idcard": token.id_card,
                "Name": token.name,
                "Sim": null,
                "IsNeedCharge": c.is_some_and(examined_video),
                "Errcode": c,
                "Errmsg": c.map(code_msg),
                "Livestatus": c,
                "Livemsg": c.map(code_msg),
                "Comparestatus": null,
                "Comparemsg": null,
                "LivenessMode": mode,
            })
        })
        .collect();
    json!({
        "ErrCode": code,
        "ErrMsg": code.map(code_msg),
        "IdCard": token.id_card,
        "Name": token.name,
        "LiveStatus": code,
        "LiveMsg": code.map(code_msg),
        // No face comparison is made (DetectAuth refuses ImageBase64), so these stay null.
        "Comparestatus": null,
        "Comparemsg": null,
        "Sim": null,
        "Location": null,
        "Extra": token.extra,
        "LivenessMode": mode,
        "LivenessDetail": details,
    })
}

fn random_u32() -> Result<u32, CloudError> {
    rand_core::OsRng
        .try_next_u32()
        .map_err(CloudError::internal)
}

fn live_code() -> Result<Map<String, Value>, CloudError> {
    let code = random_u32()? % 10_000;
    let mut out = Map::new();
    out.insert("LiveCode".into(), Value::String(format!("{code:04}")));
    Ok(out)
}

fn action_sequence() -> Result<Map<String, Value>, CloudError> {
    let seq = if random_u32()? & 1 == 0 { "1,2" } else { "2,1" };
    let mut out = Map::new();
    out.insert("ActionSequence".into(), Value::String(seq.into()));
    Ok(out)
}

/// Calls the cloud API handler in-process with a correctly signed request (the /demo page uses
/// this: the same handler and signature check a business backend goes through).
pub async fn call_signed(app: &Shared, action: &str, params: &Value) -> Result<Value, CloudError> {
    let body = serde_json::to_vec(params).map_err(CloudError::internal)?;
    let host = public_host(&app.public_url);
    let creds = &app.config.credentials;
    let key = sign::SigningKey {
        secret_id: &creds.secret_id,
        secret_key: &creds.secret_key,
    };
    let signed = sign::sign(&key, &host, action, &body, app.clock.now_secs());
    let mut headers = HeaderMap::new();
    for (name, value) in signed.pairs() {
        let v = HeaderValue::from_str(value).map_err(CloudError::internal)?;
        headers.insert(axum::http::HeaderName::from_static(lower_static(name)), v);
    }
    let mut fields = dispatch(app, &headers, &body).await?;
    fields.insert(
        "RequestId".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    Ok(Value::Object(fields))
}

fn lower_static(name: &'static str) -> &'static str {
    match name {
        "Authorization" => "authorization",
        "Content-Type" => "content-type",
        "Host" => "host",
        "X-TC-Action" => "x-tc-action",
        "X-TC-Version" => "x-tc-version",
        "X-TC-Timestamp" => "x-tc-timestamp",
        _ => "x-tc-region",
    }
}

/// `host[:port]` of a base URL.
pub fn public_host(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or("").to_string()
}

impl AppState {
    /// Mainly for tests: the credentials a business backend signs with.
    pub fn signing_key(&self) -> sign::SigningKey<'_> {
        sign::SigningKey {
            secret_id: &self.config.credentials.secret_id,
            secret_key: &self.config.credentials.secret_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_types() {
        assert_eq!(
            parse_info_type(None),
            Some(InfoParts {
                text: true,
                id_card: true,
                best_frame: true,
                video: true
            })
        );
        assert_eq!(
            parse_info_type(Some("13")),
            Some(InfoParts {
                text: true,
                best_frame: true,
                ..Default::default()
            })
        );
        assert_eq!(
            parse_info_type(Some("4")),
            Some(InfoParts {
                video: true,
                ..Default::default()
            })
        );
        assert_eq!(parse_info_type(Some("5")), None);
        assert_eq!(parse_info_type(Some("")), None);
        assert_eq!(parse_info_type(Some("1a")), None);
    }

    #[test]
    fn hosts() {
        assert_eq!(public_host("http://127.0.0.1:8000"), "127.0.0.1:8000");
        assert_eq!(public_host("https://id.example/base"), "id.example");
    }

    #[test]
    fn image_checks() {
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n....");
        assert!(check_image_base64(&png).is_ok());
        assert!(check_image_base64(&format!("data:image/png;base64,{png}")).is_err());
        assert!(check_image_base64("!!!").is_err());
        assert!(
            check_image_base64(&base64::engine::general_purpose::STANDARD.encode(b"GIF89a"))
                .is_err()
        );
    }
}
