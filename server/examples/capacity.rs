//! Issue #13's capacity figures, measured through the real HTTP API (a benchmark: it prints, it
//! asserts nothing).
//!
//! 1. `detect`: DetectAuth latency with `--concurrency` (default 200) signed cloud calls in flight
//!    at once, `--requests` of them (after a warm-up), against a release `faceid-server` process
//!    (not pinned) on SQLite (the embedded default) and on a PostgreSQL cluster this tool starts
//!    in a temp dir (server/tests/common/postgres.rs, the tests' own helper). The load generator
//!    (this process) shares the machine's cores with them; the CPU time of each is printed.
//! 2. `instances`: verifications per second of one `faceid-server` process pinned to one core
//!    (`taskset -c 0`) and of two (`taskset -c 0`, `taskset -c 1`) sharing one PostgreSQL database
//!    and one media directory, uploads spread evenly across them (verify_load's simulated genuine
//!    recordings, `--clients` uploaders per instance). Neither PostgreSQL nor this process is
//!    pinned; their CPU time and the whole machine's busy time are printed next to the figures, so
//!    that another load on the cores (a CI run) shows.
//!
//! `cargo build --release -p faceid-server --bin faceid-server --example capacity`, then
//! `target/release/examples/capacity [--part detect|instances|all] [--database sqlite|postgres|both]
//!  [--requests N] [--concurrency C] [--uploads N] [--clients C] [--recordings R] [--server-bin PATH]`
//! (`--uploads` and `--clients` are per instance). Prints a human summary and one
//! `BENCH_JSON {…}` line for scripts/bench.sh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faceid_core::challenge::ColourChallenge;
use faceid_core::sim::{Photo, ASTRONAUT_FACE};
use faceid_server::sim_video::SimRecording;
use serde_json::{json, Value};

mod load;
use load::{percentile, render, spawn_uploaders, Client, Prepared};

/// The PostgreSQL cluster helper of the server's tests, used as is (it needs `PROCESS_BOUND`).
#[path = "../tests/common/postgres.rs"]
#[allow(dead_code)]
mod pg_cluster;

/// The cloud API credentials every started faceid-server gets.
const SECRET: (&str, &str) = ("AKIDcapacitybench0000", "capacity-bench-secret-key-0000");

/// How long a started process (PostgreSQL, faceid-server) may take to become ready.
const PROCESS_BOUND: Duration = Duration::from_secs(60);

struct Options {
    part: String,
    database: String,
    requests: usize,
    concurrency: usize,
    uploads: usize,
    clients: usize,
    recordings: usize,
    server_bin: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        part: "all".into(),
        database: "both".into(),
        requests: 20000,
        concurrency: 200,
        uploads: 40,
        clients: 4,
        recordings: 4,
        server_bin: None,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let text = args.get(i + 1).cloned();
        let value = text.as_deref().and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), text, value) {
            ("--part", Some(v), _) if ["detect", "instances", "all"].contains(&v.as_str()) => {
                o.part = v
            }
            ("--database", Some(v), _) if ["sqlite", "postgres", "both"].contains(&v.as_str()) => {
                o.database = v
            }
            ("--requests", _, Some(v)) => o.requests = v.max(1),
            ("--concurrency", _, Some(v)) => o.concurrency = v.max(1),
            ("--uploads", _, Some(v)) => o.uploads = v.max(1),
            ("--clients", _, Some(v)) => o.clients = v.max(1),
            ("--recordings", _, Some(v)) => o.recordings = v.max(1),
            ("--server-bin", Some(v), _) => o.server_bin = Some(PathBuf::from(v)),
            (other, _, _) => {
                eprintln!("unknown or incomplete argument {other:?}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    o
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux).

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// (ppid, CPU seconds of the process and of its reaped children) of `pid`.
fn proc_stat(pid: u32, ticks: f64) -> Option<(u32, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let t: f64 = f[11..15]
        .iter()
        .map(|v| v.parse::<f64>().unwrap_or(0.0))
        .sum();
    Some((ppid, t / ticks))
}

/// CPU seconds of `root` and its live children (PostgreSQL backends are the postmaster's
/// children; exited ones are in its reaped-children time).
fn tree_cpu(root: u32, ticks: f64) -> f64 {
    let mut total = proc_stat(root, ticks).map_or(0.0, |(_, t)| t);
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((ppid, t)) = proc_stat(pid, ticks) {
            if ppid == root {
                total += t;
            }
        }
    }
    total
}

/// The postmaster listening on `port` (its command line carries `-p <port>`).
fn postmaster_pid(port: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"/postgres"))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-p" && w[1] == port.as_bytes())
        })
}

