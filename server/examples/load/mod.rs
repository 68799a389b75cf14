//! What the load examples (`verify_load`, `capacity`) share: a client of the real HTTP API (signed
//! cloud calls, attempts, uploads as a page sends them), percentiles, and simulated recordings.

use std::sync::Arc;
use std::time::Instant;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::{AttemptCreated, UploadReport};
use faceid_core::sim::{Attack, Photo, SimConditions};
use faceid_server::cloud::sign::{sign, SigningKey};
use faceid_server::sim_video::{self, SimRecording, VideoFormat};
use serde_json::{json, Value};

/// The value at quantile `p` (0..1) of sorted values (NaN for none).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// One simulated 640×480 genuine recording, WebM at 1 Mbit/s (rendering is never timed).
pub fn render(photo: &Photo, challenge: &ColourChallenge, seed: u64) -> SimRecording {
    let conditions = SimConditions::steady().with_size(640, 480);
    sim_video::SimEncoder::new(VideoFormat::Webm, 1_000)
        .record(photo, challenge, conditions, Attack::None, seed)
        .expect("render a recording")
}

/// A client of one server: signed cloud calls and the H5 API.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    host: String,
    secret_id: String,
    secret_key: String,
    /// Names the tool in each upload's user agent.
    agent: &'static str,
}

impl Client {
    pub fn new(agent: &'static str, base: &str, secret_id: &str, secret_key: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
            host: base.trim_start_matches("http://").to_string(),
            secret_id: secret_id.to_string(),
            secret_key: secret_key.to_string(),
            agent,
        }
    }

    /// A signed cloud call: (latency ms, HTTP status, answer).
    pub async fn cloud(&self, action: &str, params: &Value) -> (f64, u16, Value) {
        let started = Instant::now();
        let body = serde_json::to_vec(params).expect("json");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let key = SigningKey {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
        };
        let headers = sign(&key, &self.host, action, &body, now);
        let mut req = self.http.post(format!("{}/", self.base)).body(body);
        for (k, v) in headers.pairs() {
            if k != "Host" {
                req = req.header(k, v);
            }
        }
        let r = req.send().await.expect("cloud call");
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (started.elapsed().as_secs_f64() * 1000.0, status, v)
    }

    /// A fresh BizToken (on this server) and an attempt of it (on `h5`).
    pub async fn attempt(&self, h5: &Client) -> (String, AttemptCreated) {
        let (_, _, v) = self.cloud("DetectAuth", &json!({ "RuleId": "1" })).await;
        let token = v["Response"]["BizToken"]
            .as_str()
            .unwrap_or_else(|| panic!("no BizToken: {v}"))
            .to_string();
        let r = h5
            .http
            .post(format!("{}/api/h5/v1/attempts", h5.base))
            .json(&json!({ "token": token }))
            .send()
            .await
            .expect("attempt");
        (token, r.json().await.expect("attempt json"))
    }

    /// Uploads a recording; returns (latency ms, errCode).
    pub async fn upload(
        &self,
        token: &str,
        attempt: &AttemptCreated,
        rec: &SimRecording,
    ) -> (f64, u64) {
        let report = UploadReport {
            shown: rec.shown.clone(),
            hold_start_ms: Some(rec.hold_start_ms),
            recorder_mime: VideoFormat::Webm.mime().into(),
            frame_width: rec.width,
            frame_height: rec.height,
            page_decode: None,
            user_agent: self.agent.into(),
        };
        let form = reqwest::multipart::Form::new()
            .part(
                "video",
                reqwest::multipart::Part::bytes(rec.video.clone())
                    .file_name("rec.webm")
                    .mime_str("video/webm")
                    .expect("mime"),
            )
            .part(
                "report",
                reqwest::multipart::Part::text(serde_json::to_string(&report).expect("json")),
            );
        let started = Instant::now();
        let r = self
            .http
            .post(format!(
                "{}/api/h5/v1/attempts/{}/video?token={token}",
                self.base, attempt.attempt_id
            ))
            // Each upload from a browser of its own: the queue admits two uploads per browser
            // (cookie, else address and user agent), and every uploader here shares 127.0.0.1.
            .header(
                reqwest::header::USER_AGENT,
                format!("{}/{}", self.agent, attempt.attempt_id),
            )
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let v: Value = r.json().await.unwrap_or(Value::Null);
        (
            started.elapsed().as_secs_f64() * 1000.0,
            v["errCode"].as_u64().unwrap_or(u64::MAX),
        )
    }
}

/// An upload ready to send: the BizToken, its attempt and the recording.
pub type Prepared = (String, AttemptCreated, SimRecording);

/// `uploaders` tasks sending `attempts` through `client` until none is left; each task yields its
/// uploads' (latency ms, errCode).
pub fn spawn_uploaders(
    client: &Arc<Client>,
    attempts: Vec<Prepared>,
    uploaders: usize,
) -> Vec<tokio::task::JoinHandle<Vec<(f64, u64)>>> {
    let queue = Arc::new(tokio::sync::Mutex::new(attempts));
    (0..uploaders)
        .map(|_| {
            let (queue, client) = (queue.clone(), client.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().await.pop();
                    let Some((token, a, rec)) = next else { break };
                    out.push(client.upload(&token, &a, &rec).await);
                }
                out
            })
        })
        .collect()
}
