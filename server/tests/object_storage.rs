//! Servers whose media live in S3-compatible object storage (a real moto_server, common/moto.rs),
//! and the readiness probe: `/readyz` answers 200 while the database and the media store answer,
//! 503 naming the one that does not; `/healthz` stays 200 regardless.

mod common;

use common::moto::MotoServer;
use common::postgres::PostgresServer;
use common::{ServerProcess, TestServer};
use faceid_server::media::{MediaUrl, S3Location};
use faceid_server::sim_video::VideoFormat;
use faceid_server::store::DatabaseUrl;
use serde_json::{json, Value};

const BUCKET: &str = "faceid-media";

/// `/readyz`'s status and JSON body, `/healthz`'s status.
async fn probes(api: &common::Endpoint) -> ((u16, Value), u16) {
    let ready = common::status_and_json(
        api.http
            .get(format!("{}/readyz", api.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let live = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (ready, live)
}

/// Starts a moto server with an empty bucket (off the async threads: it blocks).
async fn moto_with_bucket() -> MotoServer {
    tokio::task::spawn_blocking(|| {
        let server = MotoServer::start();
        server.create_bucket(BUCKET);
        server
    })
    .await
    .unwrap()
}

/// The real binary, configured the way an operator does (`--media-url`, `AWS_*` variables): an
/// upload through the H5 API lands in the bucket, not in the data directory, and the cloud API
/// returns its video and best frame from there. When the storage goes away, `/readyz` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_s3_media_stores_uploads_in_the_bucket() {
    let moto = moto_with_bucket().await;
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_after(
        &moto.env_prelude(),
        data.path(),
        &["--media-url", &format!("s3://{BUCKET}/h5/prod")],
    );
    assert_eq!(
        probes(&server).await,
        ((200, json!({ "ready": true })), 200)
    );
    // The start-up probe cleaned up after itself, as did /readyz's.
    assert_eq!(moto.object_names(BUCKET, ""), Vec::<String>::new());

    let token = server.detect_auth(json!({})).await;
    let pass = server.genuine_pass(&token, 9, VideoFormat::Webm).await;
    let (a, rec) = (&pass.attempt, &pass.recording);
    // Each try stored its video and best frame under the prefix, the passing one's among them.
    let stored = moto.object_names(BUCKET, "");
    for name in [
        format!("h5/prod/{}.jpg", a.attempt_id),
        format!("h5/prod/{}.video", a.attempt_id),
    ] {
        assert!(stored.contains(&name), "{name} not in {stored:?}");
    }
    assert!(stored.len() <= 2 * pass.tries, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|n| n.starts_with("h5/prod/") && (n.ends_with(".jpg") || n.ends_with(".video"))),
        "{stored:?}"
    );
    let local = data.path().join(faceid_server::MEDIA_DIR);
    assert!(
        !local.exists() || std::fs::read_dir(&local).unwrap().next().is_none(),
        "media were written to the data directory"
    );

    let info = server.detect_info(&token, "0").await;
    assert_eq!(info["Text"]["ErrCode"], 0, "{info}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let video = b64
        .decode(info["VideoData"]["LivenessVideo"].as_str().unwrap())
        .unwrap();
    assert!(video == rec.video, "the video came back changed");
    let frame = b64
        .decode(info["BestFrame"]["BestFrame"].as_str().unwrap())
        .unwrap();
    assert!(
        frame.starts_with(&[0xFF, 0xD8, 0xFF]),
        "best frame is a JPEG"
    );

    tokio::task::spawn_blocking(move || drop(moto))
        .await
        .unwrap();
    assert_eq!(
        probes(&server).await,
        ((503, json!({ "ready": false, "failed": ["media"] })), 200),
        "{}",
        server.log()
    );
    assert!(server.log().contains("not ready"), "{}", server.log());
}

/// Two servers on one PostgreSQL and one bucket serve one flow between them, media included: the
/// upload verified on one, its video and best frame read back through the other's cloud API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_and_bucket_share_media() {
    let moto = moto_with_bucket().await;
    let (pg, database) = tokio::task::spawn_blocking(|| {
        let pg = PostgresServer::start();
        let url = pg.create_database("faceid");
        (pg, DatabaseUrl::Postgres(url))
    })
    .await
    .unwrap();
    let shared = |instance: &'static str| {
        let (database, s3) = (database.clone(), moto.settings());
        move |c: &mut faceid_server::ServerConfig| {
            c.database = database;
            c.media = MediaUrl::S3(S3Location {
                bucket: BUCKET.into(),
                prefix: "shared".into(),
            });
            c.s3 = s3;
            c.instance_id = instance.into();
        }
    };
    let one = TestServer::start_with(shared("one")).await;
    let two = TestServer::start_with(shared("two")).await;
    let token = one.detect_auth(json!({})).await;
    let pass = two.genuine_pass(&token, 9, VideoFormat::Webm).await;
    let rec = &pass.recording;
    let info = one.detect_info(&token, "0").await;
    use base64::Engine;
    let video = base64::engine::general_purpose::STANDARD
        .decode(info["VideoData"]["LivenessVideo"].as_str().unwrap())
        .unwrap();
    assert!(video == rec.video, "the video came back changed");
    assert!(info["BestFrame"]["BestFrame"].is_string(), "{info}");

    // Past retention, the purge on either instance deletes the objects from the bucket.
    one.clock
        .advance_ms(faceid_server::config::DEFAULT_RETENTION_SECS as i64 * 1_000 + 1);
    let stored = moto.object_names(BUCKET, "").len();
    assert!(
        stored >= 2,
        "the passing try's video and best frame are stored"
    );
    assert_eq!(one.server.purge_now().await.unwrap().media_deleted, stored);
    assert_eq!(moto.object_names(BUCKET, ""), Vec::<String>::new());

    // The database goes away: both say so, the media store still answers.
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
    for server in [&one, &two] {
        assert_eq!(
            probes(server).await,
            (
                (503, json!({ "ready": false, "failed": ["database"] })),
                200
            )
        );
    }
    one.server.shutdown().await.unwrap();
    two.server.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || drop(moto))
        .await
        .unwrap();
}

/// The default configuration (SQLite, media directory) is ready as soon as it serves.
#[tokio::test]
async fn the_default_server_is_ready() {
    let t = TestServer::start().await;
    assert_eq!(probes(&t).await, ((200, json!({ "ready": true })), 200));
    t.server.shutdown().await.unwrap();
}

/// The binary refuses a media URL it cannot use, and object storage that does not answer, at
/// start-up with a reason (exit 2: configuration; 1: start-up failed).
#[test]
fn bad_media_settings_stop_the_start_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let run = |prelude: &str, media_url: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{prelude} exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_faceid-server"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(["--media-url", media_url])
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run("", "gs://faceid-media/prod");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("media URL \"gs://faceid-media/prod\""),
        "{stderr}"
    );
    let (code, stderr) = run("", "s3://Faceid_Media");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("bucket name"), "{stderr}");
    // Nothing listens on port 9 (discard) of the loopback: the endpoint refuses connections.
    let (code, stderr) = run(
        "export AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y &&",
        "s3://faceid-media/prod",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("media storage s3://faceid-media/prod does not answer"),
        "{stderr}"
    );
}
