//! The store contract: every case runs against every backend — SQLite in a temp file and a real
//! PostgreSQL server this test starts (common/postgres.rs) — as `sqlite::<case>` and
//! `postgres::<case>`. "Instances" are separate stores opened on one database, as separate
//! servers would.

mod common;

use std::collections::BTreeSet;
use std::sync::Barrier;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::LivenessMode;
use faceid_core::{Locale, ResultCode};
use faceid_server::store::{
    AttemptLease, AttemptRefusal, AttemptResult, AttemptState, Claim, FinishRefusal, PostgresStore,
    RateLimit, SqliteStore, StoreError, TokenRecord, TokenStatus, VerificationStore,
};
use rand_core::SeedableRng;

use common::postgres::PostgresServer;

/// A fresh database of one backend; each `open` is another instance on it.
trait Database: Sync {
    fn open(&self) -> Box<dyn VerificationStore>;
}

struct SqliteDatabase(tempfile::TempDir);

impl Database for SqliteDatabase {
    fn open(&self) -> Box<dyn VerificationStore> {
        Box::new(SqliteStore::open(&self.0.path().join(faceid_server::DATABASE_FILE)).unwrap())
    }
}

struct PostgresDatabase {
    url: String,
    _server: PostgresServer,
}

impl Database for PostgresDatabase {
    fn open(&self) -> Box<dyn VerificationStore> {
        Box::new(PostgresStore::connect(&self.url).unwrap())
    }
}

fn sqlite_database() -> SqliteDatabase {
    SqliteDatabase(tempfile::tempdir().unwrap())
}

fn postgres_database() -> PostgresDatabase {
    let server = PostgresServer::start();
    PostgresDatabase {
        url: server.create_database("faceid"),
        _server: server,
    }
}

/// `sqlite::<case>` and `postgres::<case>` for every case named.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(&super::sqlite_database()); } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::$case(&super::postgres_database()); } )*
        }
    };
}

contract!(
    budget_claims_and_results,
    a_pass_finishes_the_token,
    a_lease_keeps_other_instances_out_until_it_expires,
    a_renewed_lease_holds_and_a_lost_one_stores_nothing,
    a_restart_takes_back_only_its_own_leases,
    one_claim_wins_among_concurrent_instances,
    the_budget_holds_under_concurrent_attempts,
    rate_limits_count_inside_their_window,
    rate_limits_hold_under_concurrent_instances,
    purge_removes_old_tokens_and_returns_media,
    concurrent_purges_report_each_media_key_once,
    the_last_attempts_finishing_at_once_end_the_flow,
    reopening_keeps_data,
);

const A: &str = "instance-a";
const B: &str = "instance-b";
/// A lease of the tests' clock: claims at `t` hold until `t + LEASE`.
const LEASE: i64 = 1_000;

fn token(id: &str, budget: u32, issued: i64) -> TokenRecord {
    TokenRecord {
        biz_token: id.into(),
        rule_id: "1".into(),
        mode: LivenessMode::Light,
        locale: Locale::En,
        id_card: Some("110101199003074477".into()),
        name: Some("测试".into()),
        redirect_url: Some("https://example.com/back".into()),
        extra: Some("x".into()),
        issued_at_ms: issued,
        expires_at_ms: issued + 7_200_000,
        retry_budget: budget,
        attempts_used: 0,
        status: TokenStatus::Open,
        final_code: None,
    }
}

fn challenge() -> ColourChallenge {
    ColourChallenge::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(3))
}

fn result(code: ResultCode, media: &str) -> AttemptResult {
    AttemptResult {
        err_code: code,
        score: Some(0.5),
        delay_ms: Some(80.0),
        answer_json: format!("{{\"errCode\":{}}}", code.code()),
        video_key: Some(format!("{media}.video")),
        best_frame_key: Some(format!("{media}.jpg")),
        best_frame_score: Some(1.0),
        finished_at_ms: 5,
        verdict_json: Some("{\"rule\":\"passed\"}".into()),
    }
}

fn claimed(claim: Claim) -> bool {
    matches!(claim, Claim::Claimed(_))
}

