//! A real S3-compatible server for tests: moto's `moto_server` (PyPI `moto[server]`, which
//! scripts/setup.sh installs into `.tools/moto`), started in a temp directory on a free loopback
//! port and killed when the guard drops. Never assumed running; missing, it fails the test (it does
//! not skip). `FACEID_MOTO_SERVER` names another `moto_server` program.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faceid_server::media::{S3Location, S3MediaStore, S3Settings};

use super::PROCESS_BOUND;

/// How often the start-up wait tries to connect.
const READY_POLL: Duration = Duration::from_millis(100);
/// moto accepts any credentials (it checks no signatures); these only have to be present.
pub const ACCESS_KEY_ID: &str = "faceid-test";
pub const SECRET_ACCESS_KEY: &str = "faceid-test-secret";
pub const REGION: &str = "us-east-1";

/// An S3 server of this test's own.
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn moto_program() -> PathBuf {
    let program = match std::env::var_os("FACEID_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/moto/bin/moto_server"),
    };
    assert!(
        program.is_file(),
        "{} is missing: run scripts/setup.sh (it installs moto[server] into .tools/moto), or set \
         FACEID_MOTO_SERVER to a moto_server program",
        program.display()
    );
    program
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl MotoServer {
    /// Starts moto on a free loopback port; returns once it answers HTTP.
    pub fn start() -> MotoServer {
        let program = moto_program();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("moto.log");
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut server = MotoServer {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let until = Instant::now() + PROCESS_BOUND;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll moto") {
                panic!(
                    "moto_server exited ({status}) at start-up; log:\n{}",
                    self.log()
                );
            }
            match self.request("GET", "/") {
                Ok(_) => return,
                Err(e) if Instant::now() > until => {
                    panic!("moto_server did not answer: {e}; log:\n{}", self.log())
                }
                Err(_) => std::thread::sleep(READY_POLL),
            }
        }
    }

    /// One plain HTTP/1.1 request without a body (moto takes unsigned requests); returns the
    /// status code and the body.
    fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(PROCESS_BOUND))?;
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {answer:.200}")))?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// The names of the objects in `bucket` under `prefix` (ListObjectsV2, up to 1,000): what the
    /// bucket holds, seen without the store under test.
    pub fn object_names(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (status, body) = self
            .request("GET", &format!("/{bucket}?list-type=2&prefix={prefix}"))
            .unwrap_or_else(|e| panic!("list {bucket}: {e}; log:\n{}", self.log()));
        assert_eq!(status, 200, "list {bucket}: {body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }

    /// Everything moto logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates an empty bucket (moto takes an unsigned CreateBucket).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, _) = self
            .request("PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}; log:\n{}", self.log()));
        assert_eq!(status, 200, "create bucket {bucket}; log:\n{}", self.log());
    }

    /// The settings a client of this server uses.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint()),
            region: Some(REGION.into()),
            access_key_id: Some(ACCESS_KEY_ID.into()),
            secret_access_key: Some(SECRET_ACCESS_KEY.into()),
            session_token: None,
        }
    }

    /// The same settings as the `AWS_*` environment variables `faceid-server` reads, as a shell
    /// prelude for [`super::ServerProcess::start_after`].
    pub fn env_prelude(&self) -> String {
        format!(
            "export AWS_ENDPOINT_URL={} AWS_REGION={REGION} AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} \
             AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}",
            self.endpoint()
        )
    }

    /// A store on a new bucket of this server, under `prefix`.
    pub fn store(&self, bucket: &str, prefix: &str) -> S3MediaStore {
        self.create_bucket(bucket);
        let location = S3Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        S3MediaStore::open(location, &self.settings()).expect("S3 client set up")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
