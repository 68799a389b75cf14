//! End-to-end scenarios: the real faceid-server (in-process, fresh data directory), the real page
//! (www/ + pkg/) in headless Chromium over WebDriver, and the business backend on the cloud API.
//!
//! Each scenario runs alone (a shared lock: two cores), bounds every wait, and saves screenshots of
//! its key screens (under docs/screens/ with FACEID_E2E_UPDATE_SCREENS=1). Needs `scripts/build-page.sh` first.

use std::sync::Arc;
use std::time::Duration;

use faceid_core::quality::QualityHint;
use faceid_core::Locale;
use faceid_e2e::browser::{CameraSetup, DESKTOP, MOBILE};
use faceid_e2e::ensure;
use faceid_e2e::page::{click, view, watch_until, PageView, ScreenKind};
use faceid_e2e::person::Person;
use faceid_e2e::process::wait_until;
use faceid_e2e::scenario::{base64_field, bounded, probe_video, Scenario};
use faceid_e2e::stack::StackOptions;
use faceid_e2e::{HarnessError, Result};
use faceid_h5::i18n::texts;
use faceid_server::clock::ManualClock;
use serde_json::Value;

/// The English flow configured by the harness (RuleId "1" is the same flow in zh-CN).
const RULE: &str = "en";
const LOCALE: Locale = Locale::En;
/// The business's pass-through value.
const EXTRA: &str = "order-42";

/// Loading the page and its wasm module (release build) on a busy two-core machine.
const LOAD: Duration = Duration::from_secs(30);
/// Camera start plus guidance to "ready" with a steady, well-placed face.
const GUIDANCE: Duration = Duration::from_secs(45);
/// The challenge (~4 s), recording, upload and the server's verification.
const VERDICT: Duration = Duration::from_secs(60);
/// The page waits 2.5 s on success before it follows RedirectUrl.
const REDIRECT: Duration = Duration::from_secs(20);
/// How long a face-less camera is watched to see that nothing starts.
const NO_FACE_WATCH: Duration = Duration::from_secs(10);

fn ended(p: &PageView) -> bool {
    matches!(
        p.kind,
        ScreenKind::Passed | ScreenKind::Failed | ScreenKind::Problem
    )
}

/// Opens a new verification for the business and returns (Url, BizToken).
async fn new_verification(sc: &Scenario, with_redirect: bool) -> Result<(String, String)> {
    let return_url = sc.stack.business.return_url();
    let v = sc
        .stack
        .cloud
        .detect_auth(
            RULE,
            with_redirect.then_some(return_url.as_str()),
            Some(EXTRA),
        )
        .await?;
    Ok((v.url, v.biz_token))
}

/// Intro → Start → guidance → the light challenge → an end screen. Screenshots on the way.
async fn go_through_flow(sc: &mut Scenario, shots: bool) -> Result<PageView> {
    if let Some(early) = reach_challenge(sc, shots).await? {
        return Ok(early);
    }
    watch_until(&sc.browser, &mut sc.journey, "the verdict", VERDICT, ended).await
}

/// A genuine person may press "Try again" (the product offers it; a rule allows 99 attempts) after
/// a refusal (1002) or the light-guidance answer (1202: the screen's colours did not show clearly
/// enough). The earlier decoder sometimes refused this synthetic person with 1002 when the machine
/// was loaded:
/// measured on the shared two-core machine, 0 of ~15 first tries at low load, 6 of 23 at load
/// average 6–13 (refusals came with few frames, 82–108 of ~125, or a fitted delay of 250–350 ms
/// against the usual 120–200). Three tries keep a broken flow failing (it fails every try) while
/// a false refusal or two does not fail CI; every try is counted against the server's attempts.
const GENUINE_TRIES: u32 = 3;

