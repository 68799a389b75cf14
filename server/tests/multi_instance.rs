//! Two real `faceid-server` processes on one PostgreSQL and one S3 bucket (moto), all started here
//! on free ports in temp dirs (issue #13's multi-instance test). DetectAuth on A; session, attempt
//! and upload on B, whose verification is held (its `--ffmpeg` is a stand-in that waits as long as
//! B lives); B is killed with `kill -9` in the middle of it. The page's retry goes to A, which
//! answers it busy (503, `Retry-After`) while B's lease holds — the default lease, as deployed — and
//! once it ran out takes the attempt over and verifies it within the attempt's 60 s (not 1001
//! "timed out"), once: a repeated upload gets the stored answer, GetDetectInfoEnhanced gives that
//! one answer with the video. Then both instances,
//! restarted with a retention of a second, purge at once: every object in the bucket is deleted,
//! none missed, none deleted twice.
//!
//! The test prints one line, `multi-instance outcome: … lost=X doubled=Y`, before it asserts:
//! scripts/soak-multi-instance.sh runs it many times and counts those.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::moto::MotoServer;
use common::postgres::PostgresServer;
use common::{report_for, sim_recording, ServerProcess, PROCESS_BOUND};
use faceid_core::sim::Attack;
use faceid_server::sim_video::VideoFormat;
use faceid_server::store::{AttemptState, PostgresStore, VerificationStore};
use serde_json::{json, Value};

const BUCKET: &str = "faceid-media";
const PREFIX: &str = "shared";
/// A lease far longer than any wait the server lets a retry have, for the test where only that
/// bound may end the wait.
const LONG_LEASE_SECS: &str = "120";
/// Uploads A verifies besides the attempt under test (undecodable bytes: a stored video each, no
/// best frame), so the purge has more objects to share between the instances.
const OTHER_UPLOADS: usize = 6;
/// How often the test looks again at something it waits for.
const POLL: Duration = Duration::from_millis(50);

