//! Server configuration: command-line flags with environment fallbacks (`faceid-server --help`),
//! resolved into a [`ServerConfig`] the library runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use faceid_core::Locale;
use rand_core::TryRngCore;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::media::{MediaError, MediaUrl, S3Settings};
use crate::rules::{Rules, RulesError};
use crate::store::{DatabaseUrl, StoreError};
use crate::verify::MediaTools;

/// PROTOCOL.md §1: a BizToken is valid for 7,200 s.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 7_200;
/// PROTOCOL.md §1: results and media are kept 3 days after the token is issued.
pub const DEFAULT_RETENTION_SECS: u64 = 3 * 24 * 3_600;
/// PROTOCOL.md §3 rate limits (code 2018).
pub const DEFAULT_IDCARD_PER_MINUTE: u32 = 15;
pub const DEFAULT_IDCARD_PER_DAY: u32 = 30;
pub const DEFAULT_BROWSER_PER_DAY: u32 = 20;
/// The engine's time limit per upload (1001 beyond it): a 4 s upload decodes in well under a
/// second; 30 s leaves room for a busy machine without letting a hostile file hold a core.
pub const DEFAULT_VERIFY_TIMEOUT_SECS: u64 = 30;
/// Uploads admitted to verification at once (receiving, waiting, verified), per verification slot:
/// with ~0.35 s of a core per verification the last admitted waits about 3 s, and scratch storage
/// holds at most this many 8 MB uploads per core.
pub const DEFAULT_QUEUE_PER_SLOT: usize = 8;
/// How often the retention purge runs.
pub const DEFAULT_PURGE_INTERVAL_SECS: u64 = 600;
/// Connections served at once (lowered to half the open-file limit when that is smaller): far
/// above what real traffic of one instance needs, far below what file descriptors allow.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// A request head must arrive within this; it is also how long an idle kept-alive connection stays
/// open. A phone on a slow link sends a head in well under a second.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// A request body (other than a video upload, which has its own 90 s) must be complete this long
/// after its head: the largest, a 4 MB cloud API call, takes 16 s at 2 Mbit/s.
pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECS: u64 = 20;
/// A response that makes no progress for this long (the client stopped reading) closes its
/// connection: a live phone on a poor link still takes some bytes every few seconds.
pub const DEFAULT_WRITE_STALL_TIMEOUT_SECS: u64 = 30;
/// On shutdown, requests in progress get this long to finish before their connections are closed.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;

