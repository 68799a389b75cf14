//! Shared helpers of the server's integration tests: a server on 127.0.0.1:0 with a temp data
//! directory and a manual clock, a signed cloud client and an H5 client over real HTTP.
#![allow(dead_code)]

pub mod moto;
pub mod postgres;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{AttemptCreated, UploadReport};
use faceid_core::sim::{Attack, Photo, SimConditions, ASTRONAUT_FACE};
use faceid_server::clock::{Clock, ManualClock};
use faceid_server::cloud::sign::{sign, SigningKey};
use faceid_server::sim_video::{self, SimRecording, VideoFormat};
use faceid_server::{RunningServer, ServerConfig};
use serde_json::{json, Value};

/// How many tries a simulated genuine person makes. In the tests' steady world a genuine
/// recording through the codecs passes about 60 % of the time and is otherwise asked to try again
/// (1202, its relief undecided: `faceid-eval --steady --bands 3 --record 320x240` measures it), so
/// eight independent tries all fail about once in 2,000 runs.
pub const GENUINE_TRIES: u64 = 8;

/// The code of an answer to a genuine simulated recording, which must be a verdict a genuine
/// person may get: passed (0), or asked to try again (1202: the sequence seen, the face's relief
/// not told from paper's at this light) — never refused (1002) or anything else.
pub fn genuine_verdict(answer: &Value) -> u64 {
    let code = answer["errCode"].as_u64();
    assert!(
        matches!(code, Some(0) | Some(1202)),
        "a genuine recording is passed or asked to try again: {answer}"
    );
    code.unwrap_or_default()
}

/// The try of [`Endpoint::genuine_pass`] that passed.
pub struct GenuinePass {
    pub attempt: AttemptCreated,
    pub recording: SimRecording,
    pub answer: Value,
    /// Attempts made, the passing one included (each is listed in LivenessDetail).
    pub tries: usize,
}

/// The HTTP side of a server under test: signed cloud calls and the H5 API, over real HTTP.
pub struct Endpoint {
    pub http: reqwest::Client,
    pub base: String,
    pub secret_id: String,
    pub secret_key: String,
    /// The clock cloud requests are signed with (the server's own).
    pub signing_clock: Arc<dyn Clock>,
    /// The BizToken of every attempt [`Endpoint::attempt`] created, for uploads.
    owners: Mutex<HashMap<String, String>>,
}

/// A server started in this process.
pub struct TestServer {
    pub server: RunningServer,
    pub clock: Arc<ManualClock>,
    pub data: tempfile::TempDir,
    pub api: Endpoint,
}

impl std::ops::Deref for TestServer {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.api
    }
}

pub fn config_in(dir: &Path, clock: &Arc<ManualClock>) -> ServerConfig {
    let mut config = ServerConfig::for_data_dir(dir).unwrap();
    config.clock = clock.clone() as Arc<dyn Clock>;
    let (www, pkg) = site_in(dir);
    config.www_dir = www;
    config.pkg_dir = pkg;
    config
}

/// A stand-in for the page build (`www/` and `pkg/`) under `dir`.
pub fn site_in(dir: &Path) -> (PathBuf, PathBuf) {
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("www")).unwrap();
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(
        site.join("www/index.html"),
        "<!doctype html><script type=\"module\" src=\"./boot.js\"></script>",
    )
    .unwrap();
    std::fs::write(
        site.join("www/boot.js"),
        "import init from './pkg/faceid_h5.js'; init();",
    )
    .unwrap();
    std::fs::write(site.join("pkg/faceid_h5_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    (site.join("www"), site.join("pkg"))
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::starting_now());
        let mut config = config_in(data.path(), &clock);
        adjust(&mut config);
        let server = faceid_server::start(config).await.unwrap();
        let api = Endpoint::for_running(&server, &clock);
        TestServer {
            server,
            clock,
            data,
            api,
        }
    }

    /// Stops this server and starts a new one on the same data directory and credentials.
    pub async fn restart(self) -> TestServer {
        let TestServer {
            server,
            clock,
            data,
            api,
        } = self;
        let creds = server.credentials().clone();
        let previous = server.state().config.clone();
        server.shutdown().await.unwrap();
        let mut config = config_in(data.path(), &clock);
        config.credentials = creds;
        config.rules = previous.rules;
        config.database = previous.database;
        config.media = previous.media;
        config.s3 = previous.s3;
        config.instance_id = previous.instance_id;
        config.lease = previous.lease;
        let server = faceid_server::start(config).await.unwrap();
        let api = Endpoint {
            base: server.base_url().to_string(),
            ..api
        };
        TestServer {
            server,
            clock,
            data,
            api,
        }
    }
}