/// An `ffmpeg` for an instance under test: `runs` gets a line per run. `hold`: instead of running
/// ffmpeg, wait as long as the instance that started it lives (B's verification never ends; when
/// B is killed the stand-in exits too, so nothing outlives the test). Otherwise the real ffmpeg.
fn ffmpeg_stand_in(dir: &Path, name: &str, hold: bool) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join(name);
    let runs = dir.join(format!("{name}.runs"));
    let then = if hold {
        "while kill -0 \"$PPID\" 2>/dev/null; do sleep 0.1; done\nexit 1"
    } else {
        "exec ffmpeg \"$@\""
    };
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho run >> '{}'\n{then}\n", runs.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, runs)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Waits until instance `b`'s ffmpeg stand-in has logged a run (`runs`): it is verifying.
async fn until_verifying(runs: &Path, b: &ServerProcess) {
    let until = Instant::now() + PROCESS_BOUND;
    while count_lines(runs) == 0 {
        assert!(
            Instant::now() < until,
            "B never started verifying; log:\n{}",
            b.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The `media_deleted` figures of an instance's "retention purge" log lines, and how many deletes
/// it logged as failed.
fn purge_figures(log: &str) -> (usize, usize) {
    let deleted = log
        .lines()
        .filter(|l| l.contains("retention purge") && !l.contains("not deleted"))
        .filter_map(|l| l.split("media_deleted=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    let failed = log
        .lines()
        .filter(|l| l.contains("media not deleted"))
        .count();
    (deleted, failed)
}

/// Shared settings of both instances.
struct Deployment {
    database_url: String,
    media_url: String,
    prelude: String,
}

impl Deployment {
    /// Starts an instance (blocking: call off the async threads).
    fn instance(&self, data: &Path, id: &str, extra: &[&str]) -> ServerProcess {
        let mut args = vec![
            "--database-url",
            &self.database_url,
            "--media-url",
            &self.media_url,
            "--instance-id",
            id,
            "--secret-id",
            "AKIDmultiinstance0000000000000000",
            "--secret-key",
            "multiinstancesecretkey000000000000000000000000",
        ];
        args.extend_from_slice(extra);
        ServerProcess::start_after(&self.prelude, data, &args)
    }
}

/// An upload's answer: status, `Retry-After` and JSON.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// An upload that may get no answer at all (the instance died, the connection was dropped): the
/// answer, or why not. The client is reqwest's default (its `TCP_USER_TIMEOUT` is 30 s).
async fn try_upload(
    api: &common::Endpoint,
    token: &str,
    attempt_id: &str,
    video: &[u8],
    report: &faceid_core::protocol::UploadReport,
) -> Result<Answer, String> {
    let form = reqwest::multipart::Form::new()
        .part(
            "video",
            reqwest::multipart::Part::bytes(video.to_vec())
                .file_name("rec")
                .mime_str("video/webm")
                .unwrap(),
        )
        .part(
            "report",
            reqwest::multipart::Part::text(serde_json::to_string(report).unwrap()),
        );
    let r = api
        .http
        .post(common::upload_url(&api.base, attempt_id, Some(token)))
        .multipart(form)
        .timeout(PROCESS_BOUND)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = r.json().await.map_err(|e| format!("{e:?}"))?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// The page's retry as the page sends it: again after `Retry-After` while the answer is busy
/// (503). Returns the first other answer (or failure) and how many busy answers came before it.
async fn retry_until_answered(
    api: &common::Endpoint,
    token: &str,
    attempt_id: &str,
    video: &[u8],
    report: &faceid_core::protocol::UploadReport,
) -> (Result<Answer, String>, usize) {
    let until = Instant::now() + PROCESS_BOUND;
    let mut busy = 0;
    loop {
        let answer = try_upload(api, token, attempt_id, video, report).await;
        match &answer {
            Ok(Answer {
                status: 503,
                retry_after: Some(secs),
                ..
            }) if Instant::now() < until => {
                busy += 1;
                tokio::time::sleep(Duration::from_secs(*secs)).await;
            }
            _ => return (answer, busy),
        }
    }
}

/// A PostgreSQL database and a moto bucket for the instances (blocking: call off the async
/// threads).
fn deployment() -> (PostgresServer, MotoServer, Deployment) {
    let pg = PostgresServer::start();
    let database_url = pg.create_database("faceid");
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    let deployment = Deployment {
        database_url,
        media_url: format!("s3://{BUCKET}/{PREFIX}"),
        prelude: moto.env_prelude(),
    };
    (pg, moto, deployment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_verification_is_taken_over_and_answered_once() {
    let (pg, moto, deployment) = tokio::task::spawn_blocking(deployment).await.unwrap();
    let database_url = deployment.database_url.clone();
    let deployment = std::sync::Arc::new(deployment);
    let dirs = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dirs.path().join("a"), dirs.path().join("b"));
    let (ffmpeg_a, runs_a) = ffmpeg_stand_in(dirs.path(), "ffmpeg-a", false);
    let (ffmpeg_b, runs_b) = ffmpeg_stand_in(dirs.path(), "ffmpeg-b", true);
    let (a, mut b) = tokio::task::spawn_blocking({
        let (d, data_a, data_b) = (deployment.clone(), data_a.clone(), data_b.clone());
        let (fa, fb) = (ffmpeg_a.clone(), ffmpeg_b.clone());
        move || {
            let a = d.instance(&data_a, "a", &["--ffmpeg", fa.to_str().unwrap()]);
            let b = d.instance(&data_b, "b", &["--ffmpeg", fb.to_str().unwrap()]);
            (a, b)
        }
    })
    .await
    .unwrap();

    // DetectAuth on A; the page's calls on B.
    let token = a.detect_auth(json!({})).await;
    let (status, session) = b.session(&token).await;
    assert_eq!(status, 200, "{session}");
    let attempt = b.attempt(&token).await;
    let rec = sim_recording(&attempt.challenge, Attack::None, 9, VideoFormat::Webm);
    let report = report_for(&rec, VideoFormat::Webm.mime());
    let first = tokio::spawn({
        let (api, token, id, video, report) = (
            common::Endpoint::new(
                &b.base,
                &b.secret_id,
                &b.secret_key,
                b.signing_clock.clone(),
            ),
            token.clone(),
            attempt.attempt_id.clone(),
            rec.video.clone(),
            report.clone(),
        );
        async move { try_upload(&api, &token, &id, &video, &report).await }
    });
    // B verifies: its ffmpeg runs (and holds). Then kill -9.
    until_verifying(&runs_b, &b).await;
    let store = {
        let url = database_url.clone();
        std::sync::Arc::new(
            tokio::task::spawn_blocking(move || PostgresStore::connect(&url).unwrap())
                .await
                .unwrap(),
        )
    };
    let read = |id: String| {
        let store = store.clone();
        async move {
            tokio::task::spawn_blocking(move || store.attempt(&id).unwrap())
                .await
                .unwrap()
                .expect("the attempt is stored")
        }
    };
    let held = read(attempt.attempt_id.clone()).await;
    assert_eq!(
        (held.state, held.lease.as_ref().map(|l| l.owner.as_str())),
        (AttemptState::Verifying, Some("b")),
        "B holds the attempt while it verifies"
    );
    b.kill_hard();
    let first = first.await.unwrap();
    assert!(first.is_err(), "B answered before it was killed: {first:?}");

    // The page's retry reaches A: answered busy while B's lease holds, then B's lease runs out
    // and A takes the attempt over and answers it.
    let retrying = Instant::now();
    let (retry, busy_answers) =
        retry_until_answered(&a, &token, &attempt.attempt_id, &rec.video, &report).await;
    let retry_secs = retrying.elapsed().as_secs_f64();
    let repeat = try_upload(&a, &token, &attempt.attempt_id, &rec.video, &report).await;
    let verified_by_a = count_lines(&runs_a);
    let stored = read(attempt.attempt_id.clone()).await;
    let info = a.detect_info(&token, "0").await;

    // Other uploads on A, for the purge.
    for _ in 0..OTHER_UPLOADS {
        let other = a.detect_auth(json!({})).await;
        let created = a.attempt(&other).await;
        a.upload_undecodable(&created.attempt_id).await;
    }
    let mut objects = moto.object_names(BUCKET, "");
    objects.sort();

    // Both instances again (B restarted after its kill), with a retention of a second: their
    // purges start together and repeat every second.
    let mut a = a;
    a.interrupt();
    assert!(a.wait_for_exit(PROCESS_BOUND).is_some(), "A did not stop");
    let (a2, b2) = tokio::task::spawn_blocking({
        let (d, data_a, data_b) = (deployment.clone(), data_a.clone(), data_b.clone());
        move || {
            let purging = ["--retention-secs", "1", "--purge-interval-secs", "1"];
            let b = std::thread::spawn({
                let d = d.clone();
                move || d.instance(&data_b, "b", &purging)
            });
            let a = d.instance(&data_a, "a", &purging);
            (a, b.join().unwrap())
        }
    })
    .await
    .unwrap();
    let until = Instant::now() + PROCESS_BOUND;
    let deleted = || purge_figures(&a2.log()).0 + purge_figures(&b2.log()).0;
    while deleted() < objects.len() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
    // Two more rounds of both purges: a second delete of any key would show by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ((deleted_a, failed_a), (deleted_b, failed_b)) =
        (purge_figures(&a2.log()), purge_figures(&b2.log()));
    let left = moto.object_names(BUCKET, "");

    // What the page and the business saw, counted.
    let answered = matches!(&retry, Ok(Answer { status: 200, .. }));
    let answer = retry.as_ref().ok().map(|r| r.body.clone());
    // Answered 1001: the attempt expired before A could take it over, the person's verification
    // is lost.
    let timed_out = answered && answer.as_ref().is_some_and(|v| v["errCode"] == 1001);
    let stored_answer: Option<Value> = stored
        .result
        .as_ref()
        .map(|r| serde_json::from_str(&r.answer_json).unwrap());
    let lost = usize::from(!answered)
        + usize::from(timed_out)
        + usize::from(stored_answer.is_none())
        + left.len();
    let deletes = deleted_a + deleted_b;
    let doubled = verified_by_a.saturating_sub(1)
        + usize::from(answered && answer != stored_answer)
        + usize::from(
            matches!(&repeat, Ok(Answer { status: 200, body, .. }) if Some(body) != stored_answer.as_ref()),
        )
        + deletes.saturating_sub(objects.len());
    println!(
        "multi-instance outcome: verified_by_b={} verified_by_a={verified_by_a} answered={answered} \
         timed_out={timed_out} busy_answers={busy_answers} retry_secs={retry_secs:.1} \
         objects={} deleted_by_a={deleted_a} deleted_by_b={deleted_b} left={} lost={lost} \
         doubled={doubled}",
        count_lines(&runs_b),
        objects.len(),
        left.len()
    );

    let answer = answer.unwrap_or_else(|| panic!("the retry got no answer: {retry:?}"));
    assert_eq!(
        Some(&answer),
        stored_answer.as_ref(),
        "the page's answer is the stored one"
    );
    assert_ne!(
        answer["errCode"], 1001,
        "the retry is verified within the attempt's validity, not timed out: {answer}"
    );
    assert_eq!(
        (stored.state, stored.lease.as_ref()),
        (AttemptState::Done, None)
    );
    let repeat = repeat.unwrap();
    assert_eq!(
        (repeat.status, &repeat.body),
        (200, &answer),
        "a repeat is not verified again"
    );
    assert_eq!(
        (count_lines(&runs_b), verified_by_a),
        (1, 1),
        "verified once by B (killed) and once by A"
    );
    // GetDetectInfoEnhanced: the one answer, with the video.
    assert_eq!(info["Text"]["ErrCode"], answer["errCode"], "{info}");
    assert_eq!(
        info["Text"]["LivenessDetail"].as_array().map(Vec::len),
        Some(1),
        "{info}"
    );
    use base64::Engine;
    let video = base64::engine::general_purpose::STANDARD
        .decode(info["VideoData"]["LivenessVideo"].as_str().unwrap_or(""))
        .unwrap();
    assert!(video == rec.video, "the stored video is not the upload");
    // The retention purge: every object deleted once, by one instance or the other.
    assert!(
        objects.len() > OTHER_UPLOADS,
        "objects before the purge: {objects:?}"
    );
    assert_eq!(left, Vec::<String>::new(), "objects the purge missed");
    assert_eq!((failed_a, failed_b), (0, 0), "failed deletes");
    assert_eq!(
        deletes,
        objects.len(),
        "deleted by A {deleted_a} + by B {deleted_b} for {} objects",
        objects.len()
    );
    assert_eq!((lost, doubled), (0, 0));

    drop((a2, b2, read));
    tokio::task::spawn_blocking(move || drop((store, pg, moto)))
        .await
        .unwrap();
}

/// A page retry that waits behind another instance's lease gets an answer, not a dropped
/// connection: the server reads nothing of its body while it waits, so the sender's TCP window
/// stays shut, and a sender gives up on a shut window (reqwest's default `TCP_USER_TIMEOUT`, 30 s,
/// ends in os error 110). The lease here outlasts that by far, so only the server's own bound on
/// the wait can end it: 503, code 1001, `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waiting_behind_another_instances_lease_is_answered_busy_not_dropped() {
    let (pg, moto, deployment) = tokio::task::spawn_blocking(deployment).await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let (ffmpeg_b, runs_b) = ffmpeg_stand_in(dirs.path(), "ffmpeg-b", true);
    let (a, mut b) = tokio::task::spawn_blocking({
        let (data_a, data_b) = (dirs.path().join("a"), dirs.path().join("b"));
        move || {
            let lease = ["--lease-secs", LONG_LEASE_SECS];
            let a = deployment.instance(&data_a, "a", &lease);
            let mut held = lease.to_vec();
            held.extend(["--ffmpeg", ffmpeg_b.to_str().unwrap()]);
            let b = deployment.instance(&data_b, "b", &held);
            (a, b)
        }
    })
    .await
    .unwrap();

    let token = a.detect_auth(json!({})).await;
    let attempt = b.attempt(&token).await;
    let rec = sim_recording(&attempt.challenge, Attack::None, 9, VideoFormat::Webm);
    let report = report_for(&rec, VideoFormat::Webm.mime());
    let first = tokio::spawn({
        let api = common::Endpoint::new(
            &b.base,
            &b.secret_id,
            &b.secret_key,
            b.signing_clock.clone(),
        );
        let (token, id) = (token.clone(), attempt.attempt_id.clone());
        let (video, report) = (rec.video.clone(), report.clone());
        async move { try_upload(&api, &token, &id, &video, &report).await }
    });
    until_verifying(&runs_b, &b).await;

    // B holds the attempt under its lease while it verifies: the retry on A waits behind it.
    let retry = try_upload(&a, &token, &attempt.attempt_id, &rec.video, &report).await;
    b.kill_hard();
    let _ = first.await.unwrap();

    let retry = retry.unwrap_or_else(|e| panic!("the waiting retry got no answer: {e}"));
    assert_eq!(
        (retry.status, &retry.body["errCode"]),
        (503, &json!(1001)),
        "{retry:?}"
    );
    assert!(
        retry.retry_after.is_some_and(|s| s >= 1),
        "busy, with Retry-After: {retry:?}"
    );

    drop((a, b));
    tokio::task::spawn_blocking(move || drop((pg, moto)))
        .await
        .unwrap();
}