/// `faceid-server`: the self-hosted FaceID H5 backend.
#[derive(Parser, Debug, Clone)]
#[command(name = "faceid-server", version, about, args_override_self = true)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "FACEID_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Public base URL of this server as people's browsers reach it (used in DetectAuth's Url and
    /// the /demo redirect). Default: http://<listen address>.
    #[arg(long, env = "FACEID_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Data directory: SQLite database, media, generated credentials.
    #[arg(long, env = "FACEID_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database: `sqlite://PATH`, or `postgres://user[:password]@host[:port]/database` for several
    /// instances on one database (plain TCP, no TLS). Default: sqlite://<data-dir>/faceid.sqlite.
    #[arg(long, env = "FACEID_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where uploaded videos and best frames are stored: a directory path, or
    /// `s3://bucket[/prefix]` on S3-compatible object storage (several instances), reached with the
    /// usual AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (an http://
    /// endpoint is allowed). Default: <data-dir>/media.
    #[arg(long, env = "FACEID_MEDIA_URL")]
    pub media_url: Option<String>,
    /// This instance's name in attempt leases: unique among instances sharing a database, and the
    /// same across restarts of one instance (its leases are then taken back at start-up). Default:
    /// <hostname>:<listen port>.
    #[arg(long, env = "FACEID_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// How long this instance's claim (lease) on an attempt it verifies keeps other instances from
    /// taking the attempt over, in seconds: after an instance dies, the page's retry is verified
    /// elsewhere once the lease runs out. The owner renews it every third of it while it works.
    /// Default: 18 (renewals every 6 s; two in a row may fail).
    #[arg(long, env = "FACEID_LEASE_SECS")]
    pub lease_secs: Option<u64>,
    /// SecretId of the cloud API. Generated on first start (and stored in the data directory) when
    /// neither it nor the key is given.
    #[arg(long, env = "FACEID_SECRET_ID")]
    pub secret_id: Option<String>,
    /// SecretKey of the cloud API (see --secret-id).
    #[arg(long, env = "FACEID_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Rules file (TOML, or JSON by a .json extension). Default: RuleId "1", light mode, 99 attempts.
    #[arg(long, env = "FACEID_RULES")]
    pub rules: Option<PathBuf>,
    /// Directory with the page's host files (index.html, boot.js …), served at /h5/.
    #[arg(long, env = "FACEID_WWW_DIR", default_value = "www")]
    pub www_dir: PathBuf,
    /// wasm-pack output directory, served at /h5/pkg/.
    #[arg(long, env = "FACEID_PKG_DIR", default_value = "pkg")]
    pub pkg_dir: PathBuf,
    /// ffmpeg executable.
    #[arg(long, env = "FACEID_FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// BizToken lifetime in seconds.
    #[arg(long, env = "FACEID_TOKEN_TTL_SECS", default_value_t = DEFAULT_TOKEN_TTL_SECS)]
    pub token_ttl_secs: u64,
    /// How long results and media are kept after the token is issued, in seconds.
    #[arg(long, env = "FACEID_RETENTION_SECS", default_value_t = DEFAULT_RETENTION_SECS)]
    pub retention_secs: u64,
    /// DetectAuth calls per IdCard per minute.
    #[arg(long, env = "FACEID_IDCARD_PER_MINUTE", default_value_t = DEFAULT_IDCARD_PER_MINUTE)]
    pub idcard_per_minute: u32,
    /// DetectAuth calls per IdCard per day.
    #[arg(long, env = "FACEID_IDCARD_PER_DAY", default_value_t = DEFAULT_IDCARD_PER_DAY)]
    pub idcard_per_day: u32,
    /// Attempts per browser per day.
    #[arg(long, env = "FACEID_BROWSER_PER_DAY", default_value_t = DEFAULT_BROWSER_PER_DAY)]
    pub browser_per_day: u32,
    /// Time limit of one verification, in seconds (1001 beyond it).
    #[arg(long, env = "FACEID_VERIFY_TIMEOUT_SECS", default_value_t = DEFAULT_VERIFY_TIMEOUT_SECS)]
    pub verify_timeout_secs: u64,
    /// Verifications run at once (default: the number of cores).
    #[arg(long, env = "FACEID_VERIFY_CONCURRENCY")]
    pub verify_concurrency: Option<usize>,
    /// PKCS#8 PEM private RSA key that callers' AES-256-CBC keys are wrapped with (generated,
    /// 0600, if absent). Default: <data-dir>/encryption-rsa.pem.
    #[arg(long, env = "FACEID_ENCRYPTION_RSA_KEY")]
    pub encryption_rsa_key: Option<PathBuf>,
    /// PKCS#8 PEM private SM2 key that callers' SM4-GCM keys are wrapped with (generated, 0600, if
    /// absent). Default: <data-dir>/encryption-sm2.pem.
    #[arg(long, env = "FACEID_ENCRYPTION_SM2_KEY")]
    pub encryption_sm2_key: Option<PathBuf>,
    /// Uploads admitted to verification at once (receiving, waiting or being verified); beyond it an
    /// upload is answered 503 with Retry-After at once. Default: 8 per verification slot.
    #[arg(long, env = "FACEID_VERIFY_QUEUE")]
    pub verify_queue: Option<usize>,
    /// How often expired results and media are purged, in seconds.
    #[arg(long, env = "FACEID_PURGE_INTERVAL_SECS", default_value_t = DEFAULT_PURGE_INTERVAL_SECS)]
    pub purge_interval_secs: u64,
    /// Connections served at once (never more than half the open-file limit). At the limit a new
    /// connection replaces the oldest one with no request in progress.
    #[arg(long, env = "FACEID_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Seconds a request head may take to arrive (also the idle keep-alive timeout).
    #[arg(long, env = "FACEID_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS)]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body (other than a video upload: 90 s) may take to arrive.
    #[arg(long, env = "FACEID_REQUEST_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_BODY_TIMEOUT_SECS)]
    pub request_body_timeout_secs: u64,
    /// Seconds a response may make no progress (the client reads nothing) before its connection is
    /// closed.
    #[arg(long, env = "FACEID_WRITE_STALL_TIMEOUT_SECS", default_value_t = DEFAULT_WRITE_STALL_TIMEOUT_SECS)]
    pub write_stall_timeout_secs: u64,
    /// Seconds requests in progress get to finish on shutdown (Ctrl-C) before connections close.
    #[arg(long, env = "FACEID_SHUTDOWN_GRACE_SECS", default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace_secs: u64,
    /// Serve the /demo business page (off unless given: it creates BizTokens for whoever reaches
    /// it, so only for a local demo). `--demo` alone means `--demo true`.
    #[arg(
        long,
        env = "FACEID_DEMO",
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub demo: bool,
}

