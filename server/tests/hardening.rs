//! The attack run of issue #11, repeated as tests: each test is one row of that table, as a
//! hostile client would play it, over real HTTP against the real server (real ffmpeg, real SQLite).

mod common;

use std::path::Path;

use common::{empty_report, garbage, lavfi_video, status_and_json, ServerProcess, TestServer};
use faceid_server::sim_video::VideoFormat;
use serde_json::json;

/// Row 12: the attempt id alone is not a credential.
#[tokio::test]
async fn an_upload_needs_the_token_that_owns_its_attempt() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    let stranger = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;

    for (token, what) in [
        (None, "no token"),
        (Some(stranger.as_str()), "another token"),
    ] {
        let (status, e) = status_and_json(t.garbage_upload(token, &a.attempt_id).await).await;
        assert_eq!(
            (status, e["errCode"].as_u64()),
            (403, Some(15)),
            "{what}: {e}"
        );
    }

    // Neither refused upload touched the attempt: its owner's upload is the one verified.
    t.upload_undecodable(&a.attempt_id).await;
    assert_eq!(t.attempts_recorded(&token).await, 1);
}

/// Row 7: once a token passed, its other pending attempt is not verified, recorded or billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_attempt_is_refused_after_its_token_passed() {
    let t = TestServer::start().await;
    let token = t.detect_auth(json!({})).await;
    // The pending attempt comes first; then the person's tries until one passes.
    let second = t.attempt(&token).await;
    t.genuine_pass(&token, 21, VideoFormat::Webm).await;

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
    assert_eq!(details[0]["Errcode"], serde_json::Value::Null, "{info}");
    assert_eq!(details[0]["IsNeedCharge"], false, "{info}");
}

/// A DASH manifest whose one representation is the local file `target`.
fn dash_manifest(target: &Path) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
         mediaPresentationDuration=\"PT3S\" minBufferTime=\"PT1S\" profiles=\"urn:mpeg:dash:profile:isoff-on-demand:2011\">\
         <Period><AdaptationSet mimeType=\"video/mp4\"><Representation id=\"1\" bandwidth=\"100000\" width=\"640\" \
         height=\"480\" codecs=\"avc1.42c01e\"><BaseURL>{}</BaseURL><SegmentBase/></Representation></AdaptationSet>\
         </Period></MPD>\n",
        target.display()
    )
    .into_bytes()
}

/// Row 1: an upload that is a manifest, a playlist or a concat list naming local files is refused
/// before ffmpeg runs, the same whether the named file exists or not (no file-existence oracle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_and_playlists_naming_local_files_are_not_demuxed() {
    let t = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mp4, ts) = (dir.path().join("local.mp4"), dir.path().join("local.ts"));
    let pattern = "testsrc=size=640x480:rate=30:duration=3";
    lavfi_video(&mp4, pattern, VideoFormat::Mp4.encoder_args());
    lavfi_video(
        &ts,
        pattern,
        &[VideoFormat::Mp4.encoder_args(), &["-f", "mpegts"]].concat(),
    );
    let hls = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{}\n#EXT-X-ENDLIST\n",
        ts.display()
    );
    let concat = format!("ffconcat version 1.0\nfile '{}'\n", mp4.display());
    let cases = [
        ("DASH manifest naming a local MP4", dash_manifest(&mp4)),
        (
            "DASH manifest naming a missing file",
            dash_manifest(&dir.path().join("missing.mp4")),
        ),
        ("HLS playlist naming a local MPEG-TS", hls.into_bytes()),
        ("concat list naming a local MP4", concat.into_bytes()),
    ];
    let token = t.detect_auth(json!({})).await;
    for (what, upload) in cases {
        let a = t.attempt(&token).await;
        let (status, answer) = t
            .upload(&a.attempt_id, upload, "video/webm", &empty_report())
            .await;
        assert_eq!(
            (status, answer["errCode"].as_u64()),
            (200, Some(1104)),
            "{what}: {answer}"
        );
    }
    // No frame of a local file became the best frame the business receives.
    let info = t.detect_info(&token, "3").await;
    assert_eq!(
        info["BestFrame"]["BestFrame"],
        serde_json::Value::Null,
        "{info}"
    );
}

