//! faceid-server: the self-hostable backend of faceid-h5.
//!
//! - Cloud API at `POST /` ([`cloud`]): DetectAuth, GetDetectInfoEnhanced, GetLiveCode,
//!   GetActionSequence, TC3-HMAC-SHA256 signed ([`cloud::sign`] also signs, for callers).
//! - H5 API under `/api/h5/v1` ([`h5`]): session, attempts (server-drawn challenges), video upload.
//! - Verification ([`verify`]): ffmpeg decode → faceid-core analysis → reflection decoder.
//! - Storage behind traits: [`store::VerificationStore`] (SQLite or PostgreSQL),
//!   [`media::MediaStore`] (a directory or S3-compatible object storage).
//! - Hosting ([`hosting`]) of the page at `/h5/`, and the [`demo`] business page at `/demo`.
//!
//! Start in-process with [`start`] (returns the bound address), or run the `faceid-server` binary.

pub mod app;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod demo;
pub mod h5;
pub mod hosting;
pub mod logging;
pub mod media;
pub mod private_fs;
pub mod queue;
pub mod readiness;
pub mod rules;
pub mod serve;
pub mod sim_video;
pub mod store;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{oneshot, Semaphore};

pub use app::{AppState, Shared};
pub use config::{Args, Credentials, ServerConfig};

use cloud::encryption::KeyPair;
use media::MediaStore;
use store::VerificationStore;
use verify::Verifier;

/// File name of the SQLite database inside the data directory (the default `--database-url`).
pub const DATABASE_FILE: &str = "faceid.sqlite";
/// Subdirectories of the data directory (media: the default `--media-url`).
pub const MEDIA_DIR: &str = "media";
pub const SCRATCH_DIR: &str = "uploads";
/// Rate-limit events older than the longest window (a day) are purged.
const RATE_EVENT_KEEP_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("data directory: {0}")]
    DataDir(std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Media(#[from] media::MediaError),
    #[error("media storage {url} does not answer: {source}")]
    MediaUnavailable {
        url: String,
        source: media::MediaError,
    },
    #[error(transparent)]
    Task(#[from] app::TaskFailed),
    #[error(transparent)]
    Keys(#[from] cloud::encryption::KeyError),
    #[error("server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// What a retention purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub media_deleted: usize,
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    state: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    serve_task: tokio::task::JoinHandle<std::io::Result<()>>,
    purge_task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.state.bound
    }

    /// The public base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn credentials(&self) -> &Credentials {
        &self.state.config.credentials
    }

    pub fn state(&self) -> &Shared {
        &self.state
    }

    /// Runs the retention purge now (the background task runs it every `purge_interval`).
    pub async fn purge_now(&self) -> Result<PurgeReport, ServerError> {
        purge(&self.state).await
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.purge_task.abort();
        match (&mut self.serve_task).await {
            Ok(r) => r.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Task(app::TaskFailed(e.to_string()))),
        }
    }

    /// Waits until the server stops (it stops on its own only on error).
    pub async fn wait(mut self) -> Result<(), ServerError> {
        match (&mut self.serve_task).await {
            Ok(r) => r.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Task(app::TaskFailed(e.to_string()))),
        }
    }
}

/// Deletes tokens, attempts and media older than the retention period.
pub async fn purge(state: &Shared) -> Result<PurgeReport, ServerError> {
    let now = state.now_ms();
    let retention_ms = i64::try_from(state.config.retention.as_millis()).unwrap_or(i64::MAX);
    let report = state
        .blocking(move |s| -> Result<PurgeReport, ServerError> {
            let keys = s
                .store
                .purge(now.saturating_sub(retention_ms), now - RATE_EVENT_KEEP_MS)?;
            // The store has forgotten these keys already: a key whose delete fails here is not
            // offered again, so every other key still gets its delete before the error is told.
            let mut first_failure = None;
            let mut media_deleted = 0;
            for k in &keys {
                match s.media.delete(k) {
                    Ok(()) => media_deleted += 1,
                    Err(e) => {
                        tracing::error!(key = %k, error = %e, "retention purge: media not deleted");
                        first_failure.get_or_insert(e);
                    }
                }
            }
            match first_failure {
                Some(e) => Err(e.into()),
                None => Ok(PurgeReport { media_deleted }),
            }
        })
        .await??;
    if report.media_deleted > 0 {
        tracing::info!(media_deleted = report.media_deleted, "retention purge");
    }
    Ok(report)
}