/// Cloud API credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("give both --secret-id and --secret-key, or neither")]
    HalfCredentials,
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("stored credentials {path} are unreadable: {message}")]
    StoredCredentials { path: String, message: String },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("public URL {0:?} must start with http:// or https://")]
    PublicUrl(String),
    #[error(transparent)]
    DatabaseUrl(#[from] StoreError),
    #[error(transparent)]
    MediaUrl(#[from] MediaError),
    #[error("instance id {0:?}: use 1 to {MAX_INSTANCE_ID_CHARS} letters, digits or . _ : -")]
    InstanceId(String),
}

/// Instance ids are stored with every lease and written in logs: short printable names suffice.
pub const MAX_INSTANCE_ID_CHARS: usize = 128;

/// File name of generated credentials inside the data directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Everything the server runs with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Public base URL without a trailing slash; None = derived from the bound address.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    /// Where media are stored (`--media-url`).
    pub media: MediaUrl,
    /// How to reach S3 when `media` is a bucket: the `AWS_*` environment variables.
    pub s3: S3Settings,
    /// This instance's name in attempt leases (`--instance-id`).
    pub instance_id: String,
    /// How long a lease on an attempt holds (`--lease-secs`); None = [`crate::h5::DEFAULT_LEASE`].
    pub lease: Option<Duration>,
    pub credentials: Credentials,
    pub rules: Rules,
    pub www_dir: PathBuf,
    pub pkg_dir: PathBuf,
    pub tools: MediaTools,
    pub token_ttl: Duration,
    pub retention: Duration,
    pub idcard_per_minute: u32,
    pub idcard_per_day: u32,
    pub browser_per_day: u32,
    pub verify_timeout: Duration,
    pub verify_concurrency: usize,
    pub verify_queue: usize,
    /// Private keys of the sensitive-field encryption; None = in the data directory.
    pub encryption_rsa_key_path: Option<PathBuf>,
    pub encryption_sm2_key_path: Option<PathBuf>,
    pub purge_interval: Duration,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub request_body_timeout: Duration,
    pub write_stall_timeout: Duration,
    pub shutdown_grace: Duration,
    pub demo: bool,
    pub default_locale: Locale,
    pub clock: Arc<dyn Clock>,
}

impl ServerConfig {
    /// Defaults for a data directory (tests and embedding): loopback on an ephemeral port,
    /// fresh random credentials, the built-in rule.
    pub fn for_data_dir(data_dir: &Path) -> Result<ServerConfig, ConfigError> {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(ServerConfig {
            listen,
            public_url: None,
            data_dir: data_dir.to_path_buf(),
            database: DatabaseUrl::Sqlite(data_dir.join(crate::DATABASE_FILE)),
            media: MediaUrl::Directory(data_dir.join(crate::MEDIA_DIR)),
            s3: S3Settings::from_env(),
            instance_id: default_instance_id(listen),
            lease: None,
            credentials: Credentials {
                secret_id: random_secret("AKID", 16)?,
                secret_key: random_secret("", 24)?,
            },
            rules: Rules::default(),
            www_dir: PathBuf::from("www"),
            pkg_dir: PathBuf::from("pkg"),
            tools: MediaTools::default(),
            token_ttl: Duration::from_secs(DEFAULT_TOKEN_TTL_SECS),
            retention: Duration::from_secs(DEFAULT_RETENTION_SECS),
            idcard_per_minute: DEFAULT_IDCARD_PER_MINUTE,
            idcard_per_day: DEFAULT_IDCARD_PER_DAY,
            browser_per_day: DEFAULT_BROWSER_PER_DAY,
            verify_timeout: Duration::from_secs(DEFAULT_VERIFY_TIMEOUT_SECS),
            verify_concurrency: default_concurrency(),
            verify_queue: default_concurrency() * DEFAULT_QUEUE_PER_SLOT,
            encryption_rsa_key_path: None,
            encryption_sm2_key_path: None,
            purge_interval: Duration::from_secs(DEFAULT_PURGE_INTERVAL_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            request_body_timeout: Duration::from_secs(DEFAULT_REQUEST_BODY_TIMEOUT_SECS),
            write_stall_timeout: Duration::from_secs(DEFAULT_WRITE_STALL_TIMEOUT_SECS),
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECS),
            demo: false,
            default_locale: Locale::ZhCn,
            clock: Arc::new(SystemClock),
        })
    }

