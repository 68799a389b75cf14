//! Shared state of a running server and the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::cloud::encryption::KeyPair;
use crate::config::ServerConfig;
use crate::media::MediaStore;
use crate::queue::VerifyQueue;
use crate::store::VerificationStore;
use crate::verify::Verifier;
use crate::{cloud, demo, h5, hosting, logging, readiness, serve};

/// The cloud API body limit: a 3 MB ImageBase64 plus the other fields.
pub const CLOUD_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Everything a handler needs.
pub struct AppState {
    pub config: ServerConfig,
    /// Public base URL without a trailing slash.
    pub public_url: String,
    pub store: Arc<dyn VerificationStore>,
    pub media: Arc<dyn MediaStore>,
    pub verifier: Verifier,
    /// One permit per concurrent verification (CPU-bound: sized to the cores).
    pub verify_slots: Arc<Semaphore>,
    /// Uploads admitted to verification (bounded, fair per token and browser).
    pub verify_queue: VerifyQueue,
    /// The key pair callers wrap their sensitive-field keys with (PROTOCOL.md §4).
    pub encryption: KeyPair,
    /// Uploads stream here before verification.
    pub scratch_dir: PathBuf,
    /// `/readyz` runs one check at a time, shared by the callers waiting for it.
    pub readiness: readiness::ReadinessChecks,
    pub clock: Arc<dyn Clock>,
    pub bound: SocketAddr,
}

pub type Shared = Arc<AppState>;

/// A blocking task failed to run to completion (it panicked or the runtime is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("background task failed: {0}")]
pub struct TaskFailed(pub String);

impl AppState {
    /// Runs blocking store/media work off the async threads.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, TaskFailed>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> T + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| TaskFailed(e.to_string()))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

pub fn router(state: Shared) -> Router {
    let mut r = Router::new()
        .route(
            "/",
            post(cloud::handle).layer(DefaultBodyLimit::max(CLOUD_BODY_LIMIT_BYTES)),
        )
        .route("/api/h5/v1/session", get(h5::session))
        .route("/api/h5/v1/attempts", post(h5::create_attempt))
        // The upload enforces its own limit while streaming (PROTOCOL.md §2).
        .route(
            serve::UPLOAD_ROUTE,
            post(h5::upload_video).layer(DefaultBodyLimit::disable()),
        )
        .route("/h5", get(hosting::h5_without_slash))
        .route("/h5/", get(hosting::h5_index))
        .route(hosting::LANDMARK_MODEL_PATH, get(hosting::landmark_model))
        .route("/h5/{*path}", get(hosting::h5_file))
        .route("/healthz", get(readiness::healthz))
        .route("/readyz", get(readiness::readyz))
        .route("/encryption/public-keys", get(cloud::public_keys))
        .route(
            "/encryption/rsa-public-key.pem",
            get(cloud::rsa_public_key_pem),
        )
        .route(
            "/encryption/sm2-public-key.pem",
            get(cloud::sm2_public_key_pem),
        );
    if state.config.demo {
        r = r
            .route("/demo", get(demo::index))
            .route("/demo/start", post(demo::start))
            .route("/demo/result", get(demo::result))
            .route("/demo/style.css", get(demo::stylesheet));
    }
    r.fallback(hosting::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            serve::body_deadline,
        ))
        .layer(axum::middleware::from_fn(logging::log_request))
        .with_state(state)
}
