//! A real PostgreSQL server for tests: Debian's `postgresql` binaries (scripts/setup.sh installs
//! them), a fresh cluster in a temp directory on a free port, stopped when the guard drops. Never
//! the system service, never assumed running. PostgreSQL refuses to run as root: when the tests do,
//! the cluster belongs to the `postgres` user and its programs run as that user (`setpriv`, which
//! execs, so the child's pid is the server's own).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PROCESS_BOUND;

/// Where Debian's `postgresql-NN` packages put the server programs (the newest version is used);
/// `FACEID_POSTGRES_BIN` names another directory.
const DEBIAN_POSTGRES_LIB: &str = "/usr/lib/postgresql";
/// The cluster's superuser (initdb `-U`); trust authentication, loopback only.
pub const SUPERUSER: &str = "postgres";
/// How often the start-up wait tries to connect.
const READY_POLL: Duration = Duration::from_millis(50);

/// A PostgreSQL server of this test's own.
pub struct PostgresServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn server_programs() -> PathBuf {
    let found = match std::env::var_os("FACEID_POSTGRES_BIN") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::fs::read_dir(DEBIAN_POSTGRES_LIB)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            }),
    };
    match found {
        Some(bin) if bin.join("initdb").is_file() && bin.join("postgres").is_file() => bin,
        _ => panic!(
            "PostgreSQL server programs (initdb, postgres) not found in {}: run scripts/setup.sh \
             (apt-get install postgresql), or set FACEID_POSTGRES_BIN to their directory",
            std::env::var("FACEID_POSTGRES_BIN")
                .unwrap_or_else(|_| format!("{DEBIAN_POSTGRES_LIB}/*/bin"))
        ),
    }
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program` run as the cluster's owner: the `postgres` user when we are root, else ourselves.
fn as_owner(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl PostgresServer {
    /// initdb in a temp directory, then the server on a free loopback port; returns once it
    /// accepts connections.
    pub fn start() -> PostgresServer {
        let bin = server_programs();
        let root = running_as_root();
        let dir = tempfile::tempdir().expect("temp dir");
        if root {
            let chown = Command::new("chown")
                .arg(format!("{SUPERUSER}:"))
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(
                chown.success(),
                "chown {} to postgres",
                dir.path().display()
            );
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let initdb = as_owner(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let child = as_owner(&bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            // A test database is thrown away: durability across power loss buys nothing here.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("postgres log file"))
            .spawn()
            .expect("start postgres");
        let mut server = PostgresServer {
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
            if let Some(status) = self.child.try_wait().expect("poll postgres") {
                panic!(
                    "postgres exited ({status}) at start-up; log:\n{}",
                    self.log()
                );
            }
            match postgres::Client::connect(&self.url(SUPERUSER), postgres::NoTls) {
                Ok(_) => return,
                Err(e) if Instant::now() > until => {
                    panic!(
                        "postgres did not accept connections: {e}; log:\n{}",
                        self.log()
                    )
                }
                Err(_) => std::thread::sleep(READY_POLL),
            }
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The connection URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL. Blocks (not on an async thread).
    pub fn create_database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url(SUPERUSER), postgres::NoTls)
            .expect("connect as superuser");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        self.url(name)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, the server stops its own backends; SIGKILL if it hangs.
        let quit = Command::new("kill")
            .arg("-QUIT")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + PROCESS_BOUND;
        while quit.as_ref().is_ok_and(|s| s.success()) && Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(READY_POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
