//! Media in an S3-compatible bucket (`--media-url s3://bucket/prefix`): AWS S3, MinIO, Ceph RGW,
//! or any other server that speaks the S3 API, through `object_store`.
//!
//! `object_store` is async; [`MediaStore`] is called from blocking threads. Each call runs on a
//! small multi-threaded runtime owned by the store and the calling thread waits on a plain channel
//! for the answer. So it never enters a runtime itself (no "Cannot start a runtime from within a
//! runtime", whichever thread calls), and the requests make progress whatever the caller's runtime
//! is doing (even a current-thread runtime whose only thread is the one waiting).

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};

use super::{check_key, MediaError, MediaStore};

/// Files up to this size are stored with one PUT; larger ones stream from disk in parts of this
/// size (multipart upload), so memory stays at one part. S3 refuses parts under 5 MiB (but the
/// last), and an upload (8 MB at most, PROTOCOL.md §2) then takes two parts.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Threads of the store's runtime: requests are I/O-bound, but each PUT hashes its payload
/// (SHA-256 for the signature, ~20 ms per part), so two uploads finishing at once need not queue.
const RUNTIME_THREADS: usize = 2;
/// One request (a 5 MiB part at 2 Mbit/s takes 21 s) must be answered within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An endpoint that does not accept the connection within this is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Throttling and dropped connections are retried this often, within [`RETRY_WINDOW`]: storing an
/// attempt's media happens under its verification lease, which the verifying instance keeps
/// renewing meanwhile (h5.rs `LeaseKeeper`); the window bounds how long a bucket in trouble holds
/// back the answer.
const MAX_RETRIES: usize = 3;
const RETRY_WINDOW: Duration = Duration::from_secs(15);
/// AWS's default region; S3-compatible servers mostly ignore it but the signature names one.
const DEFAULT_REGION: &str = "us-east-1";

/// `bucket` and an optional `prefix` (no leading or trailing slash) objects are stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// `bucket[/prefix]` (what follows `s3://`).
    pub(super) fn parse(rest: &str) -> Result<S3Location, &'static str> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        // S3's bucket naming rules (the subset every S3-compatible server accepts).
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err("the bucket name must be 3 to 63 lower-case letters, digits, - or ., starting and ending with a letter or digit");
        }
        let prefix_ok = prefix.is_empty()
            || prefix.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if !prefix_ok {
            return Err("the prefix must be /-separated non-empty names of letters, digits, - _ or . (not . or ..)");
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object name a media key is stored under.
    pub fn object_name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// How to reach the object storage. Unset credentials fall back to what the AWS client finds on
/// its own (web identity, container or instance credentials).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host[:port]` of an S3-compatible server; None = AWS S3 of `region`. An `http://`
    /// endpoint is allowed (a server on the local network).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl S3Settings {
    /// The usual variables: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`), `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> S3Settings {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        S3Settings {
            endpoint: var(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            access_key_id: var(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: var(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: var(&["AWS_SESSION_TOKEN"]),
        }
    }
}

/// Without the secrets.
impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The S3 store. See the module documentation for how calls reach the async client.
pub struct S3MediaStore {
    client: Arc<AmazonS3>,
    location: S3Location,
    /// Some until dropped (then shut down without waiting: the last reference may go on an async
    /// thread, where waiting for a runtime is not allowed).
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for S3MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3MediaStore")
            .field("location", &self.location.to_string())
            .finish_non_exhaustive()
    }
}