/// What start-up opens before serving: the database, the media store and the encryption keys.
type OpenedStorage = (Arc<dyn VerificationStore>, Arc<dyn MediaStore>, KeyPair);

/// Opens storage, binds the listener and starts serving in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let data_dir = config.data_dir.clone();
    let scratch_dir = data_dir.join(SCRATCH_DIR);
    let key_paths = (config.encryption_rsa_key(), config.encryption_sm2_key());
    let database = config.database.clone();
    let media_url = config.media.clone();
    let s3_settings = config.s3.clone();
    let instance_id = config.instance_id.clone();
    let (store, media, encryption) = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        let scratch_dir = scratch_dir.clone();
        move || -> Result<OpenedStorage, ServerError> {
            private_fs::create_dir(&data_dir).map_err(ServerError::DataDir)?;
            // Leftover partial uploads of a previous process are useless: start clean.
            let _ = std::fs::remove_dir_all(&scratch_dir);
            private_fs::create_dir(&scratch_dir).map_err(ServerError::DataDir)?;
            let store = database.open()?;
            // This instance's leases from its previous run: nobody is verifying them any more.
            // Other instances' leases stay theirs until they expire.
            let reopened = store.release_leases_of(&instance_id)?;
            tracing::info!(database = %database, instance = %instance_id, "store opened");
            if reopened > 0 {
                tracing::info!(
                    attempts = reopened,
                    "reopened attempts this instance was verifying when it last stopped"
                );
            }
            let media = media_url.open(&s3_settings)?;
            // A wrong endpoint, bucket or credential stops the start here, as a database that
            // does not answer does; later outages show in /readyz.
            media
                .check()
                .map_err(|source| ServerError::MediaUnavailable {
                    url: media_url.to_string(),
                    source,
                })?;
            tracing::info!(media = %media_url, "media storage answers");
            let (encryption, generated) = KeyPair::load_or_generate(&key_paths.0, &key_paths.1)?;
            if generated {
                tracing::info!(
                    rsa = %key_paths.0.display(),
                    sm2 = %key_paths.1.display(),
                    "generated the sensitive-field encryption key pair"
                );
            }
            Ok((store, media, encryption))
        }
    })
    .await
    .map_err(|e| ServerError::Task(app::TaskFailed(e.to_string())))??;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let public_url = config.public_url.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            // 0.0.0.0 is no address a browser can open; localhost is (and counts as a secure
            // context, so the camera works). Other devices need --public-url (HTTPS).
            format!("http://localhost:{}", bound.port())
        } else {
            format!("http://{bound}")
        }
    });
    let state: Shared = Arc::new(AppState {
        verifier: Verifier::new(config.tools.clone(), config.verify_timeout),
        verify_slots: Arc::new(Semaphore::new(config.verify_concurrency.max(1))),
        verify_queue: queue::VerifyQueue::new(config.verify_queue),
        encryption,
        clock: config.clock.clone(),
        config,
        public_url,
        store,
        media,
        scratch_dir,
        readiness: readiness::ReadinessChecks::default(),
        bound,
    });

    let router = app::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let limits = serve::ConnectionLimits {
        max_connections: state.config.max_connections,
        header_read_timeout: state.config.header_read_timeout,
        write_stall_timeout: state.config.write_stall_timeout,
        shutdown_grace: state.config.shutdown_grace,
    };
    let serve_task = tokio::spawn(serve::serve(listener, router, limits, async move {
        let _ = rx.await;
    }));
    let purge_state = state.clone();
    let purge_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(purge_state.config.purge_interval);
        loop {
            tick.tick().await;
            if let Err(e) = purge(&purge_state).await {
                tracing::error!(error = %e, "retention purge failed");
            }
        }
    });
    Ok(RunningServer {
        state,
        shutdown: Some(tx),
        serve_task,
        purge_task,
    })
}
