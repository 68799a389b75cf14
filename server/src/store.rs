//! Persistent state: tokens, attempts (with their challenges), results and rate-limit events.
//!
//! Handlers talk to [`VerificationStore`]; [`SqliteStore`] is the embedded default. Another backend
//! (PostgreSQL) implements the same trait. Methods block: call them from `spawn_blocking`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::LivenessMode;
use faceid_core::{Locale, ResultCode};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_verdict.sql"),
];
/// How long a writer waits for the database lock before giving up (SQLite busy timeout).
const BUSY_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("the database lock was poisoned by a panic")]
    Poisoned,
    #[error("database file permissions: {0}")]
    Permissions(std::io::Error),
}

/// Where a BizToken's flow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// Attempts may still be made.
    Open,
    /// An attempt passed (code 14 for any further attempt).
    Passed,
    /// The retry budget is spent without a pass (code 16).
    Exhausted,
}

impl TokenStatus {
    fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Open => "open",
            TokenStatus::Passed => "passed",
            TokenStatus::Exhausted => "exhausted",
        }
    }
    fn parse(s: &str) -> Result<TokenStatus, StoreError> {
        match s {
            "open" => Ok(TokenStatus::Open),
            "passed" => Ok(TokenStatus::Passed),
            "exhausted" => Ok(TokenStatus::Exhausted),
            other => Err(StoreError::Corrupt(format!("token status {other:?}"))),
        }
    }
}

/// One BizToken (DetectAuth).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRecord {
    pub biz_token: String,
    pub rule_id: String,
    pub mode: LivenessMode,
    pub locale: Locale,
    pub id_card: Option<String>,
    pub name: Option<String>,
    pub redirect_url: Option<String>,
    pub extra: Option<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub retry_budget: u32,
    pub attempts_used: u32,
    pub status: TokenStatus,
    /// The code the flow ended with (0 passed, else the last attempt's), None while open.
    pub final_code: Option<u32>,
}

impl TokenRecord {
    pub fn retries_left(&self) -> u32 {
        self.retry_budget.saturating_sub(self.attempts_used)
    }
}

/// Where an attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptState {
    /// Challenge issued, no video yet.
    Pending,
    /// A video is being verified.
    Verifying,
    /// Answered (the answer is stored and returned again for repeated uploads).
    Done,
}

impl AttemptState {
    fn as_str(self) -> &'static str {
        match self {
            AttemptState::Pending => "pending",
            AttemptState::Verifying => "verifying",
            AttemptState::Done => "done",
        }
    }
    fn parse(s: &str) -> Result<AttemptState, StoreError> {
        match s {
            "pending" => Ok(AttemptState::Pending),
            "verifying" => Ok(AttemptState::Verifying),
            "done" => Ok(AttemptState::Done),
            other => Err(StoreError::Corrupt(format!("attempt state {other:?}"))),
        }
    }
}

/// One attempt: the challenge the server issued and, once answered, its result.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    pub attempt_id: String,
    pub biz_token: String,
    /// 1-based order within the token.
    pub seq: u32,
    pub challenge: ColourChallenge,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub state: AttemptState,
    pub result: Option<AttemptResult>,
}

/// The stored outcome of an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    pub err_code: u32,
    pub score: Option<f32>,
    pub delay_ms: Option<f32>,
    /// The JSON answer the uploader received (returned unchanged for a repeated upload).
    pub answer_json: String,
    pub video_key: Option<String>,
    pub best_frame_key: Option<String>,
    pub best_frame_score: Option<f32>,
    pub finished_at_ms: i64,
    /// The decoder's figures and the rule that decided, as JSON (None when it did not run).
    pub verdict_json: Option<String>,
}

/// Why an attempt could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptRefusal {
    UnknownToken,
    Finished,
    BudgetSpent,
}

/// The upload's claim on an attempt (idempotency: only the first upload is verified).
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// This upload verifies the attempt (boxed: a record with its result is large).
    Claimed(Box<AttemptRecord>),
    /// Already answered: return this JSON answer again.
    Answered(String),
    /// Another upload of the same attempt is being verified right now.
    Busy,
    Unknown,
}

/// A rate limit: at most `max` counted actions under `key` within `window_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub key: String,
    pub window_ms: i64,
    pub max: u32,
}