impl Endpoint {
    pub fn new(
        base: &str,
        secret_id: &str,
        secret_key: &str,
        signing_clock: Arc<dyn Clock>,
    ) -> Endpoint {
        Endpoint {
            http: reqwest::Client::new(),
            base: base.to_string(),
            secret_id: secret_id.to_string(),
            secret_key: secret_key.to_string(),
            signing_clock,
            owners: Mutex::default(),
        }
    }

    fn for_running(server: &RunningServer, clock: &Arc<ManualClock>) -> Endpoint {
        let creds = server.credentials();
        Endpoint::new(
            server.base_url(),
            &creds.secret_id,
            &creds.secret_key,
            clock.clone() as Arc<dyn Clock>,
        )
    }

    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// `host:port` to open raw TCP connections to.
    pub fn addr(&self) -> String {
        self.host()
    }

    /// A signed cloud API call; returns the whole JSON answer.
    pub async fn cloud(&self, action: &str, params: Value) -> Value {
        let key = SigningKey {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
        };
        self.cloud_signed_with(action, &params, &key, self.signing_clock.now_secs())
            .await
    }

    pub async fn cloud_signed_with(
        &self,
        action: &str,
        params: &Value,
        key: &SigningKey<'_>,
        timestamp: i64,
    ) -> Value {
        let body = serde_json::to_vec(params).unwrap();
        let headers = sign(key, &self.host(), action, &body, timestamp);
        self.cloud_raw(
            &headers.pairs().map(|(k, v)| (k.to_string(), v.to_string())),
            body,
        )
        .await
    }

    pub async fn cloud_raw(&self, headers: &[(String, String)], body: Vec<u8>) -> Value {
        let mut req = self.http.post(format!("{}/", self.base)).body(body);
        for (k, v) in headers {
            if k != "Host" {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// DetectAuth with RuleId 1 (and the given extra fields); returns the BizToken.
    pub async fn detect_auth(&self, extra: Value) -> String {
        let mut params = json!({ "RuleId": "1", "RedirectUrl": "https://biz.example/done?x=1", "Extra": "order-7" });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                p.insert(k.clone(), v.clone());
            }
        }
        let v = self.cloud("DetectAuth", params).await;
        v["Response"]["BizToken"]
            .as_str()
            .unwrap_or_else(|| panic!("DetectAuth failed: {v}"))
            .to_string()
    }

    pub async fn detect_info(&self, token: &str, info_type: &str) -> Value {
        let v = self
            .cloud("GetDetectInfoEnhanced", json!({ "BizToken": token, "RuleId": "1", "InfoType": info_type, "BestFramesCount": 2 }))
            .await;
        v["Response"].clone()
    }

    pub async fn session(&self, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/api/h5/v1/session?token={token}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The page's "new attempt" call, answered as it came (status, headers and body).
    pub async fn attempt_response(&self, token: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/api/h5/v1/attempts", self.base))
            .json(&json!({ "token": token }));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("faceid_browser={c}"));
        }
        req.send().await.unwrap()
    }