fn budget_claims_and_results(db: &dyn Database) {
    let s = db.open();
    s.insert_token(&token("T", 2, 0)).unwrap();
    assert_eq!(s.token("T").unwrap().unwrap(), token("T", 2, 0));
    let a1 = s
        .create_attempt("T", "A1", &challenge(), 1, 60_001)
        .unwrap()
        .unwrap();
    assert_eq!(
        (a1.seq, a1.state, &a1.lease),
        (1, AttemptState::Pending, &None)
    );
    assert_eq!(s.attempt("A1").unwrap().unwrap(), a1);
    s.create_attempt("T", "A2", &challenge(), 2, 60_002)
        .unwrap()
        .unwrap();
    assert_eq!(s.token("T").unwrap().unwrap().retries_left(), 0);
    assert_eq!(
        s.create_attempt("T", "A3", &challenge(), 3, 3).unwrap(),
        Err(AttemptRefusal::BudgetSpent)
    );
    assert_eq!(
        s.create_attempt("X", "A4", &challenge(), 3, 3).unwrap(),
        Err(AttemptRefusal::UnknownToken)
    );

    let Claim::Claimed(taken) = s.claim_attempt("A1", A, 10, 10 + LEASE).unwrap() else {
        panic!("a pending attempt is claimed");
    };
    let lease = Some(AttemptLease {
        owner: A.into(),
        expires_at_ms: 10 + LEASE,
    });
    assert_eq!(
        (taken.state, &taken.lease),
        (AttemptState::Verifying, &lease)
    );
    assert_eq!(s.attempt("A1").unwrap().unwrap().lease, lease);
    assert_eq!(
        s.claim_attempt("A1", A, 11, 11 + LEASE).unwrap(),
        Claim::Busy
    );
    assert!(s.release_attempt("A1", A).unwrap());
    assert_eq!(s.attempt("A1").unwrap().unwrap(), a1);
    assert!(claimed(s.claim_attempt("A1", A, 12, 12 + LEASE).unwrap()));
    let t = s
        .finish_attempt("A1", A, &result(ResultCode::SuspectedNonLive, "m1"))
        .unwrap()
        .unwrap();
    // A2 is still open, so the flow has not ended yet.
    assert_eq!(t.status, TokenStatus::Open);
    let done = s.attempt("A1").unwrap().unwrap();
    assert_eq!(
        (done.state, done.lease, done.result),
        (
            AttemptState::Done,
            None,
            Some(result(ResultCode::SuspectedNonLive, "m1"))
        )
    );
    assert_eq!(
        s.claim_attempt("A1", B, 13, 13 + LEASE).unwrap(),
        Claim::Answered("{\"errCode\":1002}".into())
    );
    assert_eq!(
        s.finish_attempt("A1", A, &result(ResultCode::Passed, "m1"))
            .unwrap(),
        Err(FinishRefusal::LeaseLost),
        "an answered attempt is not answered again"
    );
    assert_eq!(
        s.finish_attempt("nope", A, &result(ResultCode::Passed, "m1"))
            .unwrap(),
        Err(FinishRefusal::UnknownAttempt)
    );
    assert_eq!(
        s.claim_attempt("nope", A, 0, LEASE).unwrap(),
        Claim::Unknown
    );
    assert!(claimed(s.claim_attempt("A2", A, 14, 14 + LEASE).unwrap()));
    let t = s
        .finish_attempt("A2", A, &result(ResultCode::NoCompleteFace, "m2"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status, t.final_code),
        (TokenStatus::Exhausted, Some(ResultCode::NoCompleteFace))
    );
    let attempts = s.attempts_for_token("T").unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

fn a_pass_finishes_the_token(db: &dyn Database) {
    let s = db.open();
    s.insert_token(&token("T", 5, 0)).unwrap();
    for id in ["A1", "A2"] {
        s.create_attempt("T", id, &challenge(), 1, 2)
            .unwrap()
            .unwrap();
    }
    assert!(claimed(s.claim_attempt("A2", A, 0, LEASE).unwrap()));
    let t = s
        .finish_attempt("A2", A, &result(ResultCode::Passed, "m"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.status, t.final_code),
        (TokenStatus::Passed, Some(ResultCode::Passed))
    );
    assert_eq!(
        s.create_attempt("T", "A3", &challenge(), 1, 2).unwrap(),
        Err(AttemptRefusal::Finished)
    );
}

fn a_lease_keeps_other_instances_out_until_it_expires(db: &dyn Database) {
    let (a, b) = (db.open(), db.open());
    a.insert_token(&token("T", 5, 0)).unwrap();
    a.create_attempt("T", "X", &challenge(), 0, 60_000)
        .unwrap()
        .unwrap();
    assert!(claimed(a.claim_attempt("X", A, 0, LEASE).unwrap()));
    // B sees A's lease and can neither take, give back nor answer the attempt while it holds.
    assert_eq!(
        b.claim_attempt("X", B, LEASE - 1, 2 * LEASE).unwrap(),
        Claim::Busy
    );
    assert!(!b.release_attempt("X", B).unwrap());
    assert_eq!(
        b.finish_attempt("X", B, &result(ResultCode::Passed, "b"))
            .unwrap(),
        Err(FinishRefusal::LeaseLost)
    );
    // A's lease ran out (A died or hung): B takes the attempt over.
    let Claim::Claimed(taken) = b.claim_attempt("X", B, LEASE, 2 * LEASE).unwrap() else {
        panic!("an expired lease is claimed");
    };
    assert_eq!(taken.lease.unwrap().owner, B);
    // A, back, has lost it: it cannot give it back or answer it; B's answer is the one stored.
    assert!(!a.release_attempt("X", A).unwrap());
    assert_eq!(
        a.finish_attempt("X", A, &result(ResultCode::SuspectedNonLive, "a"))
            .unwrap(),
        Err(FinishRefusal::LeaseLost)
    );
    b.finish_attempt("X", B, &result(ResultCode::Passed, "b"))
        .unwrap()
        .unwrap();
    assert_eq!(
        a.claim_attempt("X", A, 3 * LEASE, 4 * LEASE).unwrap(),
        Claim::Answered("{\"errCode\":0}".into())
    );
    assert_eq!(
        a.attempt("X").unwrap().unwrap().result,
        Some(result(ResultCode::Passed, "b"))
    );
}

fn a_renewed_lease_holds_and_a_lost_one_stores_nothing(db: &dyn Database) {
    let (a, b) = (db.open(), db.open());
    a.insert_token(&token("T", 5, 0)).unwrap();
    a.create_attempt("T", "X", &challenge(), 0, 60_000)
        .unwrap()
        .unwrap();
    assert!(claimed(a.claim_attempt("X", A, 0, LEASE).unwrap()));
    // A verifies longer than one lease and renews it on the way: B, whose claims come after the
    // first lease would have run out, finds the attempt busy each time.
    for round in 1..=3 {
        let now = round * LEASE * 2 / 3;
        assert!(a.renew_lease("X", A, now + LEASE).unwrap(), "round {round}");
        assert_eq!(
            b.claim_attempt("X", B, now + LEASE / 2, now + LEASE / 2 + LEASE)
                .unwrap(),
            Claim::Busy,
            "round {round}"
        );
    }
    let renewed = a.attempt("X").unwrap().unwrap().lease;
    assert_eq!(
        renewed,
        Some(AttemptLease {
            owner: A.into(),
            expires_at_ms: 2 * LEASE + LEASE,
        })
    );
    // Only the owner renews; an unknown attempt renews nothing.
    assert!(!b.renew_lease("X", B, 10 * LEASE).unwrap());
    assert!(!b.renew_lease("nope", B, 10 * LEASE).unwrap());
    assert_eq!(a.attempt("X").unwrap().unwrap().lease, renewed);
    // A stalls past its renewed lease: B takes over. A's next renewal finds the lease lost, and A
    // can neither store its result nor renew again; B's answer is the attempt's.
    assert!(claimed(
        b.claim_attempt("X", B, 3 * LEASE, 4 * LEASE).unwrap()
    ));
    assert!(!a.renew_lease("X", A, 5 * LEASE).unwrap());
    assert_eq!(
        a.attempt("X").unwrap().unwrap().lease,
        Some(AttemptLease {
            owner: B.into(),
            expires_at_ms: 4 * LEASE,
        })
    );
    assert_eq!(
        a.finish_attempt("X", A, &result(ResultCode::SuspectedNonLive, "a"))
            .unwrap(),
        Err(FinishRefusal::LeaseLost)
    );
    b.finish_attempt("X", B, &result(ResultCode::Passed, "b"))
        .unwrap()
        .unwrap();
    // Answered: nobody renews it any more, and the answer stays B's.
    assert!(!b.renew_lease("X", B, 6 * LEASE).unwrap());
    assert!(!a.renew_lease("X", A, 6 * LEASE).unwrap());
    let done = a.attempt("X").unwrap().unwrap();
    assert_eq!(
        (done.state, done.lease, done.result),
        (
            AttemptState::Done,
            None,
            Some(result(ResultCode::Passed, "b"))
        )
    );
    // A lease given back is not renewed either (the attempt is pending, nobody's).
    a.insert_token(&token("U", 5, 0)).unwrap();
    a.create_attempt("U", "Y", &challenge(), 0, 60_000)
        .unwrap()
        .unwrap();
    assert!(claimed(a.claim_attempt("Y", A, 0, LEASE).unwrap()));
    assert!(a.release_attempt("Y", A).unwrap());
    assert!(!a.renew_lease("Y", A, 2 * LEASE).unwrap());
    assert_eq!(
        a.attempt("Y").unwrap().unwrap().state,
        AttemptState::Pending
    );
}

fn a_restart_takes_back_only_its_own_leases(db: &dyn Database) {
    let (a, b) = (db.open(), db.open());
    a.insert_token(&token("T", 5, 0)).unwrap();
    for id in ["X", "Y"] {
        a.create_attempt("T", id, &challenge(), 0, 60_000)
            .unwrap()
            .unwrap();
    }
    assert!(claimed(a.claim_attempt("X", A, 0, LEASE).unwrap()));
    assert!(claimed(b.claim_attempt("Y", B, 0, LEASE).unwrap()));
    // A restarts under the same instance id: its own lease is free again at once, B's is not.
    drop(a);
    let a = db.open();
    assert_eq!(a.release_leases_of(A).unwrap(), 1);
    assert_eq!(
        a.attempt("X").unwrap().unwrap().state,
        AttemptState::Pending
    );
    assert_eq!(a.claim_attempt("Y", A, 1, 1 + LEASE).unwrap(), Claim::Busy);
    assert!(claimed(a.claim_attempt("X", A, 1, 1 + LEASE).unwrap()));
    assert_eq!(a.release_leases_of("instance-c").unwrap(), 0);
}

/// Instances, and threads in each, that race in the concurrency cases.
const INSTANCES: usize = 2;
const THREADS_PER_INSTANCE: usize = 4;

/// Runs `work(instance, thread)` on every thread of every instance at once; collects the results.
fn race<T: Send>(
    db: &dyn Database,
    work: impl Fn(&dyn VerificationStore, usize) -> T + Sync,
) -> Vec<T> {
    let stores: Vec<_> = (0..INSTANCES).map(|_| db.open()).collect();
    let start = Barrier::new(INSTANCES * THREADS_PER_INSTANCE);
    std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .flat_map(|s| std::iter::repeat_n(s, THREADS_PER_INSTANCE))
            .enumerate()
            .map(|(n, s)| {
                let (start, work) = (&start, &work);
                scope.spawn(move || {
                    start.wait();
                    work(s.as_ref(), n)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn one_claim_wins_among_concurrent_instances(db: &dyn Database) {
    let s = db.open();
    s.insert_token(&token("T", 5, 0)).unwrap();
    s.create_attempt("T", "X", &challenge(), 0, 60_000)
        .unwrap()
        .unwrap();
    let claims = race(db, |s, n| {
        s.claim_attempt("X", &format!("racer-{n}"), 0, LEASE)
            .unwrap()
    });
    assert_eq!(claims.iter().filter(|c| claimed((*c).clone())).count(), 1);
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Busy).count(),
        claims.len() - 1
    );
}

fn the_budget_holds_under_concurrent_attempts(db: &dyn Database) {
    let s = db.open();
    s.insert_token(&token("T", 3, 0)).unwrap();
    let made = race(db, |s, n| {
        s.create_attempt("T", &format!("A{n}"), &challenge(), 0, 60_000)
            .unwrap()
    });
    let mut seqs: Vec<u32> = made.iter().flatten().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, vec![1, 2, 3], "each unit of the budget spent once");
    assert!(made
        .iter()
        .filter_map(|m| m.as_ref().err())
        .all(|r| *r == AttemptRefusal::BudgetSpent));
    assert_eq!(s.token("T").unwrap().unwrap().attempts_used, 3);
}

fn the_last_attempts_finishing_at_once_end_the_flow(db: &dyn Database) {
    /// Tokens whose two last attempts finish at the same moment on two instances: each finisher
    /// must see the other's answer, or neither ends the flow.
    const TOKENS: usize = 24;
    let (a, b) = (db.open(), db.open());
    for i in 0..TOKENS {
        let t = format!("T{i}");
        a.insert_token(&token(&t, 2, 0)).unwrap();
        for (store, owner, side) in [(&a, A, "a"), (&b, B, "b")] {
            let id = format!("{t}-{side}");
            store
                .create_attempt(&t, &id, &challenge(), 0, 60_000)
                .unwrap()
                .unwrap();
            assert!(claimed(store.claim_attempt(&id, owner, 0, LEASE).unwrap()));
        }
    }
    drop((a, b));
    race(db, |s, n| {
        let (owner, side) = if n < THREADS_PER_INSTANCE {
            (A, "a")
        } else {
            (B, "b")
        };
        for i in (n % THREADS_PER_INSTANCE..TOKENS).step_by(THREADS_PER_INSTANCE) {
            s.finish_attempt(
                &format!("T{i}-{side}"),
                owner,
                &result(ResultCode::SuspectedNonLive, &format!("m{i}{side}")),
            )
            .unwrap()
            .unwrap();
        }
    });
    let s = db.open();
    for i in 0..TOKENS {
        let t = s.token(&format!("T{i}")).unwrap().unwrap();
        assert_eq!(
            (t.status, t.final_code),
            (TokenStatus::Exhausted, Some(ResultCode::SuspectedNonLive)),
            "T{i}"
        );
    }
}

fn rate_limits_count_inside_their_window(db: &dyn Database) {
    let s = db.open();
    let limits = [RateLimit {
        key: "k".into(),
        window_ms: 1_000,
        max: 2,
    }];
    assert!(s.check_and_count(&limits, 0).unwrap());
    assert!(s.check_and_count(&limits, 10).unwrap());
    assert!(!s.check_and_count(&limits, 20).unwrap());
    assert!(s.check_and_count(&limits, 1_001).unwrap());
    // A refused action counts under none of its keys.
    let both = [
        RateLimit {
            key: "k".into(),
            window_ms: 1_000,
            max: 2,
        },
        RateLimit {
            key: "other".into(),
            window_ms: 1_000,
            max: 1,
        },
    ];
    assert!(s.check_and_count(&both, 2_500).unwrap());
    // "other" is full: refused, and "k" does not count it …
    assert!(!s.check_and_count(&both, 2_501).unwrap());
    assert!(s.check_and_count(&both[..1], 2_502).unwrap());
    // … so "k" holds 2 events now (2 500, 2 502), not 3.
    assert!(!s.check_and_count(&both[..1], 2_503).unwrap());
    assert!(s.check_and_count(&both[1..], 3_501).unwrap());
}

fn rate_limits_hold_under_concurrent_instances(db: &dyn Database) {
    /// Tries per thread; more in all than the limit allows, so some must be refused.
    const TRIES: usize = 10;
    const MAX: u32 = 23;
    let limits = [RateLimit {
        key: "idcard".into(),
        window_ms: 60_000,
        max: MAX,
    }];
    let counted = race(db, |s, _| {
        (0..TRIES)
            .filter(|_| s.check_and_count(&limits, 100).unwrap())
            .count()
    });
    assert_eq!(counted.iter().sum::<usize>(), MAX as usize);
}

fn purge_removes_old_tokens_and_returns_media(db: &dyn Database) {
    let s = db.open();
    s.insert_token(&token("OLD", 5, 0)).unwrap();
    s.insert_token(&token("NEW", 5, 10_000)).unwrap();
    s.create_attempt("OLD", "A1", &challenge(), 1, 2)
        .unwrap()
        .unwrap();
    s.create_attempt("OLD", "A2", &challenge(), 1, 2)
        .unwrap()
        .unwrap();
    s.claim_attempt("A1", A, 0, LEASE).unwrap();
    s.finish_attempt("A1", A, &result(ResultCode::Passed, "m1"))
        .unwrap()
        .unwrap();
    let limit = [RateLimit {
        key: "k".into(),
        window_ms: 100_000,
        max: 1,
    }];
    assert!(s.check_and_count(&limit, 1_000).unwrap());
    let mut keys = s.purge(5_000, 2_000).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["m1.jpg".to_string(), "m1.video".to_string()]);
    assert!(s.token("OLD").unwrap().is_none());
    assert!(s.attempt("A1").unwrap().is_none());
    assert!(s.attempt("A2").unwrap().is_none());
    assert!(s.token("NEW").unwrap().is_some());
    // The event before `events_before_ms` is gone: the key may count again.
    assert!(s.check_and_count(&limit, 3_000).unwrap());
    assert!(s.purge(5_000, 2_000).unwrap().is_empty());
}

fn concurrent_purges_report_each_media_key_once(db: &dyn Database) {
    /// Old tokens with one answered attempt each: enough rows that the purges overlap.
    const OLD_TOKENS: usize = 40;
    let s = db.open();
    let mut expected = BTreeSet::new();
    for i in 0..OLD_TOKENS {
        let (t, a, m) = (format!("T{i}"), format!("A{i}"), format!("m{i}"));
        s.insert_token(&token(&t, 5, 0)).unwrap();
        s.create_attempt(&t, &a, &challenge(), 1, 2)
            .unwrap()
            .unwrap();
        s.claim_attempt(&a, A, 0, LEASE).unwrap();
        s.finish_attempt(&a, A, &result(ResultCode::SuspectedNonLive, &m))
            .unwrap()
            .unwrap();
        expected.extend([format!("{m}.video"), format!("{m}.jpg")]);
    }
    s.insert_token(&token("NEW", 5, 10_000)).unwrap();
    let reported: Vec<String> = race(db, |s, _| s.purge(5_000, 0).unwrap())
        .into_iter()
        .flatten()
        .collect();
    let distinct: BTreeSet<String> = reported.iter().cloned().collect();
    assert_eq!(reported.len(), distinct.len(), "a key reported twice");
    assert_eq!(distinct, expected);
    assert!(s.token("T0").unwrap().is_none());
    assert!(s.token("NEW").unwrap().is_some());
}

fn reopening_keeps_data(db: &dyn Database) {
    db.open().insert_token(&token("T", 5, 0)).unwrap();
    // Opening again runs the migrations again: they must find the schema current.
    let s = db.open();
    assert_eq!(s.token("T").unwrap().unwrap(), token("T", 5, 0));
}

/// The PostgreSQL client's own error text is only a kind ("db error"): the server's reason must
/// reach the operator.
#[test]
fn postgres_errors_say_why() {
    let server = PostgresServer::start();
    let err = PostgresStore::connect(&server.url("no_such_database")).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"no_such_database\" does not exist"),
        "{err}"
    );
}

