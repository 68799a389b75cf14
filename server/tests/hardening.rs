//! The attack run of issue #11, repeated as tests: each test is one row of that table, as a
//! hostile client would play it, over real HTTP against the real server (real ffmpeg, real SQLite).

mod common;

use common::{empty_report, garbage, report_for, sim_recording, TestServer};
use faceid_core::sim::Attack;
use faceid_server::sim_video::VideoFormat;
use serde_json::json;

/// Row 12: the attempt id alone is not a credential.
#[tokio::test]
async fn an_upload_needs_the_token_that_owns_its_attempt() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let stranger = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;

    let (status, e) = t
        .upload_as(
            None,
            &a.attempt_id,
            garbage(),
            "video/webm",
            &empty_report(),
        )
        .await;
    assert_eq!(
        (status, e["errCode"].as_u64()),
        (403, Some(15)),
        "no token: {e}"
    );
    let (status, e) = t
        .upload_as(
            Some(&stranger),
            &a.attempt_id,
            garbage(),
            "video/webm",
            &empty_report(),
        )
        .await;
    assert_eq!(
        (status, e["errCode"].as_u64()),
        (403, Some(15)),
        "another token: {e}"
    );

    // Neither refused upload touched the attempt: its owner's upload is the one verified.
    let (status, answer) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1104)),
        "{answer}"
    );
    let info = t.detect_info(&token, "1").await;
    assert_eq!(
        info["Text"]["LivenessDetail"].as_array().map(Vec::len),
        Some(1),
        "{info}"
    );
}

/// Row 7: once a token passed, its other pending attempt is not verified, recorded or billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_attempt_is_refused_after_its_token_passed() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let first = t.attempt(&token).await;
    let second = t.attempt(&token).await;
    let rec = sim_recording(&first.challenge, Attack::None, 21, VideoFormat::Webm);
    let (_, passed) = t
        .upload(
            &first.attempt_id,
            rec.video.clone(),
            "video/webm",
            &report_for(&rec, "video/webm"),
        )
        .await;
    assert_eq!(passed["errCode"], 0, "{passed}");

    let (status, e) = t
        .upload(&second.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!((status, e["errCode"].as_u64()), (409, Some(14)), "{e}");
    let info = t.detect_info(&token, "1").await;
    let details = info["Text"]["LivenessDetail"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(info["Text"]["ErrCode"], 0, "{info}");
    assert_eq!(details[1]["Errcode"], serde_json::Value::Null, "{info}");
    assert_eq!(details[1]["IsNeedCharge"], false, "{info}");
}