/// Row 6: frames above PROTOCOL.md §5's 1920×1080 are refused (1104: outside the formats the
/// service takes; 1107 is the byte size, 1108 "too low") without being decoded in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_above_1920x1080_are_refused() {
    let t = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = t.detect_auth(json!({})).await;
    // Three frames each: 4K (more pixels than 1920×1080) and 4000×500 (fewer pixels, too wide).
    for (w, h) in [(3840, 2160), (4000, 500)] {
        let video = lavfi_video(
            &dir.path().join(format!("{w}x{h}.webm")),
            &format!("testsrc=size={w}x{h}:rate=30:duration=0.1"),
            VideoFormat::Webm.encoder_args(),
        );
        let a = t.attempt(&token).await;
        let (status, answer) = t
            .upload(&a.attempt_id, video, "video/webm", &empty_report())
            .await;
        assert_eq!(
            (status, answer["errCode"].as_u64()),
            (200, Some(1104)),
            "{w}x{h}: {answer}"
        );
    }
    // 1920×1080 itself is decoded (three frames are too short a recording: 1303).
    let video = lavfi_video(
        &dir.path().join("hd.webm"),
        "testsrc=size=1920x1080:rate=30:duration=0.1",
        VideoFormat::Webm.encoder_args(),
    );
    let a = t.attempt(&token).await;
    let (_, answer) = t
        .upload(&a.attempt_id, video, "video/webm", &empty_report())
        .await;
    assert_eq!(answer["errCode"], 1303, "{answer}");
}

/// Row 9: the `verified` log line of an undecodable upload carries neither the attempt id (nor the
/// scratch path, which was named after it) nor any text from the uploaded file.
#[tokio::test]
async fn the_log_names_no_attempt_and_repeats_no_uploaded_text() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let token = server.detect_auth(json!({})).await;
    // An audio-only WebM whose metadata carries text ffmpeg prints, and plain garbage.
    let secret = "LEAK-META-TEXT";
    let audio = lavfi_video(
        &data.path().join("audio.webm"),
        "sine=duration=1",
        &[
            "-c:a",
            "libopus",
            "-metadata",
            &format!("title={secret}"),
            "-metadata:s:a:0",
            &format!("title={secret}"),
        ],
    );
    let mut ids = Vec::new();
    for upload in [audio, garbage()] {
        let a = server.attempt(&token).await;
        let (_, answer) = server
            .upload(&a.attempt_id, upload, "video/webm", &empty_report())
            .await;
        assert_eq!(answer["errCode"], 1104, "{answer}");
        ids.push(a.attempt_id);
    }
    let log = server.log();
    assert_eq!(log.matches("verified").count(), 2, "{log}");
    for id in &ids {
        assert!(
            !log.contains(id.as_str()),
            "attempt id {id} in the log:\n{log}"
        );
    }
    assert!(
        !log.contains(secret),
        "uploaded metadata in the log:\n{log}"
    );
    assert!(
        !log.contains(".upload"),
        "a scratch path in the log:\n{log}"
    );
}

/// Row 4: after the retention purge, a token's name and ID number are in none of the database's
/// files (main file, WAL, shared memory), free pages included.
#[tokio::test]
async fn purged_names_and_id_numbers_leave_no_bytes_in_the_database_files() {
    let t = TestServer::start().await;
    let (name, id_card, extra) = ("欧阳清扫", "110105200002290013", "order-purge-me");
    let token = t
        .detect_auth(json!({ "IdCard": id_card, "Name": name, "Extra": extra }))
        .await;
    let a = t.attempt(&token).await;
    let (_, answer) = t
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!(answer["errCode"], 1104, "{answer}");
    let files = || -> Vec<u8> {
        ["", "-wal", "-shm"]
            .iter()
            .flat_map(|suffix| {
                let path = t
                    .data
                    .path()
                    .join(format!("{}{suffix}", faceid_server::DATABASE_FILE));
                std::fs::read(path).unwrap_or_default()
            })
            .collect()
    };
    let secrets = [name, id_card, extra, token.as_str()];
    let found = |bytes: &[u8]| -> Vec<&str> {
        secrets
            .iter()
            .copied()
            .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
            .collect()
    };
    // The search can see them at all: before the purge they are there.
    assert_eq!(found(&files()), secrets.to_vec());

    t.clock.advance_ms(3 * 86_400_000 + 1_000);
    assert_eq!(t.server.purge_now().await.unwrap().media_deleted, 1);
    assert_eq!(found(&files()), Vec::<&str>::new());
}

