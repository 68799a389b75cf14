//! Verification latency and throughput, measured through the real HTTP API.
//!
//! Renders simulated 640×480 recordings (faceid-core's simulator → ffmpeg, WebM/VP8 at 1 Mbit/s,
//! 30 fps, the ~5 s a light challenge takes), starts the server in-process on 127.0.0.1:0, then:
//! 1. one upload at a time: latency (median, p95) of `POST …/video` until the answer;
//! 2. a per-stage breakdown on one recording: ffmpeg decode alone (no analysis), full verification;
//! 3. `--clients` concurrent uploaders: verifications per second and latency under load.
//!
//! `cargo run --release -p faceid-server --example verify_load -- [--uploads N] [--clients C] [--recordings R]`
//! Prints a human summary and one `BENCH_JSON {…}` line for scripts/bench.sh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::UploadReport;
use faceid_core::sim::{Photo, ASTRONAUT_FACE};
use faceid_server::sim_video::SimRecording;
use faceid_server::verify::{ffmpeg, MediaTools, Verifier};
use faceid_server::ServerConfig;
use serde_json::json;

mod load;
use load::{percentile, render, spawn_uploaders, Client};

struct Options {
    uploads: usize,
    clients: usize,
    recordings: usize,
}

fn options() -> Options {
    let mut o = Options {
        uploads: 24,
        clients: 4,
        recordings: 4,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), value) {
            ("--uploads", Some(v)) => o.uploads = v.max(1),
            ("--clients", Some(v)) => o.clients = v.max(1),
            ("--recordings", Some(v)) => o.recordings = v.max(1),
            (other, _) => {
                eprintln!("unknown or incomplete argument {other:?}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    o
}

fn summary(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (percentile(&v, 0.5), percentile(&v, 0.95))
}

#[tokio::main]
async fn main() {
    let o = options();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let photo_path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/faces/astronaut.png");
    let photo = Photo::from_png(&std::fs::read(&photo_path).expect("astronaut.png"))
        .expect("png")
        .with_face(ASTRONAUT_FACE);

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::for_data_dir(data.path()).expect("config");
    config.browser_per_day = u32::MAX;
    let server = faceid_server::start(config).await.expect("server");
    let state = server.state().clone();
    let client = Arc::new(Client::new(
        "verify_load",
        server.base_url(),
        &server.credentials().secret_id,
        &server.credentials().secret_key,
    ));

    // Recordings, rendered before any measurement.
    let t = Instant::now();
    let mut rng_seed = 0xbe9c_u64;
    let mut recordings: Vec<(ColourChallenge, SimRecording)> = Vec::new();
    for i in 0..o.recordings {
        use rand_core::SeedableRng;
        rng_seed += 1;
        let challenge =
            ColourChallenge::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(rng_seed));
        let rec = render(&photo, &challenge, i as u64 + 1);
        recordings.push((challenge, rec));
    }
    let first = &recordings[0].1;
    let duration_ms = first.shown.last().map_or(0.0, |d| d.start_ms) + 350.0 + 600.0;
    let mean_bytes =
        recordings.iter().map(|(_, r)| r.video.len()).sum::<usize>() / recordings.len();
    println!(
        "rendered {} recordings of {}x{} (~{:.1} s, {} KB on average) in {:.1} s",
        recordings.len(),
        first.width,
        first.height,
        duration_ms / 1000.0,
        mean_bytes / 1024,
        t.elapsed().as_secs_f64()
    );

    // An attempt whose stored challenge is the pre-rendered recording's: the bench rewrites the
    // drawn challenge in the database (a second SQLite connection), so no rendering is timed.
    let db_path = data.path().join(faceid_server::DATABASE_FILE);
    let prepared = |i: usize| {
        let client = client.clone();
        let db_path = db_path.clone();
        let (challenge, rec) = recordings[i % recordings.len()].clone();
        async move {
            let (token, mut a) = client.attempt(&client).await;
            let conn = rusqlite::Connection::open(&db_path).expect("open db");
            conn.busy_timeout(Duration::from_secs(5))
                .expect("busy timeout");
            let json = serde_json::to_string(&challenge).expect("json");
            let n = conn
                .execute(
                    "UPDATE attempts SET challenge = ?1 WHERE attempt_id = ?2",
                    rusqlite::params![json, a.attempt_id],
                )
                .expect("rewrite challenge");
            assert_eq!(n, 1);
            a.challenge = challenge;
            (token, a, rec)
        }
    };

    // 1. Sequential latency.
    let mut seq = Vec::new();
    let mut codes = std::collections::BTreeMap::<u64, usize>::new();
    let sequential = o.uploads.min(12);
    for i in 0..sequential {
        let (token, a, rec) = prepared(i).await;
        let (ms, code) = client.upload(&token, &a, &rec).await;
        *codes.entry(code).or_default() += 1;
        seq.push(ms);
    }
    let (seq_p50, seq_p95) = summary(seq.clone());
    println!("sequential: {sequential} uploads, latency median {seq_p50:.0} ms, p95 {seq_p95:.0} ms; codes {codes:?}");

    // 2. Stage breakdown on one recording.
    let path = data.path().join("bench.webm");
    std::fs::write(&path, &first.video).expect("write");
    let tools = MediaTools::default();
    let deadline = || Instant::now() + Duration::from_secs(60);
    let mut decode_ms = Vec::new();
    let mut verify_ms = Vec::new();
    let verifier = Verifier::new(tools.clone(), Duration::from_secs(60));
    let report = UploadReport {
        shown: first.shown.clone(),
        hold_start_ms: Some(first.hold_start_ms),
        recorder_mime: "video/webm".into(),
        frame_width: first.width,
        frame_height: first.height,
        page_decode: None,
        user_agent: String::new(),
    };
    let mut frames = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let d = ffmpeg::decode_rgba(&tools, &path, 320, 240, deadline(), &mut |_, _| {
            std::ops::ControlFlow::Continue(())
        })
        .expect("decode");
        decode_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        frames = d.frames;
        let t = Instant::now();
        let out = verifier.verify(&path, &recordings[0].0, Some(&report));
        verify_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.frames, frames);
    }
    let (decode_p50, _) = summary(decode_ms);
    let (verify_p50, _) = summary(verify_ms);
    let analysis_p50 = verify_p50 - decode_p50;
    println!(
        "stages (median of 5, {frames} frames): ffmpeg decode+scale alone {decode_p50:.0} ms, \
         analysis+decoder on top {analysis_p50:.0} ms ({:.2} ms/frame), whole engine {verify_p50:.0} ms \
         (decode and analysis overlap: ffmpeg runs in its own process)",
        analysis_p50 / frames.max(1) as f64
    );

    // 3. Concurrent load.
    let mut attempts = Vec::new();
    for i in 0..o.uploads {
        attempts.push(prepared(i).await);
    }
    let started = Instant::now();
    let jobs = spawn_uploaders(&client, attempts, o.clients);
    let mut load = Vec::new();
    let mut load_codes = std::collections::BTreeMap::<u64, usize>::new();
    for j in jobs {
        for (ms, code) in j.await.expect("client task") {
            load.push(ms);
            *load_codes.entry(code).or_default() += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let per_sec = o.uploads as f64 / wall;
    let (load_p50, load_p95) = summary(load);
    println!(
        "concurrent: {} uploads from {} clients on {cores} cores (verification slots = {}): {per_sec:.2} verifications/s, \
         latency median {load_p50:.0} ms, p95 {load_p95:.0} ms; codes {load_codes:?}",
        o.uploads,
        o.clients,
        state.config.verify_concurrency
    );
    println!(
        "BENCH_JSON {}",
        json!({
            "cores": cores,
            "video": { "width": first.width, "height": first.height, "duration_ms": duration_ms.round(), "bytes": mean_bytes, "codec": "vp8", "fps": 30 },
            "sequential": { "uploads": sequential, "p50_ms": seq_p50.round(), "p95_ms": seq_p95.round() },
            "stages_ms": { "decode": decode_p50.round(), "analysis": analysis_p50.round(), "engine": verify_p50.round(), "frames": frames },
            "concurrent": { "uploads": o.uploads, "clients": o.clients, "per_second": (per_sec * 100.0).round() / 100.0, "p50_ms": load_p50.round(), "p95_ms": load_p95.round() },
        })
    );
    let _ = server.shutdown().await;
}