    /// Resolves command-line arguments: loads the rules file and the credentials (given, stored,
    /// or generated and stored). The bool says whether credentials were generated just now.
    pub fn from_args(args: Args) -> Result<(ServerConfig, bool), ConfigError> {
        crate::private_fs::create_dir(&args.data_dir).map_err(|source| ConfigError::DataDir {
            path: args.data_dir.display().to_string(),
            source,
        })?;
        let (credentials, generated) = match (args.secret_id, args.secret_key) {
            (Some(secret_id), Some(secret_key)) => (
                Credentials {
                    secret_id,
                    secret_key,
                },
                false,
            ),
            (None, None) => load_or_create_credentials(&args.data_dir)?,
            _ => return Err(ConfigError::HalfCredentials),
        };
        let rules = match &args.rules {
            Some(p) => Rules::load(p)?,
            None => Rules::default(),
        };
        let public_url = match args.public_url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(ConfigError::PublicUrl(u));
                }
                Some(u)
            }
            None => None,
        };
        let mut cfg = ServerConfig::for_data_dir(&args.data_dir)?;
        if let Some(url) = &args.database_url {
            cfg.database = DatabaseUrl::parse(url)?;
        }
        if let Some(url) = &args.media_url {
            cfg.media = MediaUrl::parse(url)?;
        }
        cfg.instance_id = match args.instance_id {
            Some(id) => valid_instance_id(id)?,
            None => default_instance_id(args.listen),
        };
        cfg.lease = args.lease_secs.map(|s| Duration::from_secs(s.max(1)));
        cfg.listen = args.listen;
        cfg.public_url = public_url;
        cfg.credentials = credentials;
        cfg.rules = rules;
        cfg.www_dir = args.www_dir;
        cfg.pkg_dir = args.pkg_dir;
        cfg.tools = MediaTools {
            ffmpeg: args.ffmpeg,
        };
        cfg.token_ttl = Duration::from_secs(args.token_ttl_secs);
        cfg.retention = Duration::from_secs(args.retention_secs);
        cfg.idcard_per_minute = args.idcard_per_minute;
        cfg.idcard_per_day = args.idcard_per_day;
        cfg.browser_per_day = args.browser_per_day;
        cfg.verify_timeout = Duration::from_secs(args.verify_timeout_secs.max(1));
        cfg.verify_concurrency = args
            .verify_concurrency
            .unwrap_or_else(default_concurrency)
            .max(1);
        cfg.verify_queue = args
            .verify_queue
            .unwrap_or(cfg.verify_concurrency * DEFAULT_QUEUE_PER_SLOT)
            .max(1);
        cfg.encryption_rsa_key_path = args.encryption_rsa_key;
        cfg.encryption_sm2_key_path = args.encryption_sm2_key;
        cfg.purge_interval = Duration::from_secs(args.purge_interval_secs.max(1));
        cfg.max_connections = args.max_connections.max(1);
        cfg.header_read_timeout = Duration::from_secs(args.header_read_timeout_secs.max(1));
        cfg.request_body_timeout = Duration::from_secs(args.request_body_timeout_secs.max(1));
        cfg.write_stall_timeout = Duration::from_secs(args.write_stall_timeout_secs.max(1));
        cfg.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
        cfg.demo = args.demo;
        Ok((cfg, generated))
    }
}

/// File names of generated encryption keys inside the data directory.
pub const ENCRYPTION_RSA_KEY_FILE: &str = "encryption-rsa.pem";
pub const ENCRYPTION_SM2_KEY_FILE: &str = "encryption-sm2.pem";

impl ServerConfig {
    /// Where the RSA private key of the sensitive-field encryption is.
    pub fn encryption_rsa_key(&self) -> PathBuf {
        self.encryption_rsa_key_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join(ENCRYPTION_RSA_KEY_FILE))
    }

    /// Where the SM2 private key of the sensitive-field encryption is.
    pub fn encryption_sm2_key(&self) -> PathBuf {
        self.encryption_sm2_key_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join(ENCRYPTION_SM2_KEY_FILE))
    }
}

/// `<hostname>:<port>`: stable across restarts of one instance (so a restart takes its own leases
/// back at once), and different for two instances on one machine (they listen on different ports).
pub fn default_instance_id(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_string());
    format!("{host}:{}", listen.port())
}

fn valid_instance_id(id: String) -> Result<String, ConfigError> {
    let ok = (1..=MAX_INSTANCE_ID_CHARS).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(id)
    } else {
        Err(ConfigError::InstanceId(id))
    }
}

/// One verification per core: the engine is CPU-bound.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `prefix` + `bytes` random bytes, hex-encoded, from the operating system's generator.
pub fn random_secret(prefix: &str, bytes: usize) -> Result<String, ConfigError> {
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| ConfigError::Random(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(buf)))
}