/// Row 5: under umask 022 the data directory is 0700 and the database, its WAL, the media and the
/// credentials are 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let server = ServerProcess::start_after("umask 022", &data, &[]);
    let token = server.detect_auth(json!({})).await;
    // A genuine recording: its video and its best frame are stored.
    server.genuine_pass(&token, 22, VideoFormat::Webm).await;

    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for dir in [data.clone(), data.join("media"), data.join("uploads")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let media: Vec<_> = std::fs::read_dir(data.join("media"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        media
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "video")),
        "{media:?}"
    );
    assert!(
        media
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "jpg")),
        "{media:?}"
    );
    let db = data.join(faceid_server::DATABASE_FILE);
    let wal = data.join(format!("{}-wal", faceid_server::DATABASE_FILE));
    let creds = data.join(faceid_server::config::CREDENTIALS_FILE);
    for file in [db, wal, creds].iter().chain(media.iter()) {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

/// A small tmpfs mounted for one test (the test runs as root, as CI does), unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a {size} tmpfs needs root (CI runs as root)"
        );
        SmallDisk(at.to_path_buf())
    }

    /// Fills what space is left with a file (until the file system says it is full).
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8]);
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Row 8: a disk that fills up while an upload streams, or before the database can grow, is the
/// server's fault (code 4, an ERROR in the log), never "network unstable" (1008) or "liveness
/// failed" (1003); with space back everything works again.
#[tokio::test]
async fn a_full_disk_is_answered_as_the_servers_fault() {
    let parent = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&parent.path().join("data"), "2m");
    let server = ServerProcess::start(&disk.0, &[]);
    let token = server.detect_auth(json!({})).await;

    let a = server.attempt(&token).await;
    let bigger_than_the_disk: Vec<u8> = garbage()
        .iter()
        .copied()
        .cycle()
        .take(3 * 1024 * 1024)
        .collect();
    let (status, e) = server
        .upload(
            &a.attempt_id,
            bigger_than_the_disk,
            "video/webm",
            &empty_report(),
        )
        .await;
    assert_eq!((status, e["errCode"].as_u64()), (507, Some(4)), "{e}");
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("storing an upload failed")),
        "{log}"
    );

    // Full to the last byte: the database cannot grow (SQLITE_FULL) and no scratch file fits.
    let filler = disk.fill();
    let (status, e) = server.attempt_raw(&token, None).await;
    assert_eq!((status, e["errCode"].as_u64()), (500, Some(4)), "{e}");
    // (Claiming the attempt is already a database write: 500 rather than 507, the same code.)
    let (status, e) = server
        .upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
        .await;
    assert_eq!((status, e["errCode"].as_u64()), (500, Some(4)), "{e}");

    // Space back: the refused upload did not use the attempt up.
    std::fs::remove_file(filler).unwrap();
    server.upload_undecodable(&a.attempt_id).await;
    drop(server);
}

/// Reads from `stream` until the server closes it (EOF or reset); whatever it answered first.
async fn until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        answer.extend_from_slice(&buf[..n]);
    }
    answer
}

/// Row 2: a request head sent one byte a second is cut off by the header timeout; so is a
/// connection left idle after a request.
#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &["--header-read-timeout-secs", "2"]);

    let (mut read, mut write) = tokio::net::TcpStream::connect(server.addr())
        .await
        .unwrap()
        .into_split();
    let trickle = async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    };
    let closed = tokio::time::timeout(common::PROCESS_BOUND, async {
        tokio::select! {
            answer = until_closed(&mut read) => answer,
            () = trickle => Vec::new(),
        }
    })
    .await;
    assert!(closed.is_ok(), "the trickling head was never cut off");

    // An idle kept-alive connection: one request answered, then nothing.
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = send_and_read_until_closed(&server.addr(), request, "the idle connection").await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// Sends `request` on a new connection and reads until the server closes it (bounded); `what`
/// names the connection in the failure.
async fn send_and_read_until_closed(addr: &str, request: &[u8], what: &str) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    let (mut read, mut write) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    write.write_all(request).await.unwrap();
    let answer = tokio::time::timeout(common::PROCESS_BOUND, until_closed(&mut read)).await;
    answer.unwrap_or_else(|_| panic!("{what} was never closed"))
}

