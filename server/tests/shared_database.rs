//! Servers on a real PostgreSQL (common/postgres.rs): one verifies and keeps its answers across
//! restarts, and two on one database serve one flow between them — DetectAuth on one, the page's
//! calls on the other. Media live in each server's own directory here, so only text results are
//! read across servers; object_storage.rs shares media too, through one bucket.

mod common;

use common::postgres::PostgresServer;
use common::{report_for, sim_recording, status_and_json, TestServer};
use faceid_core::sim::Attack;
use faceid_server::sim_video::VideoFormat;
use faceid_server::store::DatabaseUrl;
use serde_json::{json, Value};

/// A PostgreSQL server with an empty database (started off the async threads: it blocks).
async fn postgres_database() -> (PostgresServer, DatabaseUrl) {
    tokio::task::spawn_blocking(|| {
        let server = PostgresServer::start();
        let url = server.create_database("faceid");
        (server, DatabaseUrl::Postgres(url))
    })
    .await
    .unwrap()
}

/// The answer of an upload of a genuine recording (200; passed, or asked to try again — see
/// [`common::genuine_verdict`]).
fn verified((status, answer): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{answer}");
    common::genuine_verdict(&answer);
    answer
}

/// What GetDetectInfoEnhanced's ErrCode says after `answer` (0 once passed; none while the flow
/// is open).
fn stored_code(answer: &Value) -> Value {
    if answer["errCode"] == 0 {
        json!(0)
    } else {
        Value::Null
    }
}

async fn stop(pg: PostgresServer) {
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_verifies_and_keeps_answers_across_restarts() {
    let (pg, database) = postgres_database().await;
    let t = TestServer::start_with(|c| c.database = database.clone()).await;
    let token = t.detect_auth(json!({})).await;
    let a = t.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 9, VideoFormat::Webm);
    let answer = verified(
        t.upload_recording(&a.attempt_id, &rec, VideoFormat::Webm)
            .await,
    );
    // The restart closes the store's connections from an async thread and opens new ones.
    let t = t.restart().await;
    let again = verified(
        t.upload_recording(&a.attempt_id, &rec, VideoFormat::Webm)
            .await,
    );
    assert_eq!(again, answer);
    assert_eq!(
        t.detect_info(&token, "1").await["Text"]["ErrCode"],
        stored_code(&answer)
    );
    assert!(
        !t.data.path().join(faceid_server::DATABASE_FILE).exists(),
        "the SQLite default was used instead of PostgreSQL"
    );
    t.server.shutdown().await.unwrap();
    stop(pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_serve_one_flow_between_them() {
    let (pg, database) = postgres_database().await;
    let on_database = |instance: &'static str| {
        let database = database.clone();
        move |c: &mut faceid_server::ServerConfig| {
            c.database = database;
            c.instance_id = instance.into();
        }
    };
    let one = TestServer::start_with(on_database("one")).await;
    let two = TestServer::start_with(on_database("two")).await;
    let token = one.detect_auth(json!({})).await;
    let (status, session) = two.session(&token).await;
    assert_eq!(status, 200, "{session}");
    let a = two.attempt(&token).await;
    let rec = sim_recording(&a.challenge, Attack::None, 9, VideoFormat::Webm);
    let answer = verified(
        two.upload_recording(&a.attempt_id, &rec, VideoFormat::Webm)
            .await,
    );
    let mime = VideoFormat::Webm.mime();
    // The page's retry reaching the other server gets the same stored answer, not a second
    // verification.
    let (status, again) = status_and_json(
        one.upload_response(
            Some(&token),
            &a.attempt_id,
            rec.video.clone(),
            mime,
            &report_for(&rec, mime),
        )
        .await,
    )
    .await;
    assert_eq!((status, &again), (200, &answer));
    assert_eq!(
        one.detect_info(&token, "1").await["Text"]["ErrCode"],
        stored_code(&answer)
    );
    one.server.shutdown().await.unwrap();
    two.server.shutdown().await.unwrap();
    stop(pg).await;
}

/// While another session holds a flow's token row locked and never lets go (an instance stopped
/// in the middle of a transaction), a page call that needs the row gets 503 with `Retry-After` and
/// code 1001 once the store's lock timeout runs out — busy, come back — not a hang and not an
/// internal error; and the same call goes through once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_call_behind_a_stuck_lock_is_answered_busy() {
    let (pg, database) = postgres_database().await;
    let DatabaseUrl::Postgres(url) = database.clone() else {
        unreachable!()
    };
    let t = TestServer::start_with(|c| c.database = database.clone()).await;
    let token = t.detect_auth(json!({})).await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = tokio::sync::oneshot::channel();
    let stuck_token = token.clone();
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.execute(
            "SELECT 1 FROM tokens WHERE biz_token = $1 FOR UPDATE",
            &[&stuck_token],
        )
        .unwrap();
        held.send(()).unwrap();
        // Stuck until the test has its answer.
        let _ = released.recv();
        tx.rollback().unwrap();
    });
    holding.await.unwrap();
    let r = t.attempt_response(&token, None).await;
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let answer: Value = r.json().await.unwrap();
    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["errCode"], 1001, "{answer}");
    assert!(retry_after.is_some(), "no Retry-After");
    // The lock is gone: the page's next try creates the attempt.
    t.attempt(&token).await;
    t.server.shutdown().await.unwrap();
    stop(pg).await;
}
