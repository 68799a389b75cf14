//! The media store contract: every case runs against every backend — a temp directory and a real
//! S3-compatible server this test starts (common/moto.rs) — as `directory::<case>` and
//! `s3::<case>`.

mod common;

use std::path::Path;

use faceid_server::media::{DirectoryMediaStore, MediaError, MediaStore, PART_BYTES};

use common::moto::MotoServer;

/// A fresh, empty store of one backend, and where its test files may be written.
trait Backend {
    fn store(&self) -> &dyn MediaStore;
    fn scratch(&self) -> &Path;
    /// Whether `key` is there, seen from outside the store (the directory's file, the bucket's
    /// object over plain HTTP).
    fn holds(&self, key: &str) -> bool;
    /// How many objects the store holds, seen from outside it.
    fn count_objects(&self) -> usize;
}

struct Directory {
    store: DirectoryMediaStore,
    dir: tempfile::TempDir,
}

impl Backend for Directory {
    fn store(&self) -> &dyn MediaStore {
        &self.store
    }
    fn scratch(&self) -> &Path {
        self.dir.path()
    }
    fn holds(&self, key: &str) -> bool {
        self.dir.path().join("media").join(key).is_file()
    }
    fn count_objects(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("media"))
            .unwrap()
            .count()
    }
}

fn directory() -> Directory {
    let dir = tempfile::tempdir().unwrap();
    let store = DirectoryMediaStore::open(&dir.path().join("media")).unwrap();
    Directory { store, dir }
}

const BUCKET: &str = "faceid-media";
const PREFIX: &str = "contract/run-1";

struct S3 {
    // Dropped before the server it talks to.
    store: faceid_server::media::S3MediaStore,
    scratch: tempfile::TempDir,
    server: MotoServer,
}

impl Backend for S3 {
    fn store(&self) -> &dyn MediaStore {
        &self.store
    }
    fn scratch(&self) -> &Path {
        self.scratch.path()
    }
    fn holds(&self, key: &str) -> bool {
        let name = format!("{PREFIX}/{key}");
        self.server.object_names(BUCKET, &name).contains(&name)
    }
    fn count_objects(&self) -> usize {
        self.server.object_names(BUCKET, "").len()
    }
}

fn s3() -> S3 {
    let server = MotoServer::start();
    S3 {
        store: server.store(BUCKET, PREFIX),
        scratch: tempfile::tempdir().unwrap(),
        server,
    }
}

/// `directory::<case>` and `s3::<case>` for every case named.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod directory {
            $( #[test] fn $case() { super::$case(&super::directory()); } )*
        }
        mod s3 {
            $( #[test] fn $case() { super::$case(&super::s3()); } )*
        }
    };
}

contract!(
    bytes_round_trip_and_delete,
    a_missing_key_reads_as_none_and_deletes_without_error,
    keys_that_are_not_media_keys_are_refused,
    a_file_is_stored_and_its_source_consumed,
    a_large_file_round_trips_intact,
    a_file_of_exactly_one_part_round_trips,
    the_readiness_probe_leaves_nothing_behind,
);

/// Bytes that differ at every position of a part (a shifted or repeated part would show).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn bytes_round_trip_and_delete(b: &dyn Backend) {
    let m = b.store();
    let frame = pattern(40_000, 1);
    m.put_bytes("a1.jpg", &frame).unwrap();
    assert!(b.holds("a1.jpg"));
    assert_eq!(m.get("a1.jpg").unwrap(), Some(frame));
    // Overwriting replaces.
    m.put_bytes("a1.jpg", b"second").unwrap();
    assert_eq!(m.get("a1.jpg").unwrap().as_deref(), Some(&b"second"[..]));
    // An empty object is an object.
    m.put_bytes("empty.jpg", b"").unwrap();
    assert_eq!(m.get("empty.jpg").unwrap(), Some(vec![]));
    m.delete("a1.jpg").unwrap();
    assert!(!b.holds("a1.jpg"));
    assert_eq!(m.get("a1.jpg").unwrap(), None);
    assert_eq!(m.get("empty.jpg").unwrap(), Some(vec![]));
}

fn a_missing_key_reads_as_none_and_deletes_without_error(b: &dyn Backend) {
    let m = b.store();
    assert_eq!(m.get("never-stored.video").unwrap(), None);
    m.delete("never-stored.video").unwrap();
    m.put_bytes("once.jpg", b"x").unwrap();
    m.delete("once.jpg").unwrap();
    m.delete("once.jpg").unwrap();
    assert_eq!(m.get("once.jpg").unwrap(), None);
}

fn keys_that_are_not_media_keys_are_refused(b: &dyn Backend) {
    let m = b.store();
    let src = b.scratch().join("upload");
    std::fs::write(&src, b"video").unwrap();
    let long = "k".repeat(129);
    for bad in [
        "../x", "", ".hidden", "a/b", "a\\b", "sp ace", "ü.jpg", &long,
    ] {
        assert!(matches!(m.get(bad), Err(MediaError::BadKey(_))), "{bad:?}");
        assert!(
            matches!(m.put_bytes(bad, b"x"), Err(MediaError::BadKey(_))),
            "{bad:?}"
        );
        assert!(
            matches!(m.put_file(bad, &src), Err(MediaError::BadKey(_))),
            "{bad:?}"
        );
        assert!(
            matches!(m.delete(bad), Err(MediaError::BadKey(_))),
            "{bad:?}"
        );
    }
    // A refused key leaves its source where it was.
    assert_eq!(std::fs::read(&src).unwrap(), b"video");
}