    pub async fn attempt_raw(&self, token: &str, cookie: Option<&str>) -> (u16, Value) {
        let r = self.attempt_response(token, cookie).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn attempt(&self, token: &str) -> AttemptCreated {
        let (status, v) = self.attempt_raw(token, None).await;
        assert_eq!(status, 201, "{v}");
        let created: AttemptCreated = serde_json::from_value(v).unwrap();
        self.owners
            .lock()
            .unwrap()
            .insert(created.attempt_id.clone(), token.to_string());
        created
    }

    /// The BizToken an attempt of [`Endpoint::attempt`] belongs to (empty for others).
    pub fn owner(&self, attempt_id: &str) -> String {
        self.owners
            .lock()
            .unwrap()
            .get(attempt_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Uploads as the page does: with the attempt's own BizToken in the query.
    pub async fn upload(
        &self,
        attempt_id: &str,
        video: Vec<u8>,
        mime: &str,
        report: &UploadReport,
    ) -> (u16, Value) {
        let token = self.owner(attempt_id);
        let r = self
            .upload_response(Some(&token), attempt_id, video, mime, report)
            .await;
        status_and_json(r).await
    }

    /// Bytes no demuxer recognises, uploaded with the given `?token=` (None: no token at all).
    pub async fn garbage_upload(&self, token: Option<&str>, attempt_id: &str) -> reqwest::Response {
        self.upload_response(token, attempt_id, garbage(), "video/webm", &empty_report())
            .await
    }

    /// Uploads bytes no demuxer recognises, as the attempt's owner: verified and answered 1104.
    pub async fn upload_undecodable(&self, attempt_id: &str) -> Value {
        let (status, answer) = self
            .upload(attempt_id, garbage(), "video/webm", &empty_report())
            .await;
        assert_eq!(
            (status, answer["errCode"].as_u64()),
            (200, Some(1104)),
            "{answer}"
        );
        answer
    }

    /// How many attempts of `token` GetDetectInfoEnhanced lists in LivenessDetail.
    pub async fn attempts_recorded(&self, token: &str) -> usize {
        let info = self.detect_info(token, "1").await;
        let details = info["Text"]["LivenessDetail"].as_array().map(Vec::len);
        details.unwrap_or_else(|| panic!("no LivenessDetail: {info}"))
    }

    /// A simulated genuine person's tries on `token` until one passes: each a new attempt with
    /// its own recording (seeds from `first_seed`), as a person tries again when asked to. Every
    /// answer must be one a genuine person may get (see [`genuine_verdict`]); panics when none of
    /// [`GENUINE_TRIES`] passed.
    pub async fn genuine_pass(
        &self,
        token: &str,
        first_seed: u64,
        format: VideoFormat,
    ) -> GenuinePass {
        self.genuine_pass_with(token, first_seed, format, (320, 240), |_| {})
            .await
    }

    /// [`Endpoint::genuine_pass`] with recordings of `size` (width, height), each upload's report
    /// changed by `page` from what the page would send (a lost display log, say).
    pub async fn genuine_pass_with(
        &self,
        token: &str,
        first_seed: u64,
        format: VideoFormat,
        (width, height): (u32, u32),
        page: impl Fn(&mut UploadReport),
    ) -> GenuinePass {
        let mut codes = Vec::new();
        for seed in first_seed..first_seed + GENUINE_TRIES {
            let attempt = self.attempt(token).await;
            let recording = sim_recording_sized(
                &attempt.challenge,
                Attack::None,
                seed,
                format,
                width,
                height,
            );
            let mut report = report_for(&recording, format.mime());
            page(&mut report);
            let (status, answer) = self
                .upload(
                    &attempt.attempt_id,
                    recording.video.clone(),
                    format.mime(),
                    &report,
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            codes.push(genuine_verdict(&answer));
            if codes.last() == Some(&0) {
                return GenuinePass {
                    attempt,
                    recording,
                    answer,
                    tries: codes.len(),
                };
            }
        }
        panic!("no genuine try of {GENUINE_TRIES} passed: {codes:?}")
    }

    /// Uploads a rendered recording with the report the page would send for it.
    pub async fn upload_recording(
        &self,
        attempt_id: &str,
        rec: &SimRecording,
        format: VideoFormat,
    ) -> (u16, Value) {
        let mime = format.mime();
        self.upload(attempt_id, rec.video.clone(), mime, &report_for(rec, mime))
            .await
    }

    /// Uploads and returns the whole response (headers included).
    pub async fn upload_response(
        &self,
        token: Option<&str>,
        attempt_id: &str,
        video: Vec<u8>,
        mime: &str,
        report: &UploadReport,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "video",
                reqwest::multipart::Part::bytes(video)
                    .file_name("rec")
                    .mime_str(mime)
                    .unwrap(),
            )
            .part(
                "report",
                reqwest::multipart::Part::text(serde_json::to_string(report).unwrap())
                    .mime_str("application/json")
                    .unwrap(),
            );
        self.http
            .post(upload_url(&self.base, attempt_id, token))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }
}

/// An H5 answer's status and JSON body.
pub async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The upload address of an attempt, with `?token=` when given.
pub fn upload_url(base: &str, attempt_id: &str, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{base}/api/h5/v1/attempts/{attempt_id}/video?token={t}"),
        None => format!("{base}/api/h5/v1/attempts/{attempt_id}/video"),
    }
}

pub fn report_for(rec: &SimRecording, mime: &str) -> UploadReport {
    UploadReport {
        shown: rec.shown.clone(),
        hold_start_ms: Some(rec.hold_start_ms),
        recorder_mime: mime.to_string(),
        frame_width: rec.width,
        frame_height: rec.height,
        page_decode: None,
        user_agent: "server-tests".into(),
    }
}

pub fn astronaut() -> Photo {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/faces/astronaut.png");
    Photo::from_png(&std::fs::read(path).unwrap())
        .unwrap()
        .with_face(ASTRONAUT_FACE)
}

/// A simulated recording of `challenge` at 320×240 (the smallest accepted size; rendering is the
/// slow part of these tests), 30 fps, encoded by ffmpeg.
pub fn sim_recording(
    challenge: &ColourChallenge,
    attack: Attack,
    seed: u64,
    format: VideoFormat,
) -> SimRecording {
    sim_recording_sized(challenge, attack, seed, format, 320, 240)
}

pub fn sim_recording_sized(
    challenge: &ColourChallenge,
    attack: Attack,
    seed: u64,
    format: VideoFormat,
    width: u32,
    height: u32,
) -> SimRecording {
    // A dim room and a steady camera: these tests are about the server, not the decision's limits
    // (faceid-eval measures those).
    let conditions = SimConditions::steady().with_size(width, height);
    sim_video::SimEncoder::new(format, 2_000)
        .record(&astronaut(), challenge, conditions, attack, seed)
        .unwrap()
}

/// Bytes no demuxer recognises.
pub fn garbage() -> Vec<u8> {
    (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect()
}

/// A report without a display log.
pub fn empty_report() -> UploadReport {
    UploadReport {
        shown: vec![],
        hold_start_ms: None,
        recorder_mime: "video/webm".into(),
        frame_width: 640,
        frame_height: 480,
        page_decode: None,
        user_agent: "t".into(),
    }
}

/// How long a child server may take to start or stop before the test gives up: generous, this
/// bounds a hang, it measures nothing.
pub const PROCESS_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// The `faceid-server` program child processes run: this build's, or `FACEID_SERVER_BIN`
/// (scripts/soak-multi-instance.sh runs a prebuilt one).
pub fn server_binary() -> PathBuf {
    std::env::var_os("FACEID_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_faceid-server")))
}

/// The `faceid-server` binary as a child process (real flags, real signals, real log): its data
/// directory is the caller's, its log (stderr) goes to a file the test can read.
pub struct ServerProcess {
    child: std::process::Child,
    pub api: Endpoint,
    pub data_dir: PathBuf,
    log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl std::ops::Deref for ServerProcess {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.api
    }
}

impl ServerProcess {
    /// Starts `faceid-server` on 127.0.0.1:0 with `data_dir` and `extra` flags.
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::spawn(data_dir, extra, None)
    }