/// A call waiting on a row another session keeps locked (an instance stopped in the middle of a
/// transaction) fails as unavailable once the store's lock timeout runs out, instead of hanging
/// its HTTP request and thread for as long as the other stays stuck.
#[test]
fn postgres_a_call_behind_a_stuck_row_lock_fails_as_unavailable() {
    let db = postgres_database();
    let store = db.open();
    store.insert_token(&token("stuck", 3, 0)).unwrap();
    let mut stuck = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
    let mut tx = stuck.transaction().unwrap();
    tx.execute(
        "SELECT 1 FROM tokens WHERE biz_token = $1 FOR UPDATE",
        &[&"stuck"],
    )
    .unwrap();
    let (sent, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let answer = store
            .create_attempt("stuck", "attempt-behind-lock", &challenge(), 1, 2)
            .map(|r| r.is_ok());
        let _ = sent.send(answer);
    });
    // Generous: the point is that it comes back at all, and how.
    let answer = answered
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the store call came back");
    assert!(
        matches!(answer, Err(StoreError::Unavailable { .. })),
        "{answer:?}"
    );
    tx.rollback().unwrap();
    // Once the lock is gone the same call goes through.
    let store = db.open();
    assert!(store
        .create_attempt("stuck", "attempt-after-lock", &challenge(), 1, 2)
        .unwrap()
        .is_ok());
}
