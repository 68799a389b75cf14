//! The embedded SQLite store: one file in the data directory, one machine.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use faceid_core::challenge::ColourChallenge;
use faceid_core::ResultCode;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{
    challenge_json, claim_step, may_finish, mode_str, next_attempt_seq, sql, AttemptRecord,
    AttemptRefusal, AttemptResult, AttemptState, Claim, ClaimStep, FinishRefusal, RateLimit,
    StoreError, StoredAttempt, StoredToken, TokenRecord, VerificationStore,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_verdict.sql"),
    include_str!("../../migrations/sqlite/0003_leases.sql"),
];
/// How long a writer waits for the database lock before giving up (SQLite busy timeout).
const BUSY_TIMEOUT_MS: u64 = 5_000;
const BACKEND: &str = "sqlite";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable {
                    backend: BACKEND,
                    message: e.to_string(),
                }
            }
            _ => StoreError::Query {
                backend: BACKEND,
                message: e.to_string(),
            },
        }
    }
}

/// The embedded SQLite store (one file in the data directory).
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<StoredToken> {
    Ok(StoredToken {
        biz_token: row.get(0)?,
        rule_id: row.get(1)?,
        mode: row.get(2)?,
        locale: row.get(3)?,
        id_card: row.get(4)?,
        name: row.get(5)?,
        redirect_url: row.get(6)?,
        extra: row.get(7)?,
        issued_at: row.get(8)?,
        expires_at: row.get(9)?,
        retry_budget: row.get(10)?,
        attempts_used: row.get(11)?,
        status: row.get(12)?,
        final_code: row.get(13)?,
    })
}

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<StoredAttempt> {
    Ok(StoredAttempt {
        attempt_id: row.get(0)?,
        biz_token: row.get(1)?,
        seq: row.get(2)?,
        challenge: row.get(3)?,
        issued_at: row.get(4)?,
        expires_at: row.get(5)?,
        state: row.get(6)?,
        err_code: row.get(7)?,
        score: row.get(8)?,
        delay_ms: row.get(9)?,
        answer: row.get(10)?,
        video_key: row.get(11)?,
        best_frame_key: row.get(12)?,
        best_frame_score: row.get(13)?,
        finished_at: row.get(14)?,
        verdict: row.get(15)?,
        lease_owner: row.get(16)?,
        lease_expires_at: row.get(17)?,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // SQLite would create the database 0644 and gives its -wal and -shm files the database's
        // own mode: create it owner-only first (and tighten one an older version left readable).
        crate::private_fs::ensure_file(path).map_err(StoreError::Permissions)?;
        let conn = Connection::open(path)?;
        let store = SqliteStore::with_connection(conn)?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            crate::private_fs::restrict_file(Path::new(&companion))
                .map_err(StoreError::Permissions)?;
        }
        Ok(store)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        // WAL: readers never block the writer; NORMAL sync is durable across process crashes.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows are overwritten with zeros, not merely unlinked: a purged name or ID number
        // must not stay readable in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?
            .max(0) as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// A transaction that takes the write lock at its start: with another process on the same file
/// (a second instance, a tool), a read-then-write transaction could otherwise fail to upgrade.
fn write_tx(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

fn query_token(conn: &Connection, biz_token: &str) -> Result<Option<TokenRecord>, StoreError> {
    conn.query_row(&sql::token_by_id(), params![biz_token], token_from_row)
        .optional()?
        .map(StoredToken::into_record)
        .transpose()
}

fn query_attempt(conn: &Connection, attempt_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
    conn.query_row(&sql::attempt_by_id(), params![attempt_id], attempt_from_row)
        .optional()?
        .map(StoredAttempt::into_record)
        .transpose()
}

impl VerificationStore for SqliteStore {
    fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.execute(
            &sql::insert_token(),
            params![
                t.biz_token,
                t.rule_id,
                mode_str(t.mode),
                t.locale.tag(),
                t.id_card,
                t.name,
                t.redirect_url,
                t.extra,
                t.issued_at_ms,
                t.expires_at_ms,
                t.retry_budget,
                t.attempts_used,
                t.status.as_str(),
                t.final_code.map(ResultCode::code)
            ],
        )?;
        Ok(())
    }

    fn token(&self, biz_token: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.lock()?;
        query_token(&conn, biz_token)
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
        let mut conn = self.lock()?;
        let tx = write_tx(&mut conn)?;
        let seq = match next_attempt_seq(query_token(&tx, biz_token)?.as_ref()) {
            Ok(seq) => seq,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tx.execute(sql::SPEND_BUDGET, params![biz_token, seq])?;
        tx.execute(
            sql::INSERT_ATTEMPT,
            params![
                attempt_id,
                biz_token,
                seq,
                challenge_json,
                issued_at_ms,
                expires_at_ms
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
        let conn = self.lock()?;
        query_attempt(&conn, attempt_id)
    }

    fn attempts_for_token(&self, biz_token: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(&sql::attempts_of_token())?;
        let rows = stmt.query_map(params![biz_token], attempt_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_record()?);
        }
        Ok(out)
    }

    fn claim_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        now_ms: i64,
        lease_expires_at_ms: i64,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.lock()?;
        let tx = write_tx(&mut conn)?;
        let attempt = query_attempt(&tx, attempt_id)?;
        let claim = match claim_step(attempt, owner, now_ms, lease_expires_at_ms)? {
            ClaimStep::Answer(claim) => claim,
            ClaimStep::Take(taken) => {
                tx.execute(
                    sql::TAKE_LEASE,
                    params![attempt_id, owner, lease_expires_at_ms],
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
        let renewed = self.lock()?.execute(
            sql::RENEW_LEASE,
            params![attempt_id, owner, lease_expires_at_ms],
        )?;
        Ok(renewed > 0)
    }

    fn release_attempt(&self, attempt_id: &str, owner: &str) -> Result<bool, StoreError> {
        let released = self
            .lock()?
            .execute(sql::RELEASE_ATTEMPT, params![attempt_id, owner])?;
        Ok(released > 0)
    }

    fn finish_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        r: &AttemptResult,
    ) -> Result<Result<TokenRecord, FinishRefusal>, StoreError> {
        let mut conn = self.lock()?;
        let tx = write_tx(&mut conn)?;
        let attempt = match may_finish(query_attempt(&tx, attempt_id)?, owner) {
            Ok(attempt) => attempt,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tx.execute(
            sql::STORE_RESULT,
            params![
                attempt_id,
                AttemptState::Done.as_str(),
                r.err_code.code(),
                r.score.map(f64::from),
                r.delay_ms.map(f64::from),
                r.answer_json,
                r.video_key,
                r.best_frame_key,
                r.best_frame_score.map(f64::from),
                r.finished_at_ms,
                r.verdict_json
            ],
        )?;
        if r.err_code.is_pass() {
            tx.execute(sql::TOKEN_PASSED, params![attempt.biz_token])?;
        } else {
            tx.execute(
                sql::TOKEN_EXHAUSTED,
                params![attempt.biz_token, r.err_code.code()],
            )?;
        }
        let token = query_token(&tx, &attempt.biz_token)?
            .ok_or_else(|| StoreError::Corrupt(format!("attempt {attempt_id} has no token")))?;
        tx.commit()?;
        Ok(Ok(token))
    }

    fn check_and_count(&self, limits: &[RateLimit], now_ms: i64) -> Result<bool, StoreError> {
        let mut conn = self.lock()?;
        let tx = write_tx(&mut conn)?;
        for l in limits {
            let count: i64 = tx.query_row(
                sql::COUNT_RATE_EVENTS,
                params![l.key, now_ms - l.window_ms],
                |r| r.get(0),
            )?;
            if count >= i64::from(l.max) {
                return Ok(false);
            }
        }
        for k in super::distinct_keys(limits) {
            tx.execute(sql::INSERT_RATE_EVENT, params![k, now_ms])?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn purge(&self, cutoff_ms: i64, events_before_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.lock()?;
        let tx = write_tx(&mut conn)?;
        let mut keys = Vec::new();
        {
            let mut stmt = tx.prepare(
                "DELETE FROM attempts WHERE biz_token IN (SELECT biz_token FROM tokens WHERE issued_at < ?1) \
                 RETURNING video_key, best_frame_key",
            )?;
            let rows = stmt.query_map(params![cutoff_ms], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })?;
            for row in rows {
                let (v, f) = row?;
                keys.extend(v);
                keys.extend(f);
            }
        }
        let mut deleted = tx.execute(
            "DELETE FROM tokens WHERE issued_at < ?1",
            params![cutoff_ms],
        )?;
        deleted += tx.execute(sql::DELETE_RATE_EVENTS, params![events_before_ms])?;
        tx.commit()?;
        if deleted > 0 || !keys.is_empty() {
            // secure_delete zeroed the rows in the new page images, but the WAL still holds the
            // old ones (the rows as inserted): copy everything back and empty the WAL file.
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                tracing::warn!("the WAL checkpoint after a purge was blocked; purged rows stay in the WAL until the next one");
            }
        }
        Ok(keys)
    }

    fn release_leases_of(&self, owner: &str) -> Result<usize, StoreError> {
        Ok(self
            .lock()?
            .execute(sql::RELEASE_LEASES_OF, params![owner])?)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.lock()?
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    /// A database written by the version before leases (schema 2) with an attempt that version
    /// left "verifying" when it stopped: it has no owner to expire, so the upgrade frees it.
    #[test]
    fn an_attempt_left_verifying_before_leases_is_claimable_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faceid.sqlite");
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO tokens (biz_token, rule_id, mode, locale, issued_at, expires_at, retry_budget, attempts_used) \
             VALUES ('T', '1', 'light', 'en', 0, 7200000, 3, 1)",
            [],
        )
        .unwrap();
        let challenge = ColourChallenge::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
        conn.execute(
            "INSERT INTO attempts (attempt_id, biz_token, seq, challenge, issued_at, expires_at, state) \
             VALUES ('A', 'T', 1, ?1, 0, 60000, 'verifying')",
            params![challenge_json(&challenge).unwrap()],
        )
        .unwrap();
        drop(conn);

        let store = SqliteStore::open(&path).unwrap();
        let attempt = store.attempt("A").unwrap().unwrap();
        assert_eq!(
            (attempt.state, attempt.lease),
            (AttemptState::Pending, None)
        );
        assert!(matches!(
            store.claim_attempt("A", "here", 0, 1_000).unwrap(),
            Claim::Claimed(_)
        ));
    }
}