/// Row 2: a body that stalls is given up on after the body deadline (here 2 s): the server answers
/// and closes. (Every route has a deadline; the video upload's is 90 s, too long for a test.)
#[tokio::test]
async fn stalled_request_bodies_are_given_up_on() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &["--request-body-timeout-secs", "2"]);
    let request =
        b"POST /api/h5/v1/attempts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 100\r\n\r\n{\"tok";
    let answer =
        send_and_read_until_closed(&server.addr(), request, "a stalled JSON body's connection")
            .await;
    assert!(
        answer.starts_with(b"HTTP/1.1 4"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// Row 2: with the file limit at 256, 400 idle connections and 100 half-sent request heads do not
/// keep /healthz or DetectAuth out: at the connection cap (here half the file limit) the oldest
/// connection without a request in progress makes room. The header timeout is an hour, so only
/// the cap can be what lets them in.
#[tokio::test]
async fn a_crowd_of_idle_connections_does_not_keep_requests_out() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_after(
        "ulimit -n 256",
        data.path(),
        &["--header-read-timeout-secs", "3600"],
    );
    let mut crowd = Vec::new();
    for i in 0..500 {
        let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        if i % 5 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        crowd.push(s);
    }
    let http = reqwest::Client::builder()
        .timeout(common::PROCESS_BOUND)
        .build()
        .unwrap();
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("/healthz did not answer");
    assert_eq!(health.status(), 200);
    let token = server.detect_auth(json!({})).await;
    assert_eq!(token.len(), 36);
    drop(crowd);
}

/// Row 2: Ctrl-C ends the server even while a client holds a request open with a stalled body
/// (an upload to an unknown attempt) and others hold idle and half-sent connections.
#[tokio::test]
async fn ctrl_c_ends_the_server_despite_stalled_clients() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(data.path(), &["--shutdown-grace-secs", "2"]);
    let token = server.detect_auth(json!({})).await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/h5/v1/attempts/nosuchattempt/video?token={token} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let idle = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    half.write_all(b"GET /healthz HT").await.unwrap();
    // Let the server take the upload's head before the signal (a pause, not a measurement).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    server.interrupt();
    let status = server.wait_for_exit(common::PROCESS_BOUND);
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not stop: {status:?}\n{}",
        server.log()
    );
    drop((stalled, idle, half));
}

