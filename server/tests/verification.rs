//! The whole flow through the real HTTP API with videos that ffmpeg encodes from faceid-core's
//! simulator: genuine, replay of another challenge, no face, garbage bytes, too large, too small.

mod common;

use common::{report_for, sim_recording, TestServer};
use faceid_core::sim::Attack;
use faceid_server::sim_video::VideoFormat;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_webm_passes_and_the_business_gets_the_result() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    // 640×480: the server scales it down to analysis size.
    let pass = t
        .genuine_pass_with(&token, 1, VideoFormat::Webm, (640, 480), |_| {})
        .await;
    let (answer, rec) = (&pass.answer, &pass.recording);
    assert_eq!(answer["passed"], true);
    assert_eq!(
        answer["redirectUrl"],
        format!("https://biz.example/done?x=1&token={token}&BizToken={token}&Extra=order-7")
    );

    let info = t.detect_info(&token, "0").await;
    assert_eq!(info["Text"]["ErrCode"], 0, "{info}");
    assert_eq!(info["Text"]["LivenessMode"], 6);
    assert_eq!(info["Text"]["Extra"], "order-7");
    assert_eq!(
        info["Text"]["LivenessDetail"].as_array().unwrap().len(),
        pass.tries
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let frame = b64
        .decode(info["BestFrame"]["BestFrame"].as_str().unwrap())
        .unwrap();
    assert!(
        frame.starts_with(&[0xFF, 0xD8, 0xFF]),
        "best frame is a JPEG"
    );
    let video = b64
        .decode(info["VideoData"]["LivenessVideo"].as_str().unwrap())
        .unwrap();
    assert_eq!(video, rec.video);

    // The flow is over: no new attempt.
    let (status, v) = t.attempt_raw(&token, None).await;
    assert_eq!((status, v["errCode"].as_u64()), (409, Some(14)));
}

/// A genuine person whose page lost its display log is decoded on the issued schedule. Like any
/// genuine session, an attempt may be asked to try again (1202: the sequence is seen, the face's
/// relief is not told apart at this light) but never refused (1002); within a person's tries one
/// passes. Without the schedule nothing decodes and none would pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_mp4_passes_on_the_issued_schedule_when_the_log_is_unusable() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    // The page lost its display log but reported when the hold began.
    t.genuine_pass_with(&token, 2, VideoFormat::Mp4, (320, 240), |report| {
        report.shown.clear()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_uploads_of_one_attempt_get_one_answer() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 10, VideoFormat::Webm);
    let report = report_for(&rec, "video/webm");
    let (first, second) = tokio::join!(
        t.upload(&a.attempt_id, rec.video.clone(), "video/webm", &report),
        t.upload(&a.attempt_id, rec.video.clone(), "video/webm", &report)
    );
    assert_eq!(first, second);
    assert_eq!(first.0, 200, "{first:?}");
    common::genuine_verdict(&first.1);
    let info = t.detect_info(&token, "1").await;
    assert_eq!(info["Text"]["LivenessDetail"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waiting_behind_an_upload_that_breaks_off_is_verified_itself() {
    use tokio::io::AsyncWriteExt;
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 11, VideoFormat::Webm);
    let report = report_for(&rec, "video/webm");

    // The first upload announces the whole recording but sends only its start, then breaks off.
    let addr = t.base.trim_start_matches("http://").to_string();
    let mut cut = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let boundary = "cutcutcut";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"rec\"\r\nContent-Type: video/webm\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&rec.video);
    let head = format!(
        "POST /api/h5/v1/attempts/{}/video?token={token} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        a.attempt_id,
        body.len() + 1000
    );
    cut.write_all(head.as_bytes()).await.unwrap();
    cut.write_all(&body[..body.len() / 2]).await.unwrap();
    cut.flush().await.unwrap();
    // Let the server claim the attempt for the first upload before the retry arrives.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let retry = t.upload(&a.attempt_id, rec.video.clone(), "video/webm", &report);
    let break_off = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        drop(cut);
    };
    let ((status, answer), ()) = tokio::join!(retry, break_off);
    assert_eq!(status, 200, "{answer}");
    common::genuine_verdict(&answer);
    let info = t.detect_info(&token, "1").await;
    assert_eq!(
        info["Text"]["LivenessDetail"].as_array().unwrap().len(),
        1,
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_another_challenge_is_refused() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::Replay, 3, VideoFormat::Webm);
    let (status, answer) = t
        .upload(
            &a.attempt_id,
            rec.video.clone(),
            "video/webm",
            &report_for(&rec, "video/webm"),
        )
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1002)),
        "{answer}"
    );
    assert_eq!(answer["passed"], false);
    assert_eq!(answer["retriesLeft"], 98);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_made_for_an_earlier_attempt_is_refused() {
    // The attacker records a genuine response to attempt 1, then uploads it for attempt 2.
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let first = t.attempt(&token).await;
    let second = t.attempt(&token).await;
    assert_ne!(first.challenge, second.challenge);
    let rec = sim_recording(&first.challenge, Attack::None, 4, VideoFormat::Webm);
    let mut report = report_for(&rec, "video/webm");
    // The page log claims attempt 2's colours at the recording's times.
    report.shown = second.challenge.schedule(rec.hold_start_ms);
    let (_, answer) = t
        .upload(&second.attempt_id, rec.video, "video/webm", &report)
        .await;
    assert_eq!(answer["errCode"], 1002, "{answer}");
}