fn load_or_create_credentials(dir: &Path) -> Result<(Credentials, bool), ConfigError> {
    let path = dir.join(CREDENTIALS_FILE);
    let shown = path.display().to_string();
    let unreadable = |message: String| ConfigError::StoredCredentials {
        path: shown.clone(),
        message,
    };
    let (bytes, created) = crate::private_fs::read_or_create(&path, || {
        let c = Credentials {
            secret_id: random_secret("AKID", 16)?,
            secret_key: random_secret("", 24)?,
        };
        serde_json::to_vec_pretty(&c).map_err(|e| unreadable(e.to_string()))
    })
    .map_err(|e| match e {
        crate::private_fs::SecretFileError::Io(source) => ConfigError::DataDir {
            path: shown.clone(),
            source,
        },
        crate::private_fs::SecretFileError::Create(e) => e,
    })?;
    let c: Credentials = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
    Ok((c, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> Args {
        Args::parse_from(["faceid-server", "--data-dir", dir.to_str().unwrap()])
    }

    #[test]
    fn credentials_are_generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, generated) = ServerConfig::from_args(args(dir.path())).unwrap();
        assert!(generated);
        let (b, generated) = ServerConfig::from_args(args(dir.path())).unwrap();
        assert!(!generated);
        assert_eq!(a.credentials, b.credentials);
        assert!(a.credentials.secret_id.starts_with("AKID"));
        assert_eq!(a.listen.to_string(), "127.0.0.1:8000");
    }

    #[test]
    fn half_credentials_and_bad_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let a = Args::parse_from(["faceid-server", "--data-dir", d, "--secret-id", "x"]);
        assert!(matches!(
            ServerConfig::from_args(a),
            Err(ConfigError::HalfCredentials)
        ));
        let a = Args::parse_from(["faceid-server", "--data-dir", d, "--public-url", "ftp://x"]);
        assert!(matches!(
            ServerConfig::from_args(a),
            Err(ConfigError::PublicUrl(_))
        ));
        let a = Args::parse_from(["faceid-server", "--data-dir", d, "--demo", "false"]);
        assert!(!ServerConfig::from_args(a).unwrap().0.demo);
    }

    #[test]
    fn database_url_and_instance_id() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let config = |extra: &[&str]| {
            let a = Args::parse_from([&["faceid-server", "--data-dir", d][..], extra].concat());
            ServerConfig::from_args(a)
        };
        let (c, _) = config(&[]).unwrap();
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(dir.path().join(crate::DATABASE_FILE))
        );
        assert!(c.instance_id.ends_with(":8000"), "{}", c.instance_id);
        let (c, _) = config(&[
            "--database-url",
            "postgres://faceid@db:5432/faceid",
            "--instance-id",
            "web-2",
        ])
        .unwrap();
        assert_eq!(
            c.database,
            DatabaseUrl::Postgres("postgres://faceid@db:5432/faceid".into())
        );
        assert_eq!(c.instance_id, "web-2");
        assert_eq!(c.lease, None);
        let (c, _) = config(&["--lease-secs", "12"]).unwrap();
        assert_eq!(c.lease, Some(Duration::from_secs(12)));
        assert!(matches!(
            config(&["--database-url", "mysql://x"]),
            Err(ConfigError::DatabaseUrl(_))
        ));
        assert_eq!(
            c.media,
            MediaUrl::Directory(dir.path().join(crate::MEDIA_DIR))
        );
        let (c, _) = config(&["--media-url", "s3://faceid-media/prod"]).unwrap();
        assert_eq!(c.media.to_string(), "s3://faceid-media/prod");
        let (c, _) = config(&["--media-url", "/srv/faceid-media"]).unwrap();
        assert_eq!(c.media, MediaUrl::Directory("/srv/faceid-media".into()));
        assert!(matches!(
            config(&["--media-url", "s3://No_Such"]),
            Err(ConfigError::MediaUrl(MediaError::Url { .. }))
        ));
        for bad in ["", "two words", &"x".repeat(MAX_INSTANCE_ID_CHARS + 1)] {
            assert!(matches!(
                config(&["--instance-id", bad]),
                Err(ConfigError::InstanceId(_))
            ));
        }
    }

    #[test]
    fn the_demo_is_off_unless_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let demo = |extra: &[&str]| {
            let a = Args::parse_from([&["faceid-server", "--data-dir", d][..], extra].concat());
            ServerConfig::from_args(a).unwrap().0.demo
        };
        assert!(!demo(&[]));
        assert!(demo(&["--demo"]));
        assert!(demo(&["--demo", "true"]));
        // scripts/run.sh passes --demo before the operator's own flags; theirs win.
        assert!(!demo(&["--demo", "--demo", "false"]));
    }
}