/// Busy and total jiffies of each core (`/proc/stat`).
fn core_times() -> Vec<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0.0))
                .collect();
            let idle = v.get(3).unwrap_or(&0.0) + v.get(4).unwrap_or(&0.0);
            let total: f64 = v.iter().take(8).sum();
            (total - idle, total)
        })
        .collect()
}

/// CPU seconds all cores were busy between two [`core_times`] readings.
fn busy_secs(before: &[(f64, f64)], after: &[(f64, f64)], ticks: f64) -> f64 {
    before
        .iter()
        .zip(after)
        .map(|((b0, _), (b1, _))| b1 - b0)
        .sum::<f64>()
        / ticks
}

/// Each core's busy share between two [`core_times`] readings, in percent.
fn busy_percent(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|((b0, t0), (b1, t1))| round1(100.0 * (b1 - b0) / (t1 - t0).max(1.0)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. DetectAuth latency.

/// `requests` DetectAuth calls, `concurrency` in flight at once: latencies (ms), wall seconds and
/// the answers' outcome counts.
async fn detect_round(
    client: &Arc<Client>,
    requests: usize,
    concurrency: usize,
) -> (Vec<f64>, f64, BTreeMap<String, usize>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut jobs = Vec::new();
    for _ in 0..concurrency {
        let (client, next) = (client.clone(), next.clone());
        jobs.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let params = json!({ "RuleId": "1" });
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let (ms, status, v) = client.cloud("DetectAuth", &params).await;
                let outcome = if v["Response"]["BizToken"].is_string() {
                    "ok".to_string()
                } else {
                    format!(
                        "{status} {}",
                        v["Response"]["Error"]["Code"].as_str().unwrap_or("?")
                    )
                };
                out.push((ms, outcome));
            }
            out
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut outcomes = BTreeMap::new();
    for j in jobs {
        for (ms, outcome) in j.await.expect("client task") {
            latencies.push(ms);
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    (latencies, wall, outcomes)
}

async fn detect_auth(database: &str, bin: &Path, o: &Options) -> Value {
    // A cluster of this run's own (dropped at the end of this function).
    let cluster = if database == "postgres" {
        let cluster = tokio::task::spawn_blocking(|| {
            let c = pg_cluster::PostgresServer::start();
            let url = c.create_database("detect");
            (c, url)
        })
        .await
        .expect("start postgres");
        Some(cluster)
    } else {
        None
    };
    let server = Instance::start(
        bin,
        None,
        cluster.as_ref().map(|(_, url)| url.as_str()),
        None,
        SECRET,
    );
    let client = server.client.clone();
    // Warm-up: connections opened (client and database pool), caches filled.
    let warm = o.concurrency.max(200);
    let _ = detect_round(&client, warm, o.concurrency).await;

    let ticks = clock_ticks();
    let pg_pid = cluster
        .as_ref()
        .and_then(|(_, url)| postmaster_pid(url.rsplit(':').next()?.split('/').next()?));
    let me = std::process::id();
    let server_pid = server.child.id();
    let (self0, server0, pg0, cores0) = (
        proc_stat(me, ticks).map_or(0.0, |p| p.1),
        proc_stat(server_pid, ticks).map_or(0.0, |p| p.1),
        pg_pid.map_or(0.0, |p| tree_cpu(p, ticks)),
        core_times(),
    );
    let (lat, wall, outcomes) = detect_round(&client, o.requests, o.concurrency).await;
    let (self1, server1, pg1, cores1) = (
        proc_stat(me, ticks).map_or(0.0, |p| p.1),
        proc_stat(server_pid, ticks).map_or(0.0, |p| p.1),
        pg_pid.map_or(0.0, |p| tree_cpu(p, ticks)),
        core_times(),
    );
    let per_sec = lat.len() as f64 / wall;
    let (p50, p95, p99) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
    );
    let busy = busy_percent(&cores0, &cores1);
    let self_cpu = self1 - self0;
    let server_cpu = server1 - server0;
    let pg_cpu = pg1 - pg0;
    let others = (busy_secs(&cores0, &cores1, ticks) - self_cpu - server_cpu - pg_cpu).max(0.0);
    let per_call_ms = |cpu: f64| round2(cpu * 1000.0 / lat.len().max(1) as f64);
    println!(
        "DetectAuth on {database}: {} requests, {} in flight: {per_sec:.0} requests/s, latency p50 {p50:.1} ms, \
         p95 {p95:.1} ms, p99 {p99:.1} ms, max {:.1} ms; outcomes {outcomes:?}; CPU over {wall:.1} s: \
         faceid-server {server_cpu:.1} s ({:.2} ms a call), PostgreSQL {pg_cpu:.1} s ({:.2} ms a call), \
         load generator {self_cpu:.1} s, everything else on the machine {others:.1} s; cores busy {busy:?} %",
        lat.len(),
        o.concurrency,
        lat.last().copied().unwrap_or(f64::NAN),
        per_call_ms(server_cpu),
        per_call_ms(pg_cpu),
    );
    drop(server);
    if let Some((c, _)) = cluster {
        let _ = tokio::task::spawn_blocking(move || drop(c)).await;
    }
    json!({
        "requests": lat.len(),
        "concurrency": o.concurrency,
        "per_second": per_sec.round(),
        "p50_ms": round1(p50),
        "p95_ms": round1(p95),
        "p99_ms": round1(p99),
        "max_ms": round1(lat.last().copied().unwrap_or(f64::NAN)),
        "outcomes": outcomes,
        "wall_s": round2(wall),
        "cpu_s": { "server": round2(server_cpu), "postgres": round2(pg_cpu), "load_generator": round2(self_cpu), "others": round2(others) },
        "cpu_ms_per_call": { "server": per_call_ms(server_cpu), "postgres": per_call_ms(pg_cpu) },
        "cores_busy_percent": busy,
    })
}

// ---------------------------------------------------------------------------------------------
// 2. Verifications per second, one instance vs two.

/// A `faceid-server` process, pinned to one core or not.
struct Instance {
    child: Child,
    client: Arc<Client>,
    _data: tempfile::TempDir,
}

impl Instance {
    /// `bin` on 127.0.0.1:0 with a data directory of its own; `database_url` and `media` default
    /// to that directory's SQLite file and media directory.
    fn start(
        bin: &Path,
        core: Option<usize>,
        database_url: Option<&str>,
        media: Option<&Path>,
        secret: (&str, &str),
    ) -> Instance {
        use std::io::BufRead;
        let data = tempfile::tempdir().expect("tempdir");
        let site = data.path().join("site");
        std::fs::create_dir_all(&site).expect("site dir");
        let log = data.path().join("server.log");
        let mut cmd = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        if let Some(media) = media {
            cmd.arg("--media-url").arg(media);
        }
        let id = core.map_or("bench".to_string(), |c| format!("bench-{c}"));
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(["--instance-id", &id])
            .args(["--secret-id", secret.0, "--secret-key", secret.1])
            .args(["--browser-per-day", &u32::MAX.to_string()])
            .arg("--www-dir")
            .arg(&site)
            .arg("--pkg-dir")
            .arg(&site)
            .env("RUST_LOG", "warn")
            .env_remove("FACEID_DEMO")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Drained for the process's whole life, so that its prints never block.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let base = loop {
            let line = rx.recv_timeout(PROCESS_BOUND).unwrap_or_else(|e| {
                panic!(
                    "faceid-server did not start ({e}); log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
            if let Some(v) = line.trim().strip_prefix("faceid-server listening on ") {
                break v.trim().to_string();
            }
        };
        Instance {
            child,
            client: Arc::new(Client::new("capacity", &base, secret.0, secret.1)),
            _data: data,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cores.len()` instances (one pinned per core) on a fresh database of `cluster`: verifications
/// per second with `uploads` uploads and `clients` uploaders per instance.
async fn instances_round(
    cluster: &Arc<pg_cluster::PostgresServer>,
    cores: &[usize],
    bin: &Path,
    recordings: &[(ColourChallenge, SimRecording)],
    o: &Options,
) -> Value {
    let name = format!("instances{}", cores.len());
    let url = {
        let (cluster, name) = (cluster.clone(), name.clone());
        tokio::task::spawn_blocking(move || cluster.create_database(&name))
            .await
            .expect("create database")
    };
    let media = tempfile::tempdir().expect("media dir");
    let instances: Vec<Instance> = cores
        .iter()
        .map(|&c| Instance::start(bin, Some(c), Some(&url), Some(media.path()), SECRET))
        .collect();

    // Attempts prepared before timing: DetectAuth on one instance, the attempt and its upload on
    // the next (the shared database carries the token), then each attempt's drawn challenge
    // rewritten to its pre-rendered recording's.
    let n = instances.len();
    let mut per_instance: Vec<Vec<Prepared>> = (0..n).map(|_| Vec::new()).collect();
    let mut rewrites = Vec::new();
    for i in 0..o.uploads * n {
        let (challenge, rec) = recordings[i % recordings.len()].clone();
        let target = i % n;
        let (token, mut a) = instances[(i + 1) % n]
            .client
            .attempt(&instances[target].client)
            .await;
        rewrites.push((
            a.attempt_id.clone(),
            serde_json::to_string(&challenge).expect("json"),
        ));
        a.challenge = challenge;
        per_instance[target].push((token, a, rec));
    }
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            for (id, challenge) in rewrites {
                let n = db
                    .execute(
                        "UPDATE attempts SET challenge = $1 WHERE attempt_id = $2",
                        &[&challenge, &id],
                    )
                    .expect("rewrite challenge");
                assert_eq!(n, 1, "attempt {id} not found");
            }
        })
        .await
        .expect("rewrite");
    }

    let ticks = clock_ticks();
    let pg_pid = postmaster_pid(
        url.rsplit(':')
            .next()
            .and_then(|s| s.split('/').next())
            .unwrap_or(""),
    );
    let cpu_of = |inst: &[Instance]| -> Vec<f64> {
        inst.iter()
            .map(|i| proc_stat(i.child.id(), ticks).map_or(0.0, |p| p.1))
            .collect()
    };
    let me = std::process::id();
    let (inst0, pg0, self0, cores0) = (
        cpu_of(&instances),
        pg_pid.map_or(0.0, |p| tree_cpu(p, ticks)),
        proc_stat(me, ticks).map_or(0.0, |p| p.1),
        core_times(),
    );
    let started = Instant::now();
    let mut jobs = Vec::new();
    for (inst, attempts) in instances.iter().zip(per_instance) {
        jobs.extend(spawn_uploaders(&inst.client, attempts, o.clients));
    }
    let mut latencies = Vec::new();
    let mut codes = BTreeMap::<u64, usize>::new();
    for j in jobs {
        for (ms, code) in j.await.expect("uploader") {
            latencies.push(ms);
            *codes.entry(code).or_default() += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (inst1, pg1, self1, cores1) = (
        cpu_of(&instances),
        pg_pid.map_or(0.0, |p| tree_cpu(p, ticks)),
        proc_stat(me, ticks).map_or(0.0, |p| p.1),
        core_times(),
    );
    latencies.sort_by(f64::total_cmp);
    // Verifications are answers with a verdict: a busy answer (1001, 503 and Retry-After) is not one.
    let busy_answers = codes.get(&1001).copied().unwrap_or(0);
    let per_sec = (latencies.len() - busy_answers) as f64 / wall;
    let inst_cpu: Vec<f64> = inst0
        .iter()
        .zip(&inst1)
        .map(|(a, b)| round1(b - a))
        .collect();
    let pg_cpu = pg1 - pg0;
    let self_cpu = self1 - self0;
    let busy = busy_percent(&cores0, &cores1);
    let others =
        (busy_secs(&cores0, &cores1, ticks) - inst_cpu.iter().sum::<f64>() - pg_cpu - self_cpu)
            .max(0.0);
    let (p50, p95) = (percentile(&latencies, 0.5), percentile(&latencies, 0.95));
    println!(
        "{n} instance(s) on cores {cores:?}: {} uploads ({} uploaders per instance): {per_sec:.2} verifications/s, \
         latency p50 {p50:.0} ms, p95 {p95:.0} ms; codes {codes:?}; CPU over {wall:.1} s: instances (with ffmpeg) \
         {inst_cpu:?} s ({:.2} s a verification), PostgreSQL {pg_cpu:.1} s, load generator {self_cpu:.1} s, everything else on the \
         machine {others:.1} s; cores busy {busy:?} %",
        latencies.len(),
        o.clients,
        inst_cpu.iter().sum::<f64>() / (latencies.len() - busy_answers).max(1) as f64,
    );
    drop(instances);
    json!({
        "instances": n,
        "cores": cores,
        "uploads": latencies.len(),
        "clients_per_instance": o.clients,
        "per_second": round2(per_sec),
        "busy_answers": busy_answers,
        "instance_cpu_s_per_verification": round2(inst_cpu.iter().sum::<f64>() / (latencies.len() - busy_answers).max(1) as f64),
        "p50_ms": p50.round(),
        "p95_ms": p95.round(),
        "codes": codes,
        "wall_s": round1(wall),
        "cpu_s": { "instances": inst_cpu, "postgres": round1(pg_cpu), "load_generator": round1(self_cpu), "others": round1(others) },
        "cores_busy_percent": busy,
    })
}

/// The faceid-server binary the measurements start.
fn server_binary(o: &Options) -> PathBuf {
    let bin = o.server_bin.clone().unwrap_or_else(|| {
        // target/<profile>/examples/capacity → target/<profile>/faceid-server
        let me = std::env::current_exe().expect("current exe");
        me.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("faceid-server")
    });
    if !bin.is_file() {
        eprintln!(
            "{} not found: build it (cargo build --release -p faceid-server --bin faceid-server) or give --server-bin",
            bin.display()
        );
        std::process::exit(2);
    }
    bin
}

async fn instances(bin: &Path, o: &Options) -> Value {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return json!({ "error": format!("{cores} core(s): two pinned instances need two") });
    }
    let photo_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/faces/astronaut.png");
    let photo = Photo::from_png(&std::fs::read(&photo_path).expect("astronaut.png"))
        .expect("png")
        .with_face(ASTRONAUT_FACE);
    let t = Instant::now();
    let mut recordings = Vec::new();
    for i in 0..o.recordings {
        use rand_core::SeedableRng;
        let challenge = ColourChallenge::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(
            0xbe9c + 1 + i as u64,
        ));
        let rec = render(&photo, &challenge, i as u64 + 1);
        recordings.push((challenge, rec));
    }
    let first = &recordings[0].1;
    println!(
        "rendered {} recordings of {}x{} ({} KB on average) in {:.1} s",
        recordings.len(),
        first.width,
        first.height,
        recordings.iter().map(|(_, r)| r.video.len()).sum::<usize>() / recordings.len() / 1024,
        t.elapsed().as_secs_f64()
    );
    let cluster = Arc::new(
        tokio::task::spawn_blocking(pg_cluster::PostgresServer::start)
            .await
            .expect("start postgres"),
    );
    let one = instances_round(&cluster, &[0], bin, &recordings, o).await;
    let two = instances_round(&cluster, &[0, 1], bin, &recordings, o).await;
    let ratio = two["per_second"].as_f64().unwrap_or(f64::NAN)
        / one["per_second"].as_f64().unwrap_or(f64::NAN);
    println!("two instances / one: {ratio:.2}x (goal >= 1.8x)");
    let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
    json!({
        "media": "one shared directory",
        "video": { "width": first.width, "height": first.height, "codec": "vp8" },
        "one": one,
        "two": two,
        "ratio": round2(ratio),
    })
}

#[tokio::main]
async fn main() {
    let o = options();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = server_binary(&o);
    let mut out = json!({ "cores": cores });
    if o.part != "instances" {
        let mut detect = serde_json::Map::new();
        for db in ["sqlite", "postgres"] {
            if o.database == db || o.database == "both" {
                detect.insert(db.into(), detect_auth(db, &bin, &o).await);
            }
        }
        out["detect"] = Value::Object(detect);
    }
    if o.part != "detect" {
        out["instances"] = instances(&bin, &o).await;
    }
    println!("BENCH_JSON {out}");
}