    /// The same, started by a shell that first runs `prelude` (`umask 022`, `ulimit -n 256`) and
    /// then execs the server.
    pub fn start_after(prelude: &str, data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::spawn(data_dir, extra, Some(prelude))
    }

    fn spawn(data_dir: &Path, extra: &[&str], prelude: Option<&str>) -> ServerProcess {
        use std::io::BufRead;
        let scratch = tempfile::tempdir().unwrap();
        let (www, pkg) = site_in(scratch.path());
        let log = scratch.path().join("server.log");
        let bin = server_binary();
        let mut cmd = match prelude {
            Some(prelude) => {
                let mut c = std::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prelude} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => std::process::Command::new(bin),
        };
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir);
        cmd.arg("--www-dir")
            .arg(&www)
            .arg("--pkg-dir")
            .arg(&pkg)
            .args(extra);
        cmd.env("RUST_LOG", "info").env_remove("FACEID_DEMO");
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let (mut secret_id, mut secret_key, mut base) =
            (String::new(), String::new(), String::new());
        while base.is_empty() {
            let line = rx.recv_timeout(PROCESS_BOUND).unwrap_or_else(|e| {
                panic!(
                    "faceid-server did not start ({e}); log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
            let line = line.trim();
            if let Some(v) = line.strip_prefix("SecretId:") {
                secret_id = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("SecretKey:") {
                secret_key = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("faceid-server listening on ") {
                base = v.trim().to_string();
            }
        }
        let given = |flag: &str| {
            extra
                .iter()
                .position(|a| *a == flag)
                .and_then(|i| extra.get(i + 1))
        };
        if let (Some(id), Some(key)) = (given("--secret-id"), given("--secret-key")) {
            (secret_id, secret_key) = (id.to_string(), key.to_string());
        }
        if secret_key.is_empty() {
            // Not generated this time: the server stored them on its first start.
            let stored =
                std::fs::read(data_dir.join(faceid_server::config::CREDENTIALS_FILE)).unwrap();
            let creds: faceid_server::Credentials = serde_json::from_slice(&stored).unwrap();
            (secret_id, secret_key) = (creds.secret_id, creds.secret_key);
        }
        let api = Endpoint::new(
            &base,
            &secret_id,
            &secret_key,
            Arc::new(faceid_server::clock::SystemClock),
        );
        ServerProcess {
            child,
            api,
            data_dir: data_dir.to_path_buf(),
            log,
            _scratch: scratch,
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id (the server's own: a prelude shell execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: the process ends at once, giving back nothing and finishing nothing.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGINT (what Ctrl-C sends).
    pub fn interrupt(&self) {
        let ok = std::process::Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits up to `bound` for the process to exit; None if it is still running.
    pub fn wait_for_exit(
        &mut self,
        bound: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > until {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renders ffmpeg's `lavfi` source `source` (e.g. `testsrc=size=640x480:rate=30:duration=1`) into
/// `out` with `output_args`; returns the file's bytes.
pub fn lavfi_video(out: &Path, source: &str, output_args: &[&str]) -> Vec<u8> {
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(output_args)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not render {source}");
    std::fs::read(out).unwrap()
}