/// Opens an upload of `attempt_id` that sends its head and the start of its body, then stalls.
async fn stalled_upload(t: &TestServer, attempt_id: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(t.addr()).await.unwrap();
    let head = format!(
        "POST /api/h5/v1/attempts/{attempt_id}/video?token={} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 7500000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"video\"; filename=\"v\"\r\n\r\nvideo bytes",
        t.owner(attempt_id)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Waits (bounded) until the verification queue holds `n` uploads.
async fn until_queued(t: &TestServer, n: usize) {
    let queue = &t.server.state().verify_queue;
    let waited = tokio::time::timeout(common::PROCESS_BOUND, async {
        while queue.len() != n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the queue never held {n} uploads (it holds {})",
        queue.len()
    );
}

/// Row 3: the verification queue is bounded and fair. A token with an upload in the queue gets
/// 503 for a second one even with room left; a full queue answers 503 with Retry-After at once
/// (nothing queued, nothing stored); after Retry-After the same upload goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_verification_queue_answers_busy_at_once() {
    let t = TestServer::start_with(|c| c.verify_queue = 2).await;
    let (first, second, third) = (
        t.detect_auth(json!({})).await,
        t.detect_auth(json!({})).await,
        t.detect_auth(json!({})).await,
    );
    let a1 = t.attempt(&first).await;
    let held_a = stalled_upload(&t, &a1.attempt_id).await;
    until_queued(&t, 1).await;

    // Fairness: the same token's other attempt waits for its first, though there is room.
    let a2 = t.attempt(&first).await;
    let r = t.garbage_upload(Some(&first), &a2.attempt_id).await;
    assert_eq!(r.status(), 503);
    // Another person is admitted to the free place.
    let c1 = t.attempt(&third).await;
    t.upload_undecodable(&c1.attempt_id).await;

    let b1 = t.attempt(&second).await;
    let held_b = stalled_upload(&t, &b1.attempt_id).await;
    until_queued(&t, 2).await;
    // Full: answered at once with 503, code 1001 and Retry-After.
    let c2 = t.attempt(&third).await;
    let r = t.garbage_upload(Some(&third), &c2.attempt_id).await;
    assert_eq!(r.status(), 503);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let busy: serde_json::Value = r.json().await.unwrap();
    assert_eq!(busy["errCode"], 1001, "{busy}");

    // The held uploads break off; the refused one, sent again as the page does, is verified.
    drop((held_a, held_b));
    until_queued(&t, 0).await;
    t.upload_undecodable(&c2.attempt_id).await;
    // Refused and broken-off uploads used no attempt up: only the two verified ones are recorded.
    assert_eq!(t.attempts_recorded(&third).await, 2);
    let info = t.detect_info(&first, "1").await;
    let first_details = info["Text"]["LivenessDetail"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        first_details.iter().all(|d| d["Errcode"].is_null()),
        "{info}"
    );
}

/// Row 10: `/demo/start` mints BizTokens, so it is off unless the server is started with `--demo`;
/// when on, a POST from another site's page is refused and starts are rate-limited.
#[tokio::test]
async fn the_demo_is_off_by_default_and_guarded_when_on() {
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = |server: &ServerProcess, origin: Option<String>| {
        let mut req = no_redirect.post(format!("{}/demo/start", server.base));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let data = tempfile::tempdir().unwrap();
    let off = ServerProcess::start(data.path(), &[]);
    assert_eq!(start(&off, None).await.unwrap().status(), 404);
    drop(off);

    let data = tempfile::tempdir().unwrap();
    let on = ServerProcess::start(data.path(), &["--demo"]);
    let r = start(&on, Some("https://evil.example".into()))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = start(&on, Some("null".into())).await.unwrap();
    assert_eq!(r.status(), 403);
    // From the demo's own page: six starts a minute from one address, then 429.
    for _ in 0..6 {
        let r = start(&on, Some(on.base.clone())).await.unwrap();
        assert_eq!(r.status(), 303);
    }
    let r = start(&on, Some(on.base.clone())).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

/// Row 2: a client that asks for a large answer (a stored video, about 9 MB as Base64) and never
/// reads it does not hold its connection: once the server's writes make no progress for the write
/// stall limit (1 s here) the connection is closed, and what the client finally reads is cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_answer_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t =
        TestServer::start_with(|c| c.write_stall_timeout = std::time::Duration::from_secs(1)).await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let video: Vec<u8> = garbage()
        .iter()
        .copied()
        .cycle()
        .take(7 * 1024 * 1024)
        .collect();
    let (_, answer) = t
        .upload(&a.attempt_id, video, "video/webm", &empty_report())
        .await;
    assert_eq!(answer["errCode"], 1104, "{answer}");

    let body =
        serde_json::to_vec(&json!({ "BizToken": token, "RuleId": "1", "InfoType": "4" })).unwrap();
    let key = faceid_server::cloud::sign::SigningKey {
        secret_id: &t.secret_id,
        secret_key: &t.secret_key,
    };
    let signed = faceid_server::cloud::sign::sign(
        &key,
        &t.host(),
        "GetDetectInfoEnhanced",
        &body,
        t.signing_clock.now_secs(),
    );
    let mut request = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in signed.pairs() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    // A small receive window, so the answer cannot all sit in this side's buffers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(t.addr().parse().unwrap()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    // Read nothing for a while (ten times the limit: a pause, not a measurement).
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(common::PROCESS_BOUND, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the connection was never closed");
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer head")
        + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a content-length");
    assert!(length > 9_000_000, "{head}");
    assert!(
        received.len() - head_end < length,
        "the whole answer was delivered to a client that did not read"
    );
}