/// Like [`go_through_flow`] for a genuine person: on a 1002 refusal, presses "Try again" and does
/// the challenge again, up to [`GENUINE_TRIES`]. Returns the end screen and the number of tries.
async fn go_through_genuine_flow(sc: &mut Scenario, shots: bool) -> Result<(PageView, u32)> {
    let mut end = go_through_flow(sc, shots).await?;
    let mut tries = 1;
    while end.kind == ScreenKind::Failed
        && matches!(end.code, Some(1002 | 1202))
        && tries < GENUINE_TRIES
    {
        end = try_again(sc, tries).await?;
        tries += 1;
    }
    Ok((end, tries))
}

/// Keeps the video of a refused genuine try under the cargo target's tmp dir, for whoever tunes
/// the decoder (best effort: a failure here only loses the copy).
async fn keep_refused_video(sc: &Scenario, try_number: u32) {
    let Some(token) = sc
        .journey
        .views
        .last()
        .and_then(|v| url::Url::parse(&v.url).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
    else {
        return;
    };
    let Ok(info) = sc.stack.cloud.detect_info(RULE, &token).await else {
        return;
    };
    let Ok(video) = base64_field(&info["VideoData"]["LivenessVideo"], "LivenessVideo") else {
        return;
    };
    // The recorder picks the container: WebM (EBML magic) or MP4.
    let ext = if video.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "webm"
    } else {
        "mp4"
    };
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("refused-{}-try{try_number}.{ext}", sc.name));
    if std::fs::write(&path, video).is_ok() {
        println!("the refused try's video: {}", path.display());
    }
}

/// After a 1002 or 1202: "Try again", the challenge again, the new verdict.
async fn try_again(sc: &mut Scenario, tries_so_far: u32) -> Result<PageView> {
    println!("try {tries_so_far} not passed (1002 or 1202); trying again");
    keep_refused_video(sc, tries_so_far).await;
    click(&sc.browser, "fid-primary").await?;
    // The refusal stays on screen for a moment after the click: wait for the challenge itself.
    let flash = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the challenge again",
        GUIDANCE,
        |p| p.flashing || (ended(p) && !matches!(p.code, Some(1002 | 1202))),
    )
    .await?;
    if ended(&flash) {
        return Ok(flash);
    }
    watch_until(&sc.browser, &mut sc.journey, "the verdict", VERDICT, ended).await
}

/// Intro → Start → guidance → the light challenge; returns the end screen if the flow ended
/// before the challenge (a camera problem).
async fn reach_challenge(sc: &mut Scenario, shots: bool) -> Result<Option<PageView>> {
    watch_until(
        &sc.browser,
        &mut sc.journey,
        "the intro screen",
        LOAD,
        |p| p.kind == ScreenKind::Intro,
    )
    .await?;
    if shots {
        let also: &[_] = if sc.viewport == MOBILE {
            &[DESKTOP]
        } else {
            &[]
        };
        sc.shot("intro", also).await?;
    }
    click(&sc.browser, "fid-primary").await?;
    let guided = watch_until(&sc.browser, &mut sc.journey, "guidance", GUIDANCE, |p| {
        (p.kind == ScreenKind::Capture && p.hint.is_some() && !p.flashing) || ended(p)
    })
    .await?;
    if ended(&guided) {
        return Ok(Some(guided));
    }
    if shots {
        sc.shot("guidance", &[]).await?;
    }
    let flash = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the light challenge",
        GUIDANCE,
        |p| p.flashing || ended(p),
    )
    .await?;
    if shots && flash.flashing {
        // Well into the sequence (after the 1 s hold): a colour step is on screen.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sc.shot("challenge", &[]).await?;
    }
    Ok(ended(&flash).then_some(flash))
}

fn text_of(info: &Value) -> &Value {
    &info["Text"]
}

/// GET the page's own session (what the page would learn on reload).
async fn session(sc: &Scenario, token: &str) -> Result<Value> {
    let url = format!(
        "http://{}/api/h5/v1/session?token={token}",
        sc.stack.server.addr()
    );
    Ok(reqwest::get(url).await?.json().await?)
}

