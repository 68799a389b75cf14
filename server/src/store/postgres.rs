//! The PostgreSQL store: one database shared by several instances.
//!
//! The blocking `postgres` client runs a small tokio runtime of its own per connection: it must be
//! used, and dropped, outside async tasks (the server calls the store from `spawn_blocking`; a
//! store dropped on an async thread hands its connections to a plain thread to close). Connections
//! are plain TCP (`NoTls`): run the database on a private network or behind a TLS tunnel.
//!
//! Concurrency: every read-modify-write locks the rows it decides on (`SELECT … FOR UPDATE`), so
//! two instances claiming one attempt, spending one token's budget or counting under one
//! rate-limit key take turns; the purge takes only rows nobody else holds (`SKIP LOCKED`), so two
//! instances purging at once each delete (and report the media of) different attempts.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use faceid_core::challenge::ColourChallenge;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};

use super::{
    challenge_json, claim_step, distinct_keys, may_finish, mode_str, next_attempt_seq, sql,
    AttemptRecord, AttemptRefusal, AttemptResult, AttemptState, Claim, ClaimStep, FinishRefusal,
    RateLimit, StoreError, StoredAttempt, StoredToken, TokenRecord, VerificationStore,
};

/// Schema migrations, applied in order; the `schema_version` table records how many have run.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];
/// Connections one instance opens at most. Store calls are single short transactions, so a few
/// serve many verifications; 8 per instance keeps a dozen instances inside PostgreSQL's default
/// `max_connections` of 100.
const MAX_CONNECTIONS: usize = 8;
/// How long a store call waits for a free connection (all busy) before it fails: far longer than
/// any one store transaction takes, short enough that a stuck database is reported, not hidden.
const CONNECTION_WAIT: Duration = Duration::from_secs(10);
/// How long opening a connection may take (an unreachable host fails instead of hanging).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Server-side limits on every connection's session, so that no store call hangs (and holds an
/// HTTP request and a blocking thread) behind an instance that stopped mid-transaction — a process
/// paused or frozen, a host cut off without a reset — or a statement gone wrong. Store
/// transactions take well under a millisecond of the database's time (BENCHMARKS.md §8: 0.06 ms of
/// its CPU a DetectAuth), so each limit is thousands of times what a healthy call needs:
/// - a row lock waited on for [`LOCK_TIMEOUT`] is held by someone stuck: the call fails as
///   unavailable (as SQLite's busy timeout does) and the page's retry comes back later;
/// - a statement running for [`STATEMENT_TIMEOUT`] is cancelled;
/// - a session idle inside a transaction for [`IDLE_IN_TRANSACTION_TIMEOUT`] (an instance stopped
///   between two statements of one) is ended by the server, which releases its locks for the others.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP keepalive on idle pooled connections (the kernel's default waits two hours): a database
/// host that vanished is noticed within about a minute, and its connections are dropped from the
/// pool instead of failing the next call.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The session settings above after any `options` the URL gave (the later setting wins).
fn session_options(given: Option<&str>) -> String {
    format!(
        "{} -c lock_timeout={} -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        given.unwrap_or(""),
        LOCK_TIMEOUT.as_millis(),
        STATEMENT_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
    )
}

/// The advisory lock instances take while migrating, so two starting at once do not both
/// migrate: any constant no other application on the database uses ("faceid" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6661_6365_6964;
const BACKEND: &str = "postgres";

/// The error with its causes: the client's own text is only the kind ("db error", "error
/// connecting to server"); the server's message or the OS error is in its sources.
fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        // A limit of `session_options` ran out: someone else is stuck, not this call's fault.
        let timed_out = e.code().is_some_and(|c| {
            [
                SqlState::LOCK_NOT_AVAILABLE,
                SqlState::QUERY_CANCELED,
                SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            ]
            .contains(c)
        });
        if e.is_closed() || timed_out {
            unavailable(describe(&e))
        } else {
            StoreError::Query {
                backend: BACKEND,
                message: describe(&e),
            }
        }
    }
}

fn unavailable(message: String) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message,
    }
}

/// A small pool of connections: at most [`MAX_CONNECTIONS`], opened when first needed.
struct Pool {
    config: postgres::Config,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Session>,
    /// Connections open, idle or lent out.
    open: usize,
}

