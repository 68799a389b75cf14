//! Shared helpers of the server's integration tests: a server on 127.0.0.1:0 with a temp data
//! directory and a manual clock, a signed cloud client and an H5 client over real HTTP.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{AttemptCreated, UploadReport};
use faceid_core::sim::{Attack, Photo, SimConditions, ASTRONAUT_FACE};
use faceid_server::clock::{Clock, ManualClock};
use faceid_server::cloud::sign::{sign, SigningKey};
use faceid_server::sim_video::{self, SimRecording, VideoFormat};
use faceid_server::{RunningServer, ServerConfig};
use serde_json::{json, Value};

pub struct TestServer {
    pub server: RunningServer,
    pub clock: Arc<ManualClock>,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
    pub base: String,
}

pub fn config_in(dir: &Path, clock: &Arc<ManualClock>) -> ServerConfig {
    let mut config = ServerConfig::for_data_dir(dir).unwrap();
    config.clock = clock.clone() as Arc<dyn Clock>;
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
    config.www_dir = site.join("www");
    config.pkg_dir = site.join("pkg");
    config
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
        let base = server.base_url().to_string();
        TestServer {
            server,
            clock,
            data,
            http: reqwest::Client::new(),
            base,
        }
    }

    /// Stops this server and starts a new one on the same data directory and credentials.
    pub async fn restart(self) -> TestServer {
        let TestServer {
            server,
            clock,
            data,
            http,
            ..
        } = self;
        let creds = server.credentials().clone();
        let rules = server.state().config.rules.clone();
        server.shutdown().await.unwrap();
        let mut config = config_in(data.path(), &clock);
        config.credentials = creds;
        config.rules = rules;
        let server = faceid_server::start(config).await.unwrap();
        let base = server.base_url().to_string();
        TestServer {
            server,
            clock,
            data,
            http,
            base,
        }
    }

    pub fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// A signed cloud API call; returns the whole JSON answer.
    pub async fn cloud(&self, action: &str, params: Value) -> Value {
        let creds = self.server.credentials();
        let key = SigningKey {
            secret_id: &creds.secret_id,
            secret_key: &creds.secret_key,
        };
        self.cloud_signed_with(action, &params, &key, self.clock.now_secs())
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

    pub async fn attempt_raw(&self, token: &str, cookie: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/h5/v1/attempts", self.base))
            .json(&json!({ "token": token }));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("faceid_browser={c}"));
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn attempt(&self, token: &str) -> AttemptCreated {
        let (status, v) = self.attempt_raw(token, None).await;
        assert_eq!(status, 201, "{v}");
        serde_json::from_value(v).unwrap()
    }

    pub async fn upload(
        &self,
        attempt_id: &str,
        video: Vec<u8>,
        mime: &str,
        report: &UploadReport,
    ) -> (u16, Value) {
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
        let r = self
            .http
            .post(format!(
                "{}/api/h5/v1/attempts/{attempt_id}/video",
                self.base
            ))
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
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
    let conditions = SimConditions::default().with_size(width, height);
    sim_video::SimEncoder::new(format, 2_000)
        .record(&astronaut(), challenge, conditions, attack, seed)
        .unwrap()
}