fn a_file_is_stored_and_its_source_consumed(b: &dyn Backend) {
    let m = b.store();
    let src = b.scratch().join("upload");
    let video = pattern(300_000, 2);
    std::fs::write(&src, &video).unwrap();
    m.put_file("b2.video", &src).unwrap();
    assert!(!src.exists());
    assert!(b.holds("b2.video"));
    assert_eq!(m.get("b2.video").unwrap(), Some(video));
}

/// An upload at the size limit (8 MB, PROTOCOL.md §2): on S3 a multipart upload of two parts.
fn a_large_file_round_trips_intact(b: &dyn Backend) {
    let m = b.store();
    let size = usize::try_from(faceid_core::protocol::MAX_UPLOAD_BYTES).unwrap();
    assert!(size > PART_BYTES, "the limit must span parts to test them");
    let video = pattern(size, 3);
    let src = b.scratch().join("upload");
    std::fs::write(&src, &video).unwrap();
    m.put_file("c3.video", &src).unwrap();
    assert!(!src.exists());
    let back = m.get("c3.video").unwrap().unwrap();
    assert_eq!(back.len(), video.len());
    assert!(back == video, "the bytes came back changed");
    m.delete("c3.video").unwrap();
    assert_eq!(m.get("c3.video").unwrap(), None);
}

/// A file of exactly one part's size: the multipart path with no second part.
fn a_file_of_exactly_one_part_round_trips(b: &dyn Backend) {
    let m = b.store();
    let video = pattern(PART_BYTES, 4);
    let src = b.scratch().join("upload");
    std::fs::write(&src, &video).unwrap();
    m.put_file("d4.video", &src).unwrap();
    assert!(m.get("d4.video").unwrap().unwrap() == video);
}

fn the_readiness_probe_leaves_nothing_behind(b: &dyn Backend) {
    let m = b.store();
    m.check().unwrap();
    m.check().unwrap();
    m.put_bytes("e5.jpg", b"kept").unwrap();
    m.check().unwrap();
    assert_eq!(m.get("e5.jpg").unwrap().as_deref(), Some(&b"kept"[..]));
    assert_eq!(b.count_objects(), 1);
}

// --- The S3 backend's own cases: how it is called and set up.

/// The server calls the store from `spawn_blocking`; a test, or a mistaken caller, may call it on
/// an async thread, even of a current-thread runtime whose one thread is then the caller. Neither
/// panics ("Cannot start a runtime from within a runtime") nor hangs, and the store may be dropped
/// there too (where the last reference to a server's state goes).
#[tokio::test(flavor = "current_thread")]
async fn the_s3_store_answers_on_blocking_and_async_threads_and_drops_on_either() {
    let server = tokio::task::spawn_blocking(MotoServer::start)
        .await
        .unwrap();
    let store = std::sync::Arc::new(server.store(BUCKET, PREFIX));
    let from_blocking = store.clone();
    tokio::task::spawn_blocking(move || {
        from_blocking.put_bytes("f6.jpg", b"from a blocking thread")
    })
    .await
    .unwrap()
    .unwrap();
    // On the runtime's only thread, inside a task.
    assert_eq!(
        store.get("f6.jpg").unwrap().as_deref(),
        Some(&b"from a blocking thread"[..])
    );
    store.check().unwrap();
    let in_task = store.clone();
    tokio::spawn(async move { in_task.delete("f6.jpg") })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.get("f6.jpg").unwrap(), None);
    drop(store);
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}

#[test]
fn s3_settings_that_cannot_work_are_refused_when_opening() {
    let location = faceid_server::media::S3Location {
        bucket: BUCKET.into(),
        prefix: String::new(),
    };
    let open = |settings: faceid_server::media::S3Settings| {
        faceid_server::media::S3MediaStore::open(location.clone(), &settings).map(drop)
    };
    let e = open(faceid_server::media::S3Settings {
        endpoint: Some("minio.internal:9000".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, MediaError::S3Settings(_)), "{e}");
    assert!(e.to_string().contains("http://"), "{e}");
    let e = open(faceid_server::media::S3Settings {
        endpoint: Some("http://127.0.0.1:9".into()),
        access_key_id: Some("id-without-secret".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, MediaError::S3Settings(_)), "{e}");
}

/// A store whose server is gone fails its calls with a typed error naming the object.
#[test]
fn an_unreachable_s3_server_is_an_error_not_a_panic() {
    let server = MotoServer::start();
    let store = server.store(BUCKET, PREFIX);
    store.put_bytes("g7.jpg", b"x").unwrap();
    drop(server);
    let e = store.get("g7.jpg").unwrap_err();
    assert!(
        matches!(&e, MediaError::S3 { operation: "get", object, .. } if object.ends_with("/g7.jpg")),
        "{e}"
    );
    assert!(matches!(store.check(), Err(MediaError::S3 { .. })));
}

/// An upload larger than one part goes up as a multipart upload (memory bounded by one part), as
/// the S3 server saw it: one initiation, two parts, one completion.
#[test]
fn a_large_file_goes_to_s3_in_parts() {
    let b = s3();
    let src = b.scratch().join("upload");
    std::fs::write(&src, pattern(PART_BYTES + 1, 5)).unwrap();
    b.store().put_file("h8.video", &src).unwrap();
    let log = b.server.log();
    let requests = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        (
            requests("\"POST /faceid-media/contract/run-1/h8.video?uploads"),
            requests("\"PUT /faceid-media/contract/run-1/h8.video?partNumber="),
            requests("\"POST /faceid-media/contract/run-1/h8.video?uploadId="),
        ),
        (1, 2, 1),
        "moto log:\n{log}"
    );
    assert_eq!(
        b.store().get("h8.video").unwrap().unwrap().len(),
        PART_BYTES + 1
    );
}