impl S3MediaStore {
    /// Sets the client up. Sends nothing: [`MediaStore::check`] tells whether the bucket answers.
    pub fn open(location: S3Location, settings: &S3Settings) -> Result<S3MediaStore, MediaError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(settings.region.as_deref().unwrap_or(DEFAULT_REGION))
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT),
            )
            .with_retry(RetryConfig {
                max_retries: MAX_RETRIES,
                retry_timeout: RETRY_WINDOW,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            let endpoint = endpoint.trim_end_matches('/');
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(MediaError::S3Settings(format!(
                    "endpoint {endpoint:?} must start with http:// or https://"
                )));
            }
            // Path-style requests (endpoint/bucket/key): what S3-compatible servers expect.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = &settings.session_token {
                    builder = builder.with_token(token);
                }
            }
            (None, None) => {}
            _ => {
                return Err(MediaError::S3Settings(
                    "give both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither".into(),
                ))
            }
        }
        let client = builder
            .build()
            .map_err(|e| MediaError::S3Settings(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("faceid-s3")
            .enable_all()
            .build()?;
        Ok(S3MediaStore {
            client: Arc::new(client),
            location,
            runtime: Some(runtime),
        })
    }

    fn object(&self, key: &str) -> Result<ObjectPath, MediaError> {
        check_key(key)?;
        Ok(ObjectPath::from(self.location.object_name(key)))
    }

    fn failed(&self, operation: &'static str, key: &str, e: impl std::fmt::Display) -> MediaError {
        MediaError::S3 {
            operation,
            object: format!("{}/{key}", self.location),
            message: e.to_string(),
        }
    }

    /// Runs `request` on the store's runtime and waits for its outcome on this thread.
    fn run<T, F>(&self, operation: &'static str, key: &str, request: F) -> Result<T, MediaError>
    where
        T: Send + 'static,
        F: Future<Output = object_store::Result<T>> + Send + 'static,
    {
        let stopped = || self.failed(operation, key, "the S3 client's runtime stopped");
        let runtime = self.runtime.as_ref().ok_or_else(stopped)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver only goes away with a caller that is gone too.
            let _ = tx.send(request.await);
        });
        match rx.recv() {
            Ok(outcome) => outcome.map_err(|e| self.failed(operation, key, e)),
            // The task was dropped unfinished (it panicked, or the runtime is shutting down).
            Err(_) => Err(stopped()),
        }
    }

    /// Streams `file` up in parts of [`PART_BYTES`]; `first` is its first part, already read.
    fn put_parts(
        &self,
        key: &str,
        object: ObjectPath,
        first: Vec<u8>,
        file: &mut std::fs::File,
    ) -> Result<(), MediaError> {
        let client = self.client.clone();
        let mut upload = self.run("multipart upload start", key, async move {
            client.put_multipart(&object).await
        })?;
        let mut part = first;
        let sent = loop {
            let put = upload.put_part(PutPayload::from(part));
            if let Err(e) = self.run("multipart upload part", key, put) {
                break Err(e);
            }
            part = match read_part(file) {
                Ok(p) if p.is_empty() => break Ok(()),
                Ok(p) => p,
                Err(e) => break Err(e.into()),
            };
        };
        match sent {
            Ok(()) => self
                .run("multipart upload completion", key, async move {
                    upload.complete().await
                })
                .map(drop),
            Err(e) => {
                // The parts sent so far are discarded; if even that fails, the bucket's
                // lifecycle rule for incomplete uploads removes them (docs/deploy.md).
                let _ = self.run("multipart upload abort", key, async move {
                    upload.abort().await
                });
                Err(e)
            }
        }
    }
}

/// Up to [`PART_BYTES`] of `file` (fewer only at its end; empty at its end).
fn read_part(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_BYTES);
    file.by_ref()
        .take(PART_BYTES as u64)
        .read_to_end(&mut part)?;
    Ok(part)
}

impl MediaStore for S3MediaStore {
    fn put_file(&self, key: &str, src: &Path) -> Result<(), MediaError> {
        let object = self.object(key)?;
        let mut file = std::fs::File::open(src)?;
        let first = read_part(&mut file)?;
        if first.len() < PART_BYTES {
            self.put_bytes(key, &first)?;
        } else {
            self.put_parts(key, object, first, &mut file)?;
        }
        drop(file);
        std::fs::remove_file(src)?;
        Ok(())
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), MediaError> {
        let object = self.object(key)?;
        let client = self.client.clone();
        let payload = PutPayload::from(bytes.to_vec());
        self.run(
            "put",
            key,
            async move { client.put(&object, payload).await },
        )
        .map(drop)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, MediaError> {
        let object = self.object(key)?;
        let client = self.client.clone();
        self.run("get", key, async move {
            match client.get(&object).await {
                Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), MediaError> {
        let object = self.object(key)?;
        let client = self.client.clone();
        self.run("delete", key, async move {
            match client.delete(&object).await {
                // S3 answers a missing key's delete with success; some compatible servers 404.
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

impl Drop for S3MediaStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
