//! The business backend's side: signed cloud API calls over real HTTP (DetectAuth before the
//! verification, GetDetectInfoEnhanced after), signed with the server's public TC3 signer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faceid_server::cloud::sign::{sign, SigningKey};
use serde_json::{json, Value};

use crate::{HarnessError, Result};

/// Cloud API calls answer in milliseconds; a stalled one should fail the scenario, not hang it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A business backend holding a SecretId/SecretKey pair.
#[derive(Clone, Debug)]
pub struct CloudClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    secret_id: String,
    secret_key: String,
}

/// What DetectAuth gave the business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub url: String,
    pub biz_token: String,
}

impl CloudClient {
    /// A client for the server at `base` (`http://host:port`).
    pub fn new(base: &str, secret_id: &str, secret_key: &str) -> Result<CloudClient> {
        let parsed = url::Url::parse(base)
            .map_err(|e| HarnessError::Unexpected(format!("server URL {base}: {e}")))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => {
                return Err(HarnessError::Unexpected(format!(
                    "server URL {base} has no host"
                )))
            }
        };
        Ok(CloudClient {
            http: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            endpoint: format!("{}/", base.trim_end_matches('/')),
            host,
            secret_id: secret_id.to_string(),
            secret_key: secret_key.to_string(),
        })
    }

    /// Calls `action` with `params` and returns the `Response` object; a cloud error is an Err.
    pub async fn call(&self, action: &str, params: &Value) -> Result<Value> {
        let body = serde_json::to_vec(params)?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let key = SigningKey {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
        };
        let headers = sign(&key, &self.host, action, &body, timestamp);
        let mut request = self.http.post(&self.endpoint).body(body);
        for (name, value) in headers.pairs() {
            // reqwest writes Host from the URL (the same value that was signed).
            if name != "Host" {
                request = request.header(name, value);
            }
        }
        let answer: Value = request.send().await?.json().await?;
        let response = answer.get("Response").cloned().ok_or_else(|| {
            HarnessError::Unexpected(format!("{action}: no Response in {answer}"))
        })?;
        if let Some(error) = response.get("Error") {
            return Err(HarnessError::Cloud {
                action: action.to_string(),
                code: error["Code"].as_str().unwrap_or_default().to_string(),
                message: error["Message"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(response)
    }

    /// DetectAuth for `rule_id`, returning to `redirect_url` with `extra` passed through.
    pub async fn detect_auth(
        &self,
        rule_id: &str,
        redirect_url: Option<&str>,
        extra: Option<&str>,
    ) -> Result<Verification> {
        let mut params = json!({ "RuleId": rule_id });
        if let Some(u) = redirect_url {
            params["RedirectUrl"] = json!(u);
        }
        if let Some(e) = extra {
            params["Extra"] = json!(e);
        }
        let r = self.call("DetectAuth", &params).await?;
        match (r["Url"].as_str(), r["BizToken"].as_str()) {
            (Some(url), Some(token)) => Ok(Verification {
                url: url.to_string(),
                biz_token: token.to_string(),
            }),
            _ => Err(HarnessError::Unexpected(format!(
                "DetectAuth without Url/BizToken: {r}"
            ))),
        }
    }

    /// GetDetectInfoEnhanced with everything (InfoType "0": text, best frame, video).
    pub async fn detect_info(&self, rule_id: &str, biz_token: &str) -> Result<Value> {
        self.call(
            "GetDetectInfoEnhanced",
            &json!({ "BizToken": biz_token, "RuleId": rule_id, "InfoType": "0", "BestFramesCount": 1 }),
        )
        .await
    }
}