/// A connection lent out by the pool; back to it when dropped (unless it broke).
struct Pooled<'a> {
    pool: &'a Pool,
    session: Option<Session>,
}

/// One connection and the statements prepared on it, by their text. A statement sent as text is
/// parsed, described and planned by the server on every call, in a round trip of its own before
/// the one that runs it; prepared once per connection, each later call is one round trip and no
/// parse (DetectAuth on PostgreSQL: 6,000 → 9,600 calls/s at 200 in flight, BENCHMARKS.md §8).
struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Session {
    fn new(client: Client) -> Session {
        Session {
            client,
            statements: HashMap::new(),
        }
    }
}

/// The statement for `sql` on this connection, prepared on first use.
fn prepared(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl GenericClient,
    sql: &str,
) -> Result<Statement, postgres::Error> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

/// Drops a prepared statement the server no longer accepts — its plan outdated by a migration
/// another instance ran ("cached plan must not change result type"), or gone — so the next call
/// prepares it again instead of failing for the connection's lifetime.
fn forget_if_stale(statements: &mut HashMap<String, Statement>, sql: &str, e: &postgres::Error) {
    use postgres::error::SqlState;
    if e.code().is_some_and(|c| {
        *c == SqlState::FEATURE_NOT_SUPPORTED || *c == SqlState::INVALID_SQL_STATEMENT_NAME
    }) {
        statements.remove(sql);
    }
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// What the store's statements run on: a lent connection, or a transaction on one; either way
/// through the connection's prepared statements.
trait Db {
    type Client: GenericClient;

    /// The connection's prepared statements and what runs them.
    fn parts(&mut self) -> (&mut HashMap<String, Statement>, &mut Self::Client);

    /// `call` with the statement for `sql`, prepared on first use; a statement the server no
    /// longer accepts is forgotten.
    fn prepared_call<T>(
        &mut self,
        sql: &str,
        call: impl FnOnce(&mut Self::Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let (statements, client) = self.parts();
        let statement = prepared(statements, client, sql)?;
        call(client, &statement).inspect_err(|e| forget_if_stale(statements, sql, e))
    }

    fn execute(&mut self, sql: &str, params: Params) -> Result<u64, postgres::Error> {
        self.prepared_call(sql, |c, s| c.execute(s, params))
    }

    fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>, postgres::Error> {
        self.prepared_call(sql, |c, s| c.query(s, params))
    }

    fn query_one(&mut self, sql: &str, params: Params) -> Result<Row, postgres::Error> {
        self.prepared_call(sql, |c, s| c.query_one(s, params))
    }

    fn query_opt(&mut self, sql: &str, params: Params) -> Result<Option<Row>, postgres::Error> {
        self.prepared_call(sql, |c, s| c.query_opt(s, params))
    }
}

/// A transaction on a lent connection, through its prepared statements.
struct Tx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }
}

impl<'a> Db for Tx<'a> {
    type Client = postgres::Transaction<'a>;

    fn parts(&mut self) -> (&mut HashMap<String, Statement>, &mut Self::Client) {
        (self.statements, &mut self.tx)
    }
}

impl Pooled<'_> {
    fn session(&mut self) -> &mut Session {
        self.session
            .as_mut()
            .expect("a lent connection is present until dropped")
    }

    /// A transaction (rolled back if dropped without [`Tx::commit`]).
    fn transaction(&mut self) -> Result<Tx<'_>, postgres::Error> {
        let Session { client, statements } = self.session();
        Ok(Tx {
            tx: client.transaction()?,
            statements,
        })
    }
}

impl Db for Pooled<'_> {
    type Client = Client;

    fn parts(&mut self) -> (&mut HashMap<String, Statement>, &mut Client) {
        let Session { client, statements } = self.session();
        (statements, client)
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock leaves whole connections and a whole count behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = Instant::now() + CONNECTION_WAIT;
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                if session.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Pooled {
                    pool: self,
                    session: Some(session),
                });
            }
            if state.open < MAX_CONNECTIONS {
                state.open += 1;
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        session: Some(Session::new(client)),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(unavailable(describe(&e)))
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(unavailable(format!(
                    "all {MAX_CONNECTIONS} connections stayed busy for {} s",
                    CONNECTION_WAIT.as_secs()
                )));
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self
            .session
            .as_ref()
            .expect("a lent connection is present until dropped")
            .client
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.session().client
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if session.client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(session);
        }
        drop(state);
        self.pool.returned.notify_one();
    }
}

