//! The cloud API, the H5 API's lifecycle rules and the static hosting, over real HTTP on loopback
//! with real SQLite in a temp directory and a clock the tests move.

mod common;

use common::{empty_report, garbage, TestServer};
use faceid_server::cloud::sign::{sign, SigningKey};
use faceid_server::rules::Rules;
use serde_json::{json, Value};

fn error_code(v: &Value) -> &str {
    v["Response"]["Error"]["Code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn signatures_are_checked() {
    let t = TestServer::start().await;
    let creds = t.server.credentials().clone();
    let good = SigningKey {
        secret_id: &creds.secret_id,
        secret_key: &creds.secret_key,
    };
    let now = t.server.state().clock.now_ms() / 1000;
    let params = json!({ "RuleId": "1" });

    let ok = t.cloud_signed_with("DetectAuth", &params, &good, now).await;
    assert!(ok["Response"]["BizToken"].is_string(), "{ok}");
    assert!(ok["Response"]["RequestId"].is_string());

    let wrong_key = SigningKey {
        secret_id: &creds.secret_id,
        secret_key: "not-the-key",
    };
    let v = t
        .cloud_signed_with("DetectAuth", &params, &wrong_key, now)
        .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure", "{v}");
    assert!(v["Response"]["RequestId"].is_string());

    let v = t
        .cloud_signed_with("DetectAuth", &params, &good, now - 301)
        .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureExpire", "{v}");
    let v = t
        .cloud_signed_with("DetectAuth", &params, &good, now + 299)
        .await;
    assert!(v["Response"]["BizToken"].is_string(), "{v}");

    let unknown_id = SigningKey {
        secret_id: "AKIDnobody",
        secret_key: &creds.secret_key,
    };
    let v = t
        .cloud_signed_with("DetectAuth", &params, &unknown_id, now)
        .await;
    assert_eq!(error_code(&v), "AuthFailure.SecretIdNotFound", "{v}");

    // A body altered after signing.
    let body = serde_json::to_vec(&params).unwrap();
    let headers = sign(&good, &t.host(), "DetectAuth", &body, now);
    let pairs: Vec<(String, String)> = headers
        .pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let v = t.cloud_raw(&pairs, br#"{"RuleId":"2"}"#.to_vec()).await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure", "{v}");

    // No Authorization at all.
    let v = t
        .cloud_raw(
            &[("Content-Type".into(), "application/json".into())],
            body.clone(),
        )
        .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure", "{v}");

    // Signed, but an unknown action.
    let v = t.cloud("DescribeInstances", json!({})).await;
    assert_eq!(error_code(&v), "InvalidAction", "{v}");

    // CORS stays closed: a preflight gets no Access-Control headers.
    let r = t
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/", t.base))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn detect_auth_validates_its_fields() {
    let t = TestServer::start().await;
    let cases = [
        (json!({}), "InvalidParameter"),
        (
            json!({ "RuleId": "42" }),
            "InvalidParameterValue.RuleIdNotExist",
        ),
        (
            json!({ "RuleId": "1", "RedirectUrl": "javascript:alert(1)" }),
            "InvalidParameter",
        ),
        (
            json!({ "RuleId": "1", "RedirectUrl": format!("https://b.example/{}", "a".repeat(1100)) }),
            "InvalidParameter",
        ),
        (
            json!({ "RuleId": "1", "IdCard": "11010519491231002x", "Name": "张三" }),
            "InvalidParameter",
        ),
        (
            json!({ "RuleId": "1", "Name": "名".repeat(33) }),
            "InvalidParameter",
        ),
        (
            json!({ "RuleId": "1", "Extra": "e".repeat(1025) }),
            "InvalidParameter",
        ),
        (json!({ "RuleId": 1 }), "InvalidParameter"),
        (
            json!({ "RuleId": "1", "ImageBase64": "data:image/png;base64,AAAA" }),
            "InvalidParameter",
        ),
        (
            json!({ "RuleId": "1", "Encryption": { "EncryptList": ["IdCard"], "CiphertextBlob": "x", "Iv": "y" } }),
            "InvalidParameter",
        ),
    ];
    for (params, code) in cases {
        let v = t.cloud("DetectAuth", params.clone()).await;
        assert_eq!(error_code(&v), code, "{params} → {v}");
    }
    let v = t
        .cloud(
            "DetectAuth",
            json!({ "RuleId": "1", "IdCard": "11010519491231002X", "Name": "张三" }),
        )
        .await;
    let token = v["Response"]["BizToken"].as_str().unwrap();
    assert_eq!(token, token.to_ascii_uppercase());
    assert_eq!(token.len(), 36);
    assert_eq!(
        v["Response"]["Url"],
        format!("{}/h5/?token={token}", t.base)
    );

    let live = t.cloud("GetLiveCode", json!({})).await;
    let code = live["Response"]["LiveCode"].as_str().unwrap();
    assert!(
        code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let seq = t.cloud("GetActionSequence", json!({})).await;
    assert!(["1,2", "2,1"].contains(&seq["Response"]["ActionSequence"].as_str().unwrap()));
}

#[tokio::test]
async fn id_card_check_digits_and_birth_dates_are_checked() {
    let t = TestServer::start().await;
    // GB 11643-1999: the 18th character is the ISO 7064 MOD 11-2 check of the first 17 and
    // characters 7-14 are the birth date.
    for (id, why) in [
        ("110105194912310020", "check digit (X is right)"),
        ("110105194913310021", "month 13 (its check digit is right)"),
        ("110105190002290017", "29 February 1900"),
        ("11010520990101001X", "born in the future"),
    ] {
        let v = t
            .cloud(
                "DetectAuth",
                json!({ "RuleId": "1", "IdCard": id, "Name": "张三" }),
            )
            .await;
        assert_eq!(error_code(&v), "InvalidParameterValue", "{why}: {v}");
    }
    for id in [
        "11010519491231002X",
        "110105200002290013",
        "110105194912310038",
    ] {
        let v = t
            .cloud(
                "DetectAuth",
                json!({ "RuleId": "1", "IdCard": id, "Name": "张三" }),
            )
            .await;
        assert!(v["Response"]["BizToken"].is_string(), "{id}: {v}");
    }
}

#[tokio::test]
async fn unsupported_modes_and_disabled_rules_answer_honestly() {
    let t = TestServer::start_with(|c| {
        c.rules = Rules::from_toml(
            "[[rules]]\nid = \"1\"\n[[rules]]\nid = \"silent\"\nmode = \"silent\"\n[[rules]]\nid = \"off\"\nenabled = false\n",
        )
        .unwrap();
    })
    .await;
    let v = t.cloud("DetectAuth", json!({ "RuleId": "silent" })).await;
    assert_eq!(error_code(&v), "InvalidParameterValue.RuleIdDisabled");
    assert!(
        v["Response"]["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("not yet supported"),
        "{v}"
    );
    let v = t.cloud("DetectAuth", json!({ "RuleId": "off" })).await;
    assert_eq!(error_code(&v), "InvalidParameterValue.RuleIdDisabled");
}

#[tokio::test]
async fn detect_info_before_and_after_the_flow() {
    let t = TestServer::start().await;
    let token = t
        .detect_auth(json!({ "IdCard": "11010519491231002X", "Name": "张三" }))
        .await;
    let v = t
        .cloud(
            "GetDetectInfoEnhanced",
            json!({ "BizToken": "NOPE", "RuleId": "1" }),
        )
        .await;
    assert_eq!(error_code(&v), "InvalidParameter");
    assert_eq!(v["Response"]["Error"]["Message"], "非法BizToken。");
    let v = t
        .cloud(
            "GetDetectInfoEnhanced",
            json!({ "BizToken": token, "RuleId": "1", "InfoType": "9" }),
        )
        .await;
    assert_eq!(error_code(&v), "InvalidParameter");
    let v = t
        .cloud(
            "GetDetectInfoEnhanced",
            json!({ "BizToken": token, "RuleId": "1", "BestFramesCount": 11 }),
        )
        .await;
    assert_eq!(error_code(&v), "InvalidParameter");

    let info = t.detect_info(&token, "1").await;
    assert_eq!(info["Text"]["ErrCode"], Value::Null, "{info}");
    assert_eq!(info["Text"]["IdCard"], "11010519491231002X");
    assert_eq!(info["Text"]["Name"], "张三");
    assert_eq!(info["Text"]["Extra"], "order-7");
    assert_eq!(info["BestFrame"], Value::Null);
    assert_eq!(info["VideoData"], Value::Null);
    let info = t.detect_info(&token, "34").await;
    assert_eq!(info["Text"], Value::Null);
    assert_eq!(info["BestFrame"]["BestFrame"], Value::Null);
    assert_eq!(info["VideoData"]["LivenessVideo"], Value::Null);

    // Expired without an attempt: the flow ends with 15.
    t.clock.advance_ms(7_200_001);
    let info = t.detect_info(&token, "1").await;
    assert_eq!(info["Text"]["ErrCode"], 15, "{info}");
}

#[tokio::test]
async fn tokens_and_attempts_expire() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let (status, s) = t.session(&token).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["mode"], "light");
    assert_eq!(s["retriesLeft"], 99);
    assert_eq!(s["maxVideoBytes"], 8_388_608);
    assert_eq!(s["redirectUrl"], "https://biz.example/done?x=1");

    // An attempt whose video comes after 60 s is answered 1001, and that answer sticks.
    let a = t.attempt(&token).await;
    t.clock.advance_ms(60_001);
    let (status, first) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(
        (status, first["errCode"].as_u64()),
        (200, Some(1001)),
        "{first}"
    );
    let (_, again) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(first, again);

    t.clock.advance_ms(7_200_000);
    let (status, e) = t.session(&token).await;
    assert_eq!((status, e["errCode"].as_u64()), (410, Some(15)), "{e}");
    let (status, e) = t.attempt_raw(&token, None).await;
    assert_eq!((status, e["errCode"].as_u64()), (410, Some(15)), "{e}");
    let (status, e) = t.session("UNKNOWN").await;
    assert_eq!((status, e["errCode"].as_u64()), (404, Some(15)), "{e}");
}

#[tokio::test]
async fn retry_budget_and_idempotent_uploads() {
    let t = TestServer::start_with(|c| {
        c.rules = Rules::from_toml("[[rules]]\nid = \"1\"\nretries = 2\n").unwrap()
    })
    .await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let (status, first) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(
        (
            status,
            first["errCode"].as_u64(),
            first["retriesLeft"].as_u64()
        ),
        (200, Some(1104), Some(1)),
        "{first}"
    );
    // The same attempt uploaded again (other bytes, even): the first answer, nothing re-verified.
    let (status, again) = t
        .upload(
            &a.attempt_id,
            b"other".to_vec(),
            "video/webm",
            &empty_report(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(first, again);

    let b = t.attempt(&token).await;
    let (_, second) = t
        .upload(&b.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(
        (second["errCode"].as_u64(), second["retriesLeft"].as_u64()),
        (Some(1104), Some(0)),
        "{second}"
    );
    let (status, e) = t.attempt_raw(&token, None).await;
    assert_eq!((status, e["errCode"].as_u64()), (403, Some(16)), "{e}");
    let (status, e) = t.session(&token).await;
    assert_eq!((status, e["errCode"].as_u64()), (403, Some(16)), "{e}");

    let info = t.detect_info(&token, "1").await;
    assert_eq!(info["Text"]["ErrCode"], 1104, "{info}");
    assert_eq!(info["Text"]["LivenessDetail"].as_array().unwrap().len(), 2);
    assert_eq!(info["Text"]["LivenessDetail"][0]["IsNeedCharge"], false);

    // An empty video is refused before any verification and leaves the attempt usable.
    let t2 = TestServer::start().await;
    let token = t2.detect_auth(json!({})).await;
    let a = t2.attempt(&token).await;
    let (status, e) = t2
        .upload(&a.attempt_id, vec![], "video/webm", &empty_report())
        .await;
    assert_eq!((status, e["errCode"].as_u64()), (400, Some(1107)), "{e}");
    let r = t2.garbage_upload(Some(&token), "nosuchattempt").await;
    let (status, e) = common::status_and_json(r).await;
    assert_eq!(status, 404, "{e}");
}

#[tokio::test]
async fn rate_limits_per_id_card_and_per_browser() {
    let t = TestServer::start_with(|c| {
        c.idcard_per_minute = 2;
        c.idcard_per_day = 3;
        c.browser_per_day = 2;
    })
    .await;
    let person = json!({ "RuleId": "1", "IdCard": "11010519491231002X", "Name": "张三" });
    for _ in 0..2 {
        assert!(t.cloud("DetectAuth", person.clone()).await["Response"]["BizToken"].is_string());
    }
    let v = t.cloud("DetectAuth", person.clone()).await;
    assert_eq!(error_code(&v), "LimitExceeded", "{v}");
    // Another person is not affected.
    let other = json!({ "RuleId": "1", "IdCard": "110105194912310038" });
    assert!(t.cloud("DetectAuth", other).await["Response"]["BizToken"].is_string());
    t.clock.advance_ms(61_000);
    assert!(t.cloud("DetectAuth", person.clone()).await["Response"]["BizToken"].is_string());
    t.clock.advance_ms(61_000);
    let v = t.cloud("DetectAuth", person.clone()).await;
    assert_eq!(error_code(&v), "LimitExceeded", "day limit: {v}");
    t.clock.advance_ms(86_400_000);
    assert!(t.cloud("DetectAuth", person).await["Response"]["BizToken"].is_string());

    let token = t.detect_auth(json!({})).await;
    let browser = "0123456789abcdef0123456789abcdef";
    for _ in 0..2 {
        assert_eq!(t.attempt_raw(&token, Some(browser)).await.0, 201);
    }
    let (status, e) = t.attempt_raw(&token, Some(browser)).await;
    assert_eq!((status, e["errCode"].as_u64()), (429, Some(2018)), "{e}");
    assert_eq!(
        t.attempt_raw(&token, Some("fedcba9876543210fedcba9876543210"))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn the_session_sets_a_browser_cookie() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let r = t
        .http
        .get(format!("{}/api/h5/v1/session?token={token}", t.base))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("faceid_browser=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn retention_purge_deletes_results_and_media() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let (_, answer) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(answer["errCode"], 1104);
    let video = t
        .data
        .path()
        .join("media")
        .join(format!("{}.video", a.attempt_id));
    assert!(video.is_file());

    t.clock.advance_ms(3 * 86_400_000 - 1_000);
    assert_eq!(t.server.purge_now().await.unwrap().media_deleted, 0);
    assert_eq!(
        t.detect_info(&token, "1").await["Text"]["LivenessDetail"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    t.clock.advance_ms(2_000);
    // Past retention the token answers as unknown even before the purge runs …
    let v = t
        .cloud(
            "GetDetectInfoEnhanced",
            json!({ "BizToken": token, "RuleId": "1" }),
        )
        .await;
    assert_eq!(v["Response"]["Error"]["Message"], "非法BizToken。");
    // … and the purge deletes the rows and the media.
    assert_eq!(t.server.purge_now().await.unwrap().media_deleted, 1);
    assert!(!video.exists());
    assert!(t.server.state().store.token(&token).unwrap().is_none());
}

/// Asking for `url` again with its ETag answers 304 Not Modified.
async fn revalidates(t: &TestServer, url: &str, etag: reqwest::header::HeaderValue) {
    let r = t
        .http
        .get(url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304, "{url}");
}

#[tokio::test]
async fn the_page_is_served_with_its_headers() {
    let t = TestServer::start().await;
    let r = t
        .http
        .get(format!("{}/h5/?token=ABC", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'")
            && !csp.contains("script-src 'self' 'unsafe-inline'"),
        "{csp}"
    );
    assert!(h["permissions-policy"]
        .to_str()
        .unwrap()
        .contains("camera=(self)"));
    assert_eq!(h["referrer-policy"], "no-referrer");

    let url = format!("{}/h5/pkg/faceid_h5_bg.wasm", t.base);
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    revalidates(&t, &url, r.headers()["etag"].clone()).await;

    // The landmark model the page loads: the very bytes the verifier embeds, revalidated by ETag.
    let url = format!("{}/h5/models/face_landmark.fnn", t.base);
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].clone();
    let model = r.bytes().await.unwrap();
    assert!(model[..] == *faceid_core::engine::FACE_LANDMARK_MODEL);
    assert!(faceid_core::analysis::FrameAnalyser::with_landmark_model(&model).is_ok());
    revalidates(&t, &url, etag).await;

    let r = t
        .http
        .get(format!("{}/h5/boot.js", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    for bad in [
        "/h5/%2e%2e/Cargo.toml",
        "/h5/pkg/../../x",
        "/h5/nope.js",
        "/nothing",
    ] {
        let r = t.http.get(format!("{}{bad}", t.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{}/h5?token=T", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/h5/?token=T");
}

#[tokio::test]
async fn the_demo_starts_a_flow_and_shows_its_result() {
    let t = TestServer::start_with(|c| c.demo = true).await;
    let page = t.http.get(format!("{}/demo", t.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("action=\"/demo/start\"") && !html.contains("<script"),
        "{html}"
    );

    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .post(format!("{}/demo/start", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let prefix = format!("{}/h5/?token=", t.base);
    assert!(location.starts_with(&prefix), "{location}");
    let token = &location[prefix.len()..];
    let (_, session) = t.session(token).await;
    assert_eq!(session["redirectUrl"], format!("{}/demo/result", t.base));

    let result = t
        .http
        .get(format!(
            "{}/demo/result?token={token}&BizToken={token}",
            t.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), 200);
    assert!(result.text().await.unwrap().contains("has not finished"));
    // A token the demo did not create is not shown.
    let foreign = t.detect_auth(json!({})).await;
    let r = t
        .http
        .get(format!("{}/demo/result?BizToken={foreign}", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn the_demo_can_be_turned_off() {
    let t = TestServer::start_with(|c| c.demo = false).await;
    assert_eq!(
        t.http
            .get(format!("{}/demo", t.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn an_engine_past_its_time_limit_answers_1001() {
    let t = TestServer::start_with(|c| c.verify_timeout = std::time::Duration::ZERO).await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    // A real WebM (anything else is refused before the engine starts).
    let video = common::lavfi_video(
        &t.data.path().join("pattern.webm"),
        "testsrc=size=320x240:rate=30:duration=1",
        faceid_server::sim_video::VideoFormat::Webm.encoder_args(),
    );
    let (status, answer) = t
        .upload(&a.attempt_id, video, "video/webm", &empty_report())
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1001)),
        "{answer}"
    );
}