/// The URL the browser is at, once it starts with `prefix`.
async fn wait_for_url(sc: &Scenario, prefix: &str, timeout: Duration) -> Result<url::Url> {
    wait_until(
        &format!("the browser to reach {prefix}"),
        timeout,
        Duration::from_millis(200),
        || async {
            let u = sc.browser.client().current_url().await?;
            Ok(u.as_str().starts_with(prefix).then_some(u))
        },
    )
    .await
}

/// The result the business pulls for a passed verification: ErrCode 0, exactly `tries` attempts
/// (one per try the person made, none extra from retried uploads), a best frame (JPEG) and a
/// playable video.
async fn check_passed_result(sc: &Scenario, token: &str, tries: u32) -> Result<()> {
    let info = sc.stack.cloud.detect_info(RULE, token).await?;
    let text = text_of(&info);
    ensure!(
        text["ErrCode"].as_i64() == Some(0),
        "ErrCode is not 0: {text}"
    );
    ensure!(
        text["Extra"].as_str() == Some(EXTRA),
        "Extra not passed through: {text}"
    );
    let attempts = text["LivenessDetail"].as_array().map_or(0, Vec::len);
    ensure!(
        attempts == tries as usize,
        "{attempts} attempts on the server, expected {tries}: {text}"
    );
    let jpeg = base64_field(&info["BestFrame"]["BestFrame"], "BestFrame")?;
    ensure!(
        jpeg.starts_with(&[0xff, 0xd8, 0xff]),
        "BestFrame is not a JPEG ({} bytes)",
        jpeg.len()
    );
    let video = base64_field(&info["VideoData"]["LivenessVideo"], "LivenessVideo")?;
    let probe = probe_video(&video).await?;
    println!(
        "best frame {} bytes; video {} bytes, {:?}",
        jpeg.len(),
        video.len(),
        probe
    );
    ensure!(
        probe.frames >= 30 && probe.width >= 320 && probe.height >= 240,
        "video not playable as expected: {probe:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1. A genuine person.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_person_passes_and_returns_to_the_business() {
    let _serial = faceid_e2e::serial().await;
    let mut sc = Scenario::start(
        "genuine",
        CameraSetup::SyntheticPerson,
        StackOptions::default(),
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(genuine(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn genuine(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    sc.browser.client().goto(&url).await?;
    let (end, tries) = go_through_genuine_flow(sc, true).await?;
    ensure!(
        end.kind == ScreenKind::Passed,
        "the verification did not pass in {tries} tries: {end:?}"
    );
    ensure!(
        sc.journey
            .saw(|p| p.kind == ScreenKind::Capture && !p.flashing),
        "no guidance before the challenge"
    );
    sc.shot("passed", &[]).await?;

    let landed = wait_for_url(
        sc,
        &format!("{}/return", sc.stack.business.base()),
        REDIRECT,
    )
    .await?;
    let query: Vec<(String, String)> = landed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    ensure!(
        get("token") == Some(token.as_str()),
        "redirect without token: {landed}"
    );
    ensure!(
        get("BizToken") == Some(token.as_str()),
        "redirect without BizToken: {landed}"
    );
    ensure!(
        get("Extra") == Some(EXTRA),
        "redirect without Extra: {landed}"
    );
    ensure!(
        get("from") == Some("faceid"),
        "the business's own query was lost: {landed}"
    );
    sc.shot("business-return", &[]).await?;

    check_passed_result(sc, &token, tries).await
}

// ---------------------------------------------------------------------------------------------
// 2. Replay: a recording of the face lit by another colour sequence.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_recording_is_refused_with_a_retry() {
    let _serial = faceid_e2e::serial().await;
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("replay.y4m");
    let photo = faceid_e2e::read_file(&faceid_e2e::astronaut_png()).unwrap();
    let recording = faceid_e2e::replay::write_y4m(&photo, &y4m, 2018).unwrap();
    println!(
        "replay recording: {} frames lit by {:?}",
        recording.frames, recording.challenge.steps
    );
    let mut sc = Scenario::start(
        "replay",
        CameraSetup::File(y4m),
        StackOptions::default(),
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(replay(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn replay(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    let before = session(sc, &token).await?["retriesLeft"]
        .as_u64()
        .unwrap_or(0);
    sc.browser.client().goto(&url).await?;
    let end = go_through_flow(sc, false).await?;
    ensure!(
        end.kind == ScreenKind::Failed,
        "expected the failed outcome: {end:?}"
    );
    ensure!(
        end.code == Some(1002),
        "expected code 1002 (suspected non-live): {end:?}"
    );
    let try_again = texts(LOCALE).try_again;
    ensure!(
        end.buttons.iter().any(|b| b == try_again),
        "no '{try_again}' offer: {:?}",
        end.buttons
    );
    sc.shot("refused", &[DESKTOP]).await?;

    let after = session(sc, &token).await?["retriesLeft"]
        .as_u64()
        .unwrap_or(0);
    ensure!(
        after + 1 == before,
        "retriesLeft went {before} -> {after}, expected one less"
    );
    ensure!(
        end.body.contains(&after.to_string()),
        "the page does not show {after} attempts left: {}",
        end.body
    );
    let info = sc.stack.cloud.detect_info(RULE, &token).await?;
    let detail = &text_of(&info)["LivenessDetail"];
    ensure!(
        detail.as_array().map_or(0, Vec::len) == 1,
        "expected one attempt: {detail}"
    );
    ensure!(
        detail[0]["Errcode"].as_i64() == Some(1002),
        "attempt not recorded as 1002: {detail}"
    );
    ensure!(
        text_of(&info)["ErrCode"].as_i64() != Some(0),
        "a refused replay reported as passed"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. No face: Chrome's default fake camera (a test pattern).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_face_keeps_the_hint_and_uploads_nothing() {
    let _serial = faceid_e2e::serial().await;
    let mut sc = Scenario::start(
        "no-face",
        CameraSetup::FakePattern,
        StackOptions::default(),
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(no_face(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn no_face(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    sc.browser.client().goto(&url).await?;
    watch_until(
        &sc.browser,
        &mut sc.journey,
        "the intro screen",
        LOAD,
        |p| p.kind == ScreenKind::Intro,
    )
    .await?;
    click(&sc.browser, "fid-primary").await?;
    let no_face = QualityHint::NoFace.message(LOCALE);
    watch_until(
        &sc.browser,
        &mut sc.journey,
        "the no-face hint",
        GUIDANCE,
        |p| p.hint.as_deref() == Some(no_face),
    )
    .await?;
    // Watch: the hint stays, no challenge starts.
    let until = std::time::Instant::now() + NO_FACE_WATCH;
    while std::time::Instant::now() < until {
        let p = view(&sc.browser).await?;
        sc.journey.record(&p);
        ensure!(
            p.kind == ScreenKind::Capture && !p.flashing,
            "the page left guidance without a face: {p:?}"
        );
        ensure!(
            p.hint.as_deref() == Some(no_face),
            "the hint changed without a face: {:?}",
            p.hint
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sc.shot("hint", &[DESKTOP]).await?;

    let s = session(sc, &token).await?;
    ensure!(
        s["retriesLeft"].as_u64() == Some(99),
        "an attempt was started without a face: {s}"
    );
    let info = sc.stack.cloud.detect_info(RULE, &token).await?;
    let text = text_of(&info);
    ensure!(
        text["LivenessDetail"].as_array().is_none_or(Vec::is_empty),
        "something was uploaded: {text}"
    );
    ensure!(
        text["ErrCode"].as_i64() != Some(0),
        "no face yet the flow passed: {text}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Camera permission refused.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_camera_shows_3004_with_guidance() {
    let _serial = faceid_e2e::serial().await;
    let mut sc = Scenario::start(
        "camera-denied",
        CameraSetup::Refused,
        StackOptions::default(),
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(camera_denied(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn camera_denied(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    sc.browser.client().goto(&url).await?;
    watch_until(
        &sc.browser,
        &mut sc.journey,
        "the intro screen",
        LOAD,
        |p| p.kind == ScreenKind::Intro,
    )
    .await?;
    click(&sc.browser, "fid-primary").await?;
    let end = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the camera problem",
        GUIDANCE,
        ended,
    )
    .await?;
    let t = texts(LOCALE);
    ensure!(
        end.kind == ScreenKind::Problem && end.code == Some(3004),
        "expected the 3004 screen: {end:?}"
    );
    ensure!(
        end.title == t.camera_denied_title,
        "title {:?}, expected {:?}",
        end.title,
        t.camera_denied_title
    );
    // The guidance: how to allow the camera (its first sentence is enough to recognise it).
    let first = t
        .camera_denied_body
        .split(':')
        .next()
        .unwrap_or(t.camera_denied_body);
    ensure!(
        end.body.contains(first),
        "no guidance on allowing the camera: {}",
        end.body
    );
    ensure!(!end.buttons.is_empty(), "no way to retry");
    sc.shot("problem", &[DESKTOP]).await?;
    let s = session(sc, &token).await?;
    ensure!(
        s["retriesLeft"].as_u64() == Some(99),
        "an attempt was used without a camera: {s}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. Unknown or expired token: the right screen and code, before any camera prompt.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_expired_tokens_stop_before_the_camera() {
    let _serial = faceid_e2e::serial().await;
    let clock = Arc::new(ManualClock::starting_now());
    let options = StackOptions {
        clock: Some(clock.clone()),
        ..StackOptions::default()
    };
    let mut sc = Scenario::start("token", CameraSetup::SyntheticPerson, options, MOBILE)
        .await
        .unwrap();
    let result = bounded(bad_tokens(&mut sc, &clock)).await;
    sc.conclude(result).await.unwrap();
}

async fn camera_requests(sc: &Scenario) -> Result<u64> {
    let v = sc
        .browser
        .eval(
            "return window.__faceidPerson ? window.__faceidPerson.requests : -1;",
            vec![],
        )
        .await?;
    v.as_u64()
        .ok_or_else(|| HarnessError::Unexpected(format!("synthetic camera not installed: {v}")))
}

async fn bad_tokens(sc: &mut Scenario, clock: &ManualClock) -> Result<()> {
    // Before the session answers, the page does not know the flow's language: either locale.
    let expired_titles = [
        texts(Locale::En).token_expired_title,
        texts(Locale::ZhCn).token_expired_title,
    ];
    let invalid_titles = [
        texts(Locale::En).token_invalid_title,
        texts(Locale::ZhCn).token_invalid_title,
    ];

    // Unknown: a well-formed token the server never issued.
    let unknown = format!(
        "{}/h5/?token=00000000-0000-4000-8000-000000000000",
        sc.stack.server.base_url()
    );
    sc.browser.client().goto(&unknown).await?;
    let end = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the unknown-token screen",
        LOAD,
        |p| p.kind == ScreenKind::Problem || ended(p) || p.kind == ScreenKind::Intro,
    )
    .await?;
    // The server answers an unknown token with 404 (code 15); the page calls the link invalid and
    // shows no code (there is no code for "never issued" in PROTOCOL.md §3).
    ensure!(
        end.kind == ScreenKind::Problem,
        "an unknown token reached {end:?}"
    );
    ensure!(
        invalid_titles.contains(&end.title.as_str()),
        "title {:?} is not the invalid-link title",
        end.title
    );
    ensure!(
        end.code.is_none(),
        "unknown token: no code expected: {end:?}"
    );
    ensure!(
        camera_requests(sc).await? == 0,
        "the camera was asked for with an unknown token"
    );
    sc.shot("unknown", &[]).await?;

    // Expired: issued, then 7,200 s pass.
    let (url, token) = new_verification(sc, true).await?;
    clock.advance_ms(7_201_000);
    sc.browser.client().goto(&url).await?;
    let end = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the expired-token screen",
        LOAD,
        |p| p.kind == ScreenKind::Problem || ended(p) || p.kind == ScreenKind::Intro,
    )
    .await?;
    ensure!(
        end.kind == ScreenKind::Problem && end.code == Some(15),
        "expired token: expected code 15: {end:?}"
    );
    ensure!(
        expired_titles.contains(&end.title.as_str()),
        "title {:?} is not the expired title",
        end.title
    );
    ensure!(
        camera_requests(sc).await? == 0,
        "the camera was asked for with an expired token"
    );
    sc.shot("expired", &[DESKTOP]).await?;
    let _ = token;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 6. The network drops during the first upload.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_upload_is_retried_into_a_single_attempt() {
    let _serial = faceid_e2e::serial().await;
    let options = StackOptions {
        cut_uploads: 1,
        ..StackOptions::default()
    };
    let mut sc = Scenario::start(
        "network-drop",
        CameraSetup::SyntheticPerson,
        options,
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(network_drop(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn network_drop(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    sc.browser.client().goto(&url).await?;
    if let Some(early) = reach_challenge(sc, false).await? {
        return Err(HarnessError::Unexpected(format!(
            "the flow ended before the challenge: {early:?}"
        )));
    }
    let retrying = texts(LOCALE).uploading_retrying;
    let notice = watch_until(
        &sc.browser,
        &mut sc.journey,
        "the upload's retry notice",
        VERDICT,
        |p| (p.kind == ScreenKind::Upload && p.status.as_deref() == Some(retrying)) || ended(p),
    )
    .await?;
    ensure!(
        !ended(&notice),
        "the page never said it was retrying the upload: {notice:?}"
    );
    sc.shot("retrying", &[]).await?;
    let mut end = watch_until(&sc.browser, &mut sc.journey, "the verdict", VERDICT, ended).await?;
    let mut tries = 1;
    while end.kind == ScreenKind::Failed
        && matches!(end.code, Some(1002 | 1202))
        && tries < GENUINE_TRIES
    {
        end = try_again(sc, tries).await?;
        tries += 1;
    }
    let stats = sc.stack.link.as_ref().map(|l| l.stats());
    let (seen, cut) = stats
        .map(|s| {
            (
                s.uploads_seen.load(std::sync::atomic::Ordering::SeqCst),
                s.uploads_cut.load(std::sync::atomic::Ordering::SeqCst),
            )
        })
        .unwrap_or_default();
    println!("uploads seen by the link: {seen}, cut: {cut}");
    ensure!(cut == 1, "the link cut {cut} uploads, expected 1");
    ensure!(
        seen > tries,
        "the page did not retry the cut upload ({seen} uploads for {tries} tries)"
    );
    ensure!(
        end.kind == ScreenKind::Passed,
        "the verification did not pass after the retry: {end:?}"
    );
    check_passed_result(sc, &token, tries).await
}

// ---------------------------------------------------------------------------------------------
// 7. Embedded in an iframe on the business's page.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iframe_embedding_posts_the_result_to_the_parent() {
    let _serial = faceid_e2e::serial().await;
    let mut sc = Scenario::start(
        "iframe",
        CameraSetup::SyntheticPerson,
        StackOptions::default(),
        DESKTOP,
    )
    .await
    .unwrap();
    let result = bounded(iframe(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

async fn iframe(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    let host = sc.stack.business.host_url(&url)?;
    sc.browser.client().goto(&host).await?;
    sc.browser.client().enter_frame(0).await?;
    let (end, tries) = go_through_genuine_flow(sc, true).await?;
    ensure!(
        end.kind == ScreenKind::Passed,
        "the framed verification did not pass: {end:?}"
    );
    sc.browser.client().enter_parent_frame().await?;
    // The last message is the pass (a refused try may have posted its own before it).
    let messages = sc
        .browser
        .wait_for_js(
            "the frame's message to the parent",
            Duration::from_secs(10),
            "const m = (window.__faceidMessages || []).filter((m) => m.data && m.data.source === 'faceid-h5');
             return m.length ? m : null;",
        )
        .await?;
    println!("messages to the parent: {messages}");
    let count = messages.as_array().map_or(0, Vec::len);
    ensure!(
        count >= 1 && count <= tries as usize,
        "{count} messages to the parent for {tries} tries: {messages}"
    );
    // Wait for the last try's message if an earlier try's is all there is so far.
    let messages = sc
        .browser
        .wait_for_js(
            "the passing try's message",
            Duration::from_secs(10),
            "const m = (window.__faceidMessages || []).filter((m) => m.data && m.data.source === 'faceid-h5');
             return m.length && m[m.length - 1].data.passed ? m : null;",
        )
        .await?;
    let count = messages.as_array().map_or(0, Vec::len);
    let first = &messages[count.saturating_sub(1)];
    let data = &first["data"];
    ensure!(data["kind"] == "result", "not a result message: {first}");
    ensure!(
        data["passed"] == true && data["errCode"].as_i64() == Some(0),
        "the message does not say passed: {first}"
    );
    ensure!(
        data["bizToken"].as_str() == Some(token.as_str()),
        "the message names another token: {first}"
    );
    let server_origin = sc.stack.server.base_url().trim_end_matches('/').to_string();
    ensure!(
        first["origin"].as_str() == Some(server_origin.as_str()),
        "message from {:?}",
        first["origin"]
    );
    // The framed page stays (the parent decides what happens next).
    let top = sc.browser.client().current_url().await?;
    ensure!(
        top.as_str()
            .starts_with(&format!("{}/host", sc.stack.business.base())),
        "the parent navigated to {top}"
    );
    sc.shot("host-passed", &[MOBILE]).await?;
    check_passed_result(sc, &token, tries).await
}

// ---------------------------------------------------------------------------------------------
// A control for scenario 1: the same photo as a flat print held up to the camera. Everything but
// the 3D response (face brighter than the background under the screen's light) is as in the
// genuine scenario, so a pass there is the reflection check working, not the flow waving through.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_print_of_the_same_face_is_refused() {
    let _serial = faceid_e2e::serial().await;
    let print = Person::astronaut_from_shared().unwrap().as_flat_print();
    let mut sc = Scenario::start_with(
        "flat-print",
        CameraSetup::SyntheticPerson,
        Some(print),
        StackOptions::default(),
        MOBILE,
    )
    .await
    .unwrap();
    let result = bounded(flat_print(&mut sc)).await;
    sc.conclude(result).await.unwrap();
}

/// Tries the print gets. It must never pass; it should be refused as flat (1002), but the page's
/// recording differs from run to run (Chrome's recorder, the machine's load) and a print whose
/// margin answers a little less evenly is answered 1202 (undecided: try again), as a person would
/// be. Three tries, each refused, at least one with 1002: a print that passes, or a decoder that
/// never names it flat, still fails.
const PRINT_TRIES: u32 = 3;

async fn flat_print(sc: &mut Scenario) -> Result<()> {
    let (url, token) = new_verification(sc, true).await?;
    sc.browser.client().goto(&url).await?;
    let mut end = go_through_flow(sc, false).await?;
    let mut tries = 1;
    loop {
        ensure!(
            end.kind == ScreenKind::Failed && matches!(end.code, Some(1002 | 1202)),
            "a flat print must be refused (1002, or 1202 to try again): {end:?}"
        );
        if end.code == Some(1002) || tries == PRINT_TRIES {
            break;
        }
        end = try_again(sc, tries).await?;
        tries += 1;
    }
    ensure!(
        end.code == Some(1002),
        "a flat print was never refused as flat (1002) in {tries} tries: {end:?}"
    );
    let info = sc.stack.cloud.detect_info(RULE, &token).await?;
    let detail = text_of(&info)["LivenessDetail"].clone();
    let codes: Vec<i64> = detail
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["Errcode"].as_i64()).collect())
        .unwrap_or_default();
    ensure!(
        codes.len() == tries as usize
            && codes.last() == Some(&1002)
            && codes.iter().all(|c| [1002, 1202].contains(c)),
        "attempts not recorded as {tries} refusals ending in 1002: {detail}"
    );
    Ok(())
}