/// The PostgreSQL store (`--database-url postgres://…`).
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.pool.lock().idle);
        if idle.is_empty() {
            return;
        }
        // Closing a connection drives its runtime, which panics on an async thread (where the last
        // reference to the server's state may go): close them on a thread of their own.
        let closing = std::thread::Builder::new()
            .name("postgres-close".into())
            .spawn(move || drop(idle));
        if let Err(e) = closing {
            tracing::warn!(error = %e, "could not close database connections cleanly");
        }
    }
}

fn token_from_row(row: &Row) -> Result<StoredToken, postgres::Error> {
    Ok(StoredToken {
        biz_token: row.try_get(0)?,
        rule_id: row.try_get(1)?,
        mode: row.try_get(2)?,
        locale: row.try_get(3)?,
        id_card: row.try_get(4)?,
        name: row.try_get(5)?,
        redirect_url: row.try_get(6)?,
        extra: row.try_get(7)?,
        issued_at: row.try_get(8)?,
        expires_at: row.try_get(9)?,
        retry_budget: row.try_get(10)?,
        attempts_used: row.try_get(11)?,
        status: row.try_get(12)?,
        final_code: row.try_get(13)?,
    })
}

fn attempt_from_row(row: &Row) -> Result<AttemptRecord, StoreError> {
    StoredAttempt {
        attempt_id: row.try_get(0)?,
        biz_token: row.try_get(1)?,
        seq: row.try_get(2)?,
        challenge: row.try_get(3)?,
        issued_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
        state: row.try_get(6)?,
        err_code: row.try_get(7)?,
        score: row.try_get(8)?,
        delay_ms: row.try_get(9)?,
        answer: row.try_get(10)?,
        video_key: row.try_get(11)?,
        best_frame_key: row.try_get(12)?,
        best_frame_score: row.try_get(13)?,
        finished_at: row.try_get(14)?,
        verdict: row.try_get(15)?,
        lease_owner: row.try_get(16)?,
        lease_expires_at: row.try_get(17)?,
    }
    .into_record()
}

/// A shared statement ([`sql`], SQLite's `?N`) in PostgreSQL's `$N` placeholders (no statement
/// has a `?` anywhere else).
fn dollar(statement: &str) -> String {
    statement.replace('?', "$")
}

/// Whether a read locks the row for the rest of the transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    ForUpdate,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::ForUpdate => " FOR UPDATE",
        }
    }
}

fn query_token(
    client: &mut impl Db,
    biz_token: &str,
    lock: Lock,
) -> Result<Option<TokenRecord>, StoreError> {
    let sql = dollar(&sql::token_by_id()) + lock.clause();
    client
        .query_opt(&sql, &[&biz_token])?
        .map(|row| token_from_row(&row)?.into_record())
        .transpose()
}