/// Storage of tokens, attempts, results and rate-limit counters.
pub trait VerificationStore: Send + Sync {
    fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    fn token(&self, biz_token: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Atomically spends one unit of the token's retry budget and records the attempt.
    fn create_attempt(
        &self,
        biz_token: &str,
        attempt_id: &str,
        challenge: &ColourChallenge,
        issued_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Result<AttemptRecord, AttemptRefusal>, StoreError>;
    fn attempt(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, StoreError>;
    fn attempts_for_token(&self, biz_token: &str) -> Result<Vec<AttemptRecord>, StoreError>;
    /// Marks a pending attempt as being verified by this upload.
    fn claim_attempt(&self, attempt_id: &str) -> Result<Claim, StoreError>;
    /// Gives a claimed attempt back (the upload broke off before a verdict).
    fn release_attempt(&self, attempt_id: &str) -> Result<(), StoreError>;
    /// Stores an attempt's result and updates its token: passed, or exhausted when the budget is
    /// spent. Returns the token after the update.
    fn finish_attempt(
        &self,
        attempt_id: &str,
        result: &AttemptResult,
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// Counts one action under every limit's key unless one of them is already at its maximum.
    /// Returns false (and counts nothing) when a limit is reached.
    fn check_and_count(&self, limits: &[RateLimit], now_ms: i64) -> Result<bool, StoreError>;
    /// Deletes tokens issued before `cutoff_ms` with their attempts, and rate events before
    /// `events_before_ms`; returns the media keys the deleted attempts referenced.
    fn purge(&self, cutoff_ms: i64, events_before_ms: i64) -> Result<Vec<String>, StoreError>;
    /// After a restart: attempts left "verifying" by the previous process become pending again,
    /// so the page's retried upload is verified instead of waiting forever.
    fn recover_interrupted(&self) -> Result<usize, StoreError>;
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

fn mode_str(m: LivenessMode) -> &'static str {
    match m {
        LivenessMode::Digit => "digit",
        LivenessMode::Action => "action",
        LivenessMode::Silent => "silent",
        LivenessMode::Flash => "flash",
        LivenessMode::NearFar => "nearfar",
        LivenessMode::Light => "light",
    }
}

fn parse_mode(s: &str) -> Result<LivenessMode, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| StoreError::Corrupt(format!("liveness mode {s:?}")))
}

const TOKEN_COLUMNS: &str =
    "biz_token, rule_id, mode, locale, id_card, name, redirect_url, extra, issued_at, \
     expires_at, retry_budget, attempts_used, status, final_code";
const ATTEMPT_COLUMNS: &str =
    "attempt_id, biz_token, seq, challenge, issued_at, expires_at, state, err_code, score, \
     delay_ms, answer, video_key, best_frame_key, best_frame_score, finished_at, verdict";

fn token_from_row(row: &Row<'_>) -> Result<Result<TokenRecord, StoreError>, rusqlite::Error> {
    let mode: String = row.get(2)?;
    let locale: String = row.get(3)?;
    let status: String = row.get(12)?;
    let record = (|| {
        Ok(TokenRecord {
            biz_token: row.get(0)?,
            rule_id: row.get(1)?,
            mode: parse_mode(&mode)?,
            locale: Locale::parse(&locale).unwrap_or_default(),
            id_card: row.get(4)?,
            name: row.get(5)?,
            redirect_url: row.get(6)?,
            extra: row.get(7)?,
            issued_at_ms: row.get(8)?,
            expires_at_ms: row.get(9)?,
            retry_budget: row.get(10)?,
            attempts_used: row.get(11)?,
            status: TokenStatus::parse(&status)?,
            final_code: row.get(13)?,
        })
    })();
    Ok(record)
}

fn attempt_from_row(row: &Row<'_>) -> Result<Result<AttemptRecord, StoreError>, rusqlite::Error> {
    let challenge: String = row.get(3)?;
    let state: String = row.get(6)?;
    let err_code: Option<u32> = row.get(7)?;
    let answer: Option<String> = row.get(10)?;
    let result = match (err_code, answer) {
        (Some(err_code), Some(answer_json)) => Some(AttemptResult {
            err_code,
            score: row.get::<_, Option<f64>>(8)?.map(|v| v as f32),
            delay_ms: row.get::<_, Option<f64>>(9)?.map(|v| v as f32),
            answer_json,
            video_key: row.get(11)?,
            best_frame_key: row.get(12)?,
            best_frame_score: row.get::<_, Option<f64>>(13)?.map(|v| v as f32),
            finished_at_ms: row.get::<_, Option<i64>>(14)?.unwrap_or_default(),
            verdict_json: row.get(15)?,
        }),
        _ => None,
    };
    let record = (|| {
        Ok(AttemptRecord {
            attempt_id: row.get(0)?,
            biz_token: row.get(1)?,
            seq: row.get(2)?,
            challenge: serde_json::from_str(&challenge)
                .map_err(|e| StoreError::Corrupt(format!("challenge: {e}")))?,
            issued_at_ms: row.get(4)?,
            expires_at_ms: row.get(5)?,
            state: AttemptState::parse(&state)?,
            result,
        })
    })();
    Ok(record)
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
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?
            .max(0) as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

fn query_token(conn: &Connection, biz_token: &str) -> Result<Option<TokenRecord>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE biz_token = ?1");
    conn.query_row(&sql, params![biz_token], token_from_row)
        .optional()?
        .transpose()
}

fn query_attempt(conn: &Connection, attempt_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
    let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = ?1");
    conn.query_row(&sql, params![attempt_id], attempt_from_row)
        .optional()?
        .transpose()
}

impl VerificationStore for SqliteStore {
    fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
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
                t.final_code
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
        let challenge_json =
            serde_json::to_string(challenge).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let Some(token) = query_token(&tx, biz_token)? else {
            return Ok(Err(AttemptRefusal::UnknownToken));
        };
        match token.status {
            TokenStatus::Passed => return Ok(Err(AttemptRefusal::Finished)),
            TokenStatus::Exhausted => return Ok(Err(AttemptRefusal::BudgetSpent)),
            TokenStatus::Open => {}
        }
        if token.attempts_used >= token.retry_budget {
            return Ok(Err(AttemptRefusal::BudgetSpent));
        }
        let seq = token.attempts_used + 1;
        tx.execute(
            "UPDATE tokens SET attempts_used = ?2 WHERE biz_token = ?1",
            params![biz_token, seq],
        )?;
        tx.execute(
            "INSERT INTO attempts (attempt_id, biz_token, seq, challenge, issued_at, expires_at, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
            params![attempt_id, biz_token, seq, challenge_json, issued_at_ms, expires_at_ms],
        )?;
        tx.commit()?;
        Ok(Ok(AttemptRecord {
            attempt_id: attempt_id.to_string(),
            biz_token: biz_token.to_string(),
            seq,
            challenge: challenge.clone(),
            issued_at_ms,
            expires_at_ms,
            state: AttemptState::Pending,
            result: None,
        }))
    }

    fn attempt(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        let conn = self.lock()?;
        query_attempt(&conn, attempt_id)
    }

    fn attempts_for_token(&self, biz_token: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE biz_token = ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![biz_token], attempt_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    fn claim_attempt(&self, attempt_id: &str) -> Result<Claim, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let Some(attempt) = query_attempt(&tx, attempt_id)? else {
            return Ok(Claim::Unknown);
        };
        let claim = match (attempt.state, &attempt.result) {
            (AttemptState::Done, Some(r)) => Claim::Answered(r.answer_json.clone()),
            (AttemptState::Done, None) => {
                return Err(StoreError::Corrupt(format!(
                    "attempt {attempt_id} done without a result"
                )))
            }
            (AttemptState::Verifying, _) => Claim::Busy,
            (AttemptState::Pending, _) => {
                tx.execute(
                    "UPDATE attempts SET state = 'verifying' WHERE attempt_id = ?1",
                    params![attempt_id],
                )?;
                Claim::Claimed(Box::new(AttemptRecord {
                    state: AttemptState::Verifying,
                    ..attempt
                }))
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    fn release_attempt(&self, attempt_id: &str) -> Result<(), StoreError> {
        self.lock()?.execute(
            "UPDATE attempts SET state = 'pending' WHERE attempt_id = ?1 AND state = 'verifying'",
            params![attempt_id],
        )?;
        Ok(())
    }

    fn finish_attempt(
        &self,
        attempt_id: &str,
        r: &AttemptResult,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let Some(attempt) = query_attempt(&tx, attempt_id)? else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE attempts SET state = ?2, err_code = ?3, score = ?4, delay_ms = ?5, answer = ?6, video_key = ?7, \
             best_frame_key = ?8, best_frame_score = ?9, finished_at = ?10, verdict = ?11 WHERE attempt_id = ?1",
            params![
                attempt_id,
                AttemptState::Done.as_str(),
                r.err_code,
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
        if r.err_code == ResultCode::Passed.code() {
            tx.execute(
                "UPDATE tokens SET status = 'passed', final_code = 0 WHERE biz_token = ?1",
                params![attempt.biz_token],
            )?;
        } else {
            // The flow ends without a pass once the budget is spent and no other attempt is open.
            tx.execute(
                "UPDATE tokens SET status = 'exhausted', final_code = ?2 WHERE biz_token = ?1 AND status = 'open' \
                 AND attempts_used >= retry_budget \
                 AND NOT EXISTS (SELECT 1 FROM attempts WHERE biz_token = ?1 AND state != 'done')",
                params![attempt.biz_token, r.err_code],
            )?;
        }
        let token = query_token(&tx, &attempt.biz_token)?;
        tx.commit()?;
        Ok(token)
    }

    fn check_and_count(&self, limits: &[RateLimit], now_ms: i64) -> Result<bool, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for l in limits {
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM rate_events WHERE key = ?1 AND at > ?2",
                params![l.key, now_ms - l.window_ms],
                |r| r.get(0),
            )?;
            if count >= i64::from(l.max) {
                return Ok(false);
            }
        }
        let mut keys: Vec<&str> = limits.iter().map(|l| l.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            tx.execute(
                "INSERT INTO rate_events (key, at) VALUES (?1, ?2)",
                params![k, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn purge(&self, cutoff_ms: i64, events_before_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut keys = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT a.video_key, a.best_frame_key FROM attempts a JOIN tokens t ON a.biz_token = t.biz_token \
                 WHERE t.issued_at < ?1",
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
            "DELETE FROM attempts WHERE biz_token IN (SELECT biz_token FROM tokens WHERE issued_at < ?1)",
            params![cutoff_ms],
        )?;
        deleted += tx.execute(
            "DELETE FROM tokens WHERE issued_at < ?1",
            params![cutoff_ms],
        )?;
        deleted += tx.execute(
            "DELETE FROM rate_events WHERE at < ?1",
            params![events_before_ms],
        )?;
        tx.commit()?;
        if deleted > 0 {
            // secure_delete zeroed the rows in the new page images, but the WAL still holds the
            // old ones (the rows as inserted): copy everything back and empty the WAL file.
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                tracing::warn!("the WAL checkpoint after a purge was blocked; purged rows stay in the WAL until the next one");
            }
        }
        Ok(keys)
    }

    fn recover_interrupted(&self) -> Result<usize, StoreError> {
        Ok(self.lock()?.execute(
            "UPDATE attempts SET state = 'pending' WHERE state = 'verifying'",
            [],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn token(id: &str, budget: u32, issued: i64) -> TokenRecord {
        TokenRecord {
            biz_token: id.into(),
            rule_id: "1".into(),
            mode: LivenessMode::Light,
            locale: Locale::En,
            id_card: None,
            name: None,
            redirect_url: None,
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

    fn result(code: u32) -> AttemptResult {
        AttemptResult {
            err_code: code,
            score: Some(0.5),
            delay_ms: Some(80.0),
            answer_json: format!("{{\"errCode\":{code}}}"),
            video_key: Some("v1".into()),
            best_frame_key: Some("f1".into()),
            best_frame_score: Some(1.0),
            finished_at_ms: 5,
            verdict_json: Some("{\"rule\":\"passed\"}".into()),
        }
    }

    #[test]
    fn budget_claims_and_results() {
        let s = SqliteStore::in_memory().unwrap();
        s.insert_token(&token("T", 2, 0)).unwrap();
        assert_eq!(s.token("T").unwrap().unwrap(), token("T", 2, 0));
        let a1 = s
            .create_attempt("T", "A1", &challenge(), 1, 60_001)
            .unwrap()
            .unwrap();
        assert_eq!(a1.seq, 1);
        assert_eq!(s.attempt("A1").unwrap().unwrap(), a1);
        s.create_attempt("T", "A2", &challenge(), 2, 60_002)
            .unwrap()
            .unwrap();
        assert_eq!(
            s.create_attempt("T", "A3", &challenge(), 3, 3).unwrap(),
            Err(AttemptRefusal::BudgetSpent)
        );
        assert_eq!(
            s.create_attempt("X", "A4", &challenge(), 3, 3).unwrap(),
            Err(AttemptRefusal::UnknownToken)
        );

        assert!(matches!(s.claim_attempt("A1").unwrap(), Claim::Claimed(_)));
        assert_eq!(s.claim_attempt("A1").unwrap(), Claim::Busy);
        s.release_attempt("A1").unwrap();
        assert!(matches!(s.claim_attempt("A1").unwrap(), Claim::Claimed(_)));
        let t = s.finish_attempt("A1", &result(1002)).unwrap().unwrap();
        // A2 is still open, so the flow has not ended yet.
        assert_eq!(t.status, TokenStatus::Open);
        assert_eq!(
            s.claim_attempt("A1").unwrap(),
            Claim::Answered("{\"errCode\":1002}".into())
        );
        assert!(matches!(s.claim_attempt("A2").unwrap(), Claim::Claimed(_)));
        let t = s.finish_attempt("A2", &result(1210)).unwrap().unwrap();
        assert_eq!(
            (t.status, t.final_code),
            (TokenStatus::Exhausted, Some(1210))
        );
        assert_eq!(s.attempts_for_token("T").unwrap().len(), 2);
    }

    #[test]
    fn pass_finishes_the_token_and_recovery_reopens_claims() {
        let s = SqliteStore::in_memory().unwrap();
        s.insert_token(&token("T", 5, 0)).unwrap();
        s.create_attempt("T", "A1", &challenge(), 1, 2)
            .unwrap()
            .unwrap();
        s.create_attempt("T", "A2", &challenge(), 1, 2)
            .unwrap()
            .unwrap();
        assert!(matches!(s.claim_attempt("A2").unwrap(), Claim::Claimed(_)));
        assert_eq!(s.recover_interrupted().unwrap(), 1);
        assert!(matches!(s.claim_attempt("A2").unwrap(), Claim::Claimed(_)));
        let t = s.finish_attempt("A2", &result(0)).unwrap().unwrap();
        assert_eq!((t.status, t.final_code), (TokenStatus::Passed, Some(0)));
        assert_eq!(
            s.create_attempt("T", "A3", &challenge(), 1, 2).unwrap(),
            Err(AttemptRefusal::Finished)
        );
    }

    #[test]
    fn rate_limits_count_inside_their_window() {
        let s = SqliteStore::in_memory().unwrap();
        let limits = [RateLimit {
            key: "k".into(),
            window_ms: 1_000,
            max: 2,
        }];
        assert!(s.check_and_count(&limits, 0).unwrap());
        assert!(s.check_and_count(&limits, 10).unwrap());
        assert!(!s.check_and_count(&limits, 20).unwrap());
        assert!(s.check_and_count(&limits, 1_001).unwrap());
    }

    #[test]
    fn purge_removes_old_tokens_and_returns_media() {
        let s = SqliteStore::in_memory().unwrap();
        s.insert_token(&token("OLD", 5, 0)).unwrap();
        s.insert_token(&token("NEW", 5, 10_000)).unwrap();
        s.create_attempt("OLD", "A1", &challenge(), 1, 2)
            .unwrap()
            .unwrap();
        s.claim_attempt("A1").unwrap();
        s.finish_attempt("A1", &result(0)).unwrap();
        let keys = s.purge(5_000, 0).unwrap();
        assert_eq!(keys, vec!["v1".to_string(), "f1".to_string()]);
        assert!(s.token("OLD").unwrap().is_none());
        assert!(s.attempt("A1").unwrap().is_none());
        assert!(s.token("NEW").unwrap().is_some());
    }

    #[test]
    fn reopening_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        SqliteStore::open(&path)
            .unwrap()
            .insert_token(&token("T", 5, 0))
            .unwrap();
        assert!(SqliteStore::open(&path)
            .unwrap()
            .token("T")
            .unwrap()
            .is_some());
    }
}
