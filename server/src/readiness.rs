//! Probes for load balancers and orchestrators.
//!
//! - `GET /healthz` (liveness): 200 `ok` while the process serves HTTP; touches no storage, so a
//!   database or bucket outage does not get every instance restarted at once.
//! - `GET /readyz` (readiness): 200 when the database answers a trivial query and the media store
//!   stores, reads back and deletes a probe object; otherwise 503, the JSON body naming what
//!   failed (`{"ready":false,"failed":["media"]}`). The reasons go to the log, not to whoever
//!   asked: they name internal hosts and buckets.
//!
//! `/readyz` is public and each check writes to the bucket, so checks run one at a time: callers
//! that arrive while one runs wait and take the answer of the next one, which starts after they
//! arrived (never an older answer). A flood of calls costs one check in flight, not one each.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::Shared;

/// A check still running after this counts as failed: load balancers' probe timeouts are a few
/// seconds (5 s on AWS's ALB and Kubernetes' usual setting), and an answer after theirs is no use.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(4);

/// What a readiness check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dependency {
    Database,
    Media,
}

impl Dependency {
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Database => "database",
            Dependency::Media => "media",
        }
    }
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// The last readiness check: when it started and what failed.
#[derive(Default)]
pub struct ReadinessChecks {
    last: tokio::sync::Mutex<Option<(Instant, Vec<Dependency>)>>,
}

pub async fn readyz(State(app): State<Shared>) -> Response {
    let arrived = Instant::now();
    let mut last = app.readiness.last.lock().await;
    let failed = match &*last {
        Some((started, failed)) if *started >= arrived => failed.clone(),
        _ => {
            let started = Instant::now();
            let (database, media) = tokio::join!(
                check(&app, Dependency::Database),
                check(&app, Dependency::Media)
            );
            let failed: Vec<Dependency> = [database, media]
                .into_iter()
                .filter_map(Result::err)
                .collect();
            *last = Some((started, failed.clone()));
            failed
        }
    };
    drop(last);
    let failed: Vec<&str> = failed.into_iter().map(Dependency::as_str).collect();
    if failed.is_empty() {
        (StatusCode::OK, Json(json!({ "ready": true }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "failed": failed })),
        )
            .into_response()
    }
}

/// Runs one dependency's check on a blocking thread, bounded by [`CHECK_TIMEOUT`] (a check that
/// overruns finishes in the background); the reason of a failure is logged.
async fn check(app: &Shared, what: Dependency) -> Result<(), Dependency> {
    let run = app.blocking(move |s| match what {
        Dependency::Database => s.store.ping().map_err(|e| e.to_string()),
        Dependency::Media => s.media.check().map_err(|e| e.to_string()),
    });
    let reason = match tokio::time::timeout(CHECK_TIMEOUT, run).await {
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Ok(Err(e))) => e,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
    };
    tracing::warn!(dependency = what.as_str(), reason = %reason, "not ready");
    Err(what)
}