fn query_attempt(
    client: &mut impl Db,
    attempt_id: &str,
    lock: Lock,
) -> Result<Option<AttemptRecord>, StoreError> {
    let sql = dollar(&sql::attempt_by_id()) + lock.clause();
    client
        .query_opt(&sql, &[&attempt_id])?
        .map(|row| attempt_from_row(&row))
        .transpose()
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let stored: Option<i64> = tx
        .query_opt("SELECT version FROM schema_version", &[])?
        .map(|row| row.try_get(0))
        .transpose()?;
    let done = usize::try_from(stored.unwrap_or(0))
        .map_err(|_| StoreError::Corrupt(format!("schema version {stored:?}")))?;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database schema is version {done}, newer than this server's {}: upgrade the server",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[done..] {
        tx.batch_execute(sql)?;
    }
    let version = MIGRATIONS.len() as i64;
    if stored.is_some() {
        tx.execute("UPDATE schema_version SET version = $1", &[&version])?;
    } else {
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`) and applies pending
    /// migrations. Blocks: not on an async thread.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|_| StoreError::Url {
            url: super::redact_password(url),
            why: "not a PostgreSQL connection URL",
        })?;
        let options = session_options(config.get_options());
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .options(&options)
            .application_name("faceid-server");
        let store = PostgresStore {
            pool: Pool {
                config,
                state: Mutex::default(),
                returned: Condvar::new(),
            },
        };
        migrate(&mut *store.pool.get()?)?;
        Ok(store)
    }
}

impl VerificationStore for PostgresStore {
    fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.pool.get()?.execute(
            &dollar(&sql::insert_token()),
            &[
                &t.biz_token,
                &t.rule_id,
                &mode_str(t.mode),
                &t.locale.tag(),
                &t.id_card,
                &t.name,
                &t.redirect_url,
                &t.extra,
                &t.issued_at_ms,
                &t.expires_at_ms,
                &i64::from(t.retry_budget),
                &i64::from(t.attempts_used),
                &t.status.as_str(),
                &t.final_code.map(|c| i64::from(c.code())),
            ],
        )?;
        Ok(())
    }

    fn token(&self, biz_token: &str) -> Result<Option<TokenRecord>, StoreError> {
        query_token(&mut self.pool.get()?, biz_token, Lock::None)
    }

    fn create_attempt(
        &self,
        biz_token: &str,
        attempt_id: &str,
        challenge: &ColourChallenge,
        issued_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Result<AttemptRecord, AttemptRefusal>, StoreError> {
        let challenge_json = challenge_json(challenge)?;
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        // Locked: two uploads' attempts on one token cannot both spend its last unit.
        let token = query_token(&mut tx, biz_token, Lock::ForUpdate)?;
        let seq = match next_attempt_seq(token.as_ref()) {
            Ok(seq) => seq,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tx.execute(&dollar(sql::SPEND_BUDGET), &[&biz_token, &i64::from(seq)])?;
        tx.execute(
            &dollar(sql::INSERT_ATTEMPT),
            &[
                &attempt_id,
                &biz_token,
                &i64::from(seq),
                &challenge_json,
                &issued_at_ms,
                &expires_at_ms,
            ],
        )?;
        tx.commit()?;
        Ok(Ok(AttemptRecord::issued(
            attempt_id,
            biz_token,
            seq,
            challenge,
            issued_at_ms,
            expires_at_ms,
        )))
    }

    fn attempt(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        query_attempt(&mut self.pool.get()?, attempt_id, Lock::None)
    }

    fn attempts_for_token(&self, biz_token: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        self.pool
            .get()?
            .query(&dollar(&sql::attempts_of_token()), &[&biz_token])?
            .iter()
            .map(attempt_from_row)
            .collect()
    }

    fn claim_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        now_ms: i64,
        lease_expires_at_ms: i64,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        // Locked: a second claimant waits here, then reads the first one's lease.
        let attempt = query_attempt(&mut tx, attempt_id, Lock::ForUpdate)?;
        let claim = match claim_step(attempt, owner, now_ms, lease_expires_at_ms)? {
            ClaimStep::Answer(claim) => claim,
            ClaimStep::Take(taken) => {
                tx.execute(
                    &dollar(sql::TAKE_LEASE),
                    &[&attempt_id, &owner, &lease_expires_at_ms],
                )?;
                Claim::Claimed(taken)
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    fn renew_lease(
        &self,
        attempt_id: &str,
        owner: &str,
        lease_expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let renewed = self.pool.get()?.execute(
            &dollar(sql::RENEW_LEASE),
            &[&attempt_id, &owner, &lease_expires_at_ms],
        )?;
        Ok(renewed > 0)
    }

    fn release_attempt(&self, attempt_id: &str, owner: &str) -> Result<bool, StoreError> {
        let released = self
            .pool
            .get()?
            .execute(&dollar(sql::RELEASE_ATTEMPT), &[&attempt_id, &owner])?;
        Ok(released > 0)
    }

    fn finish_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        r: &AttemptResult,
    ) -> Result<Result<TokenRecord, FinishRefusal>, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        let attempt = match may_finish(query_attempt(&mut tx, attempt_id, Lock::ForUpdate)?, owner)
        {
            Ok(attempt) => attempt,
            Err(refusal) => return Ok(Err(refusal)),
        };
        // The token is locked too: two attempts of one token finishing on two instances would
        // otherwise each see the other still open, and neither would end the flow.
        query_token(&mut tx, &attempt.biz_token, Lock::ForUpdate)?;
        tx.execute(
            &dollar(sql::STORE_RESULT),
            &[
                &attempt_id,
                &AttemptState::Done.as_str(),
                &i64::from(r.err_code.code()),
                &r.score.map(f64::from),
                &r.delay_ms.map(f64::from),
                &r.answer_json,
                &r.video_key,
                &r.best_frame_key,
                &r.best_frame_score.map(f64::from),
                &r.finished_at_ms,
                &r.verdict_json,
            ],
        )?;
        if r.err_code.is_pass() {
            tx.execute(&dollar(sql::TOKEN_PASSED), &[&attempt.biz_token])?;
        } else {
            tx.execute(
                &dollar(sql::TOKEN_EXHAUSTED),
                &[&attempt.biz_token, &i64::from(r.err_code.code())],
            )?;
        }
        let token = query_token(&mut tx, &attempt.biz_token, Lock::None)?
            .ok_or_else(|| StoreError::Corrupt(format!("attempt {attempt_id} has no token")))?;
        tx.commit()?;
        Ok(Ok(token))
    }

    fn check_and_count(&self, limits: &[RateLimit], now_ms: i64) -> Result<bool, StoreError> {
        let keys = distinct_keys(limits);
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        // The upsert locks each key's row until commit: a second instance counting under the same
        // key waits here, then counts this one's event too.
        for key in &keys {
            tx.execute(
                "INSERT INTO rate_keys (key, last_at) VALUES ($1, $2) ON CONFLICT (key) \
                 DO UPDATE SET last_at = GREATEST(rate_keys.last_at, EXCLUDED.last_at)",
                &[key, &now_ms],
            )?;
        }
        for l in limits {
            let count: i64 = tx
                .query_one(
                    &dollar(sql::COUNT_RATE_EVENTS),
                    &[&l.key, &(now_ms - l.window_ms)],
                )?
                .try_get(0)?;
            if count >= i64::from(l.max) {
                return Ok(false);
            }
        }
        for key in &keys {
            tx.execute(&dollar(sql::INSERT_RATE_EVENT), &[key, &now_ms])?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn purge(&self, cutoff_ms: i64, events_before_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        // Attempts another transaction holds (another instance's purge, a verification finishing)
        // are skipped, not waited for: the purge that holds them reports their media, or the next
        // run takes them.
        let rows = tx.query(
            "DELETE FROM attempts WHERE attempt_id IN (\
                 SELECT a.attempt_id FROM attempts a JOIN tokens t ON a.biz_token = t.biz_token \
                 WHERE t.issued_at < $1 FOR UPDATE OF a SKIP LOCKED) \
             RETURNING video_key, best_frame_key",
            &[&cutoff_ms],
        )?;
        let mut keys = Vec::new();
        for row in &rows {
            keys.extend(row.try_get::<_, Option<String>>(0)?);
            keys.extend(row.try_get::<_, Option<String>>(1)?);
        }
        // A token goes only once none of its attempts is left (one skipped above stays with it, so
        // its media is never dropped unreported by the cascade). The condition is inside the
        // locking select: a token this purge may not delete is not locked either, so the purge
        // that emptied it is not kept from deleting it.
        tx.execute(
            "DELETE FROM tokens WHERE biz_token IN (\
                 SELECT t.biz_token FROM tokens t WHERE t.issued_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.biz_token = t.biz_token) \
                 FOR UPDATE OF t SKIP LOCKED)",
            &[&cutoff_ms],
        )?;
        tx.execute(&dollar(sql::DELETE_RATE_EVENTS), &[&events_before_ms])?;
        tx.execute(
            "DELETE FROM rate_keys WHERE last_at < $1",
            &[&events_before_ms],
        )?;
        tx.commit()?;
        Ok(keys)
    }

    fn release_leases_of(&self, owner: &str) -> Result<usize, StoreError> {
        let released = self
            .pool
            .get()?
            .execute(&dollar(sql::RELEASE_LEASES_OF), &[&owner])?;
        Ok(usize::try_from(released).unwrap_or(usize::MAX))
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.pool.get()?.batch_execute("SELECT 1")?;
        Ok(())
    }
}