/// ffmpeg's own test pattern: moving colour bars, no face anywhere.
fn no_face_video(dir: &std::path::Path) -> Vec<u8> {
    common::lavfi_video(
        &dir.join("noface.webm"),
        "testsrc=size=640x480:rate=30:duration=5",
        faceid_server::sim_video::VideoFormat::Webm.encoder_args(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_face_garbage_and_tiny_videos_get_their_codes() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 5, VideoFormat::Webm);
    let report = report_for(&rec, "video/webm");

    let (status, answer) = t
        .upload(
            &a.attempt_id,
            no_face_video(t.data.path()),
            "video/webm",
            &report,
        )
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1210)),
        "{answer}"
    );

    let b = t.attempt(&token).await;
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (status, answer) = t
        .upload(&b.attempt_id, garbage, "video/webm", &report)
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1104)),
        "{answer}"
    );

    let c = t.attempt(&token).await;
    let small = faceid_server::sim_video::SimEncoder::new(VideoFormat::Webm, 500)
        .record(
            &common::astronaut(),
            &c.challenge,
            faceid_core::sim::SimConditions::steady().with_size(200, 150),
            Attack::None,
            6,
        )
        .unwrap();
    let (status, answer) = t
        .upload(
            &c.attempt_id,
            small.video.clone(),
            "video/webm",
            &report_for(&small, "video/webm"),
        )
        .await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (200, Some(1108)),
        "{answer}"
    );

    // Only the first 2 s of a genuine recording: too short.
    let d = t.attempt(&token).await;
    let full = sim_recording(&d.challenge, Attack::None, 7, VideoFormat::Webm);
    let cut = t.data.path().join("cut.webm");
    let src = t.data.path().join("full.webm");
    std::fs::write(&src, &full.video).unwrap();
    let ok = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(&src)
        .args(["-t", "1.5", "-c", "copy"])
        .arg(&cut)
        .status()
        .unwrap();
    assert!(ok.success());
    let (_, answer) = t
        .upload(
            &d.attempt_id,
            std::fs::read(&cut).unwrap(),
            "video/webm",
            &report_for(&full, "video/webm"),
        )
        .await;
    assert_eq!(answer["errCode"], 1303, "{answer}");

    // Four failures recorded, each in LivenessDetail; the flow is still open (retries left).
    let info = t.detect_info(&token, "1").await;
    let codes: Vec<u64> = info["Text"]["LivenessDetail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Errcode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![1210, 1104, 1108, 1303]);
    assert_eq!(info["Text"]["ErrCode"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_8_mb_are_refused_while_streaming() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 8, VideoFormat::Webm);
    let report = report_for(&rec, "video/webm");
    let big = vec![0x42u8; 9 * 1024 * 1024];
    let (status, answer) = t.upload(&a.attempt_id, big, "video/webm", &report).await;
    assert_eq!(
        (status, answer["errCode"].as_u64()),
        (413, Some(1107)),
        "{answer}"
    );
    // The attempt was not used up by the refused upload: the real recording still verifies.
    let (status, answer) = t
        .upload(&a.attempt_id, rec.video, "video/webm", &report)
        .await;
    assert_eq!(status, 200, "{answer}");
    common::genuine_verdict(&answer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_attempt_and_upload_loses_nothing() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 9, VideoFormat::Webm);
    let t = t.restart().await;
    // The challenge issued before the restart is the one the upload is checked against.
    let (status, answer) = t
        .upload(
            &a.attempt_id,
            rec.video.clone(),
            "video/webm",
            &report_for(&rec, "video/webm"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let code = common::genuine_verdict(&answer);
    let t = t.restart().await;
    // … and the answer survives the next restart too (idempotent upload, stored result).
    let (_, again) = t
        .upload(
            &a.attempt_id,
            rec.video.clone(),
            "video/webm",
            &report_for(&rec, "video/webm"),
        )
        .await;
    assert_eq!(answer, again);
    let stored = if code == 0 { json!(0) } else { Value::Null };
    assert_eq!(t.detect_info(&token, "1").await["Text"]["ErrCode"], stored);
}

#[test]
fn rotated_phone_videos_are_decoded_upright_at_analysis_size() {
    // A 640×480 MP4 tagged to be shown rotated by 90°, as phones record in portrait.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.mp4");
    let out = dir.path().join("rotated.mp4");
    common::lavfi_video(
        &plain,
        "testsrc=size=640x480:rate=30:duration=1",
        VideoFormat::Mp4.encoder_args(),
    );
    // ffmpeg 5 writes the rotation (a display matrix) when remuxing with the tag.
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(&plain)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let summary = faceid_server::verify::ffmpeg::decode_rgba(
        &Default::default(),
        &out,
        320,
        240,
        deadline,
        &mut |info, rgba| {
            assert_eq!(rgba.len(), (info.width * info.height * 4) as usize);
            seen.push(*info);
            std::ops::ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(summary.frames, 30);
    let first = seen[0];
    assert_eq!((first.source_width, first.source_height), (480, 640));
    assert_eq!((first.width, first.height), (180, 240));
    // Presentation times step by one 30 fps frame.
    assert!(
        (seen[1].t_ms - seen[0].t_ms - 1000.0 / 30.0).abs() < 1.0,
        "{:?}",
        &seen[..2]
    );
}

/// An executable `ffmpeg` stand-in in `dir`: it notes each run in `runs` (a line per run), waits
/// `delay_secs`, then runs the real ffmpeg.
fn ffmpeg_noting_runs(dir: &std::path::Path, name: &str, delay_secs: f64) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join(name);
    let runs = dir.join(format!("{name}.runs"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{}'\nsleep {delay_secs}\nexec ffmpeg \"$@\"\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// How many times the stand-in of [`ffmpeg_noting_runs`] ran.
fn runs_of(dir: &std::path::Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{name}.runs")))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Two instances on one database, leases shorter than a verification: the instance verifying
/// renews its lease while it works, so the page's retry reaching the other instance after the
/// first lease would have run out waits for the answer instead of taking the attempt over and
/// verifying it again (after which the first one's answer would be refused, and so on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_longer_than_its_lease_renews_it_and_is_answered_once() {
    use std::sync::Arc;
    use std::time::Duration;
    /// Shorter than the slow verification below; renewed every third of it.
    const LEASE: Duration = Duration::from_secs(2);
    const SLOW_FFMPEG_SECS: f64 = 5.0;
    let shared = tempfile::tempdir().unwrap();
    let database = faceid_server::store::DatabaseUrl::Sqlite(shared.path().join("faceid.sqlite"));
    let instance = |name: &'static str, delay_secs: f64| {
        let (database, ffmpeg) = (
            database.clone(),
            ffmpeg_noting_runs(shared.path(), name, delay_secs),
        );
        move |c: &mut faceid_server::ServerConfig| {
            c.database = database;
            c.instance_id = name.into();
            c.lease = Some(LEASE);
            c.tools.ffmpeg = ffmpeg;
            // Leases run on real time here: the renewals are what is under test.
            c.clock = Arc::new(faceid_server::clock::SystemClock);
        }
    };
    let a = TestServer::start_with(instance("a", SLOW_FFMPEG_SECS)).await;
    let b = TestServer::start_with(instance("b", 0.0)).await;
    let token = a.detect_auth(json!({})).await;
    let attempt = a.attempt(&token).await;
    let rec = sim_recording(&attempt.challenge, Attack::None, 12, VideoFormat::Webm);
    let report = report_for(&rec, "video/webm");

    let first = a.upload(
        &attempt.attempt_id,
        rec.video.clone(),
        "video/webm",
        &report,
    );
    let retry = async {
        // A has claimed the attempt and started verifying; then one lease goes by, and more.
        while runs_of(shared.path(), "a") == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(LEASE + LEASE / 4).await;
        let (store, id) = (b.server.state().store.clone(), attempt.attempt_id.clone());
        let read_at = faceid_server::clock::Clock::now_ms(&faceid_server::clock::SystemClock);
        let held = tokio::task::spawn_blocking(move || store.attempt(&id))
            .await
            .unwrap()
            .unwrap()
            .expect("the attempt is stored");
        let r = b
            .upload_response(
                Some(&token),
                &attempt.attempt_id,
                rec.video.clone(),
                "video/webm",
                &report,
            )
            .await;
        (held, read_at, common::status_and_json(r).await)
    };
    let ((status, answer), (held, read_at, (retry_status, retry_answer))) =
        tokio::join!(first, retry);
    assert_eq!(status, 200, "{answer}");
    common::genuine_verdict(&answer);
    assert_eq!((retry_status, &retry_answer), (200, &answer));
    // When the retry came, more than a lease after A's claim, A's lease still held: renewed.
    let lease = held.lease.expect("A's lease held while it verified");
    assert_eq!(lease.owner, "a");
    assert!(lease.expires_at_ms > read_at, "{lease:?} read at {read_at}");
    assert_eq!(
        (runs_of(shared.path(), "a"), runs_of(shared.path(), "b")),
        (1, 0),
        "verified once, by A"
    );
    assert_eq!(b.attempts_recorded(&token).await, 1);
}

/// The same simulated session encodes to the same bytes, so faceid-eval's figures can be
/// reproduced seed by seed (libvpx's realtime mode with a positive `cpu-used` picked its speed
/// from wall-clock encode time, and one seed gave different outcomes from run to run).
#[test]
fn a_simulated_session_encodes_to_the_same_bytes_every_time() {
    use rand_core::SeedableRng;
    let challenge = faceid_core::challenge::ColourChallenge::generate(
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(11),
    );
    for format in [VideoFormat::Webm, VideoFormat::Mp4] {
        let first = common::sim_recording_sized(&challenge, Attack::None, 5, format, 200, 150);
        let again = common::sim_recording_sized(&challenge, Attack::None, 5, format, 200, 150);
        assert!(!first.video.is_empty());
        assert!(
            first.video == again.video,
            "{format:?}: {} and {} bytes, not the same",
            first.video.len(),
            again.video.len()
        );
    }
}
