//! Persistent state: tokens, attempts (with their challenges), results and rate-limit events.
//!
//! Handlers talk to [`VerificationStore`]; [`SqliteStore`] is the embedded default (one machine),
//! [`PostgresStore`] lets several instances share one database. Both pass the same contract suite
//! (`server/tests/store_contract.rs`). Methods block: call them from `spawn_blocking` (the
//! PostgreSQL client runs its own small runtime and must not be driven from an async thread).
//!
//! Attempts are verified under a *lease*: the instance that claims an attempt is recorded as its
//! owner until the lease expires. Only the owner finishes or releases it; once the lease expired,
//! any instance may claim it again (its owner died or hung). While it verifies, the owner renews
//! its lease ([`VerificationStore::renew_lease`]), so only an owner that stopped renewing loses it.
//! Nothing resets another instance's work.

mod postgres;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use faceid_core::challenge::ColourChallenge;
use faceid_core::protocol::LivenessMode;
use faceid_core::{Locale, ResultCode};

pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

/// Why the store failed. Backend-neutral: a backend's own error becomes a message here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, or every connection to it stayed busy.
    #[error("database unavailable ({backend}): {message}")]
    Unavailable {
        backend: &'static str,
        message: String,
    },
    /// A statement failed.
    #[error("database ({backend}): {message}")]
    Query {
        backend: &'static str,
        message: String,
    },
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("the database lock was poisoned by a panic")]
    Poisoned,
    #[error("database file permissions: {0}")]
    Permissions(std::io::Error),
    #[error("database URL {url:?}: {why}")]
    Url { url: String, why: &'static str },
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
    /// The stored name back (one table: [`TokenStatus::as_str`]).
    fn parse(s: &str) -> Result<TokenStatus, StoreError> {
        [
            TokenStatus::Open,
            TokenStatus::Passed,
            TokenStatus::Exhausted,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("token status {s:?}")))
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
    /// The code the flow ended with (passed, else the last attempt's), None while open.
    pub final_code: Option<ResultCode>,
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
    /// A video is being verified (under a lease, see [`AttemptLease`]).
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
    /// The stored name back (one table: [`AttemptState::as_str`]).
    fn parse(s: &str) -> Result<AttemptState, StoreError> {
        [
            AttemptState::Pending,
            AttemptState::Verifying,
            AttemptState::Done,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("attempt state {s:?}")))
    }
}

/// Who verifies an attempt, and until when nobody else may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptLease {
    /// The instance id (`--instance-id`) of the claimant.
    pub owner: String,
    pub expires_at_ms: i64,
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
    /// Present while the attempt is being verified.
    pub lease: Option<AttemptLease>,
    pub result: Option<AttemptResult>,
}

impl AttemptRecord {
    /// Whether another upload may claim this attempt at `now_ms`: never claimed, or its
    /// claimant's lease ran out. A record left `verifying` without a lease (written by a version
    /// before leases) counts as expired.
    pub fn claimable_at(&self, now_ms: i64) -> bool {
        match self.state {
            AttemptState::Pending => true,
            AttemptState::Verifying => self
                .lease
                .as_ref()
                .is_none_or(|l| l.expires_at_ms <= now_ms),
            AttemptState::Done => false,
        }
    }
}

/// The stored outcome of an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptResult {
    pub err_code: ResultCode,
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
    /// Another upload of the same attempt is being verified right now (its lease holds).
    Busy,
    Unknown,
}

/// Why a result was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishRefusal {
    UnknownAttempt,
    /// The caller no longer holds the attempt's lease: it expired and another instance claimed
    /// the attempt (or it was answered meanwhile). That instance's answer is the one that counts.
    LeaseLost,
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
    /// Claims an attempt for verification by `owner` until `lease_expires_at_ms`: a pending
    /// attempt, or one whose previous lease expired by `now_ms`.
    fn claim_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        now_ms: i64,
        lease_expires_at_ms: i64,
    ) -> Result<Claim, StoreError>;
    /// Extends the lease `owner` holds on an attempt it is verifying to `lease_expires_at_ms` (the
    /// verifying instance does so while it works, so a verification longer than one lease is not
    /// taken over). Returns false when `owner` holds it no longer: it was taken over after the
    /// lease ran out, or answered. That instance's result is then not stored
    /// ([`VerificationStore::finish_attempt`] refuses it).
    fn renew_lease(
        &self,
        attempt_id: &str,
        owner: &str,
        lease_expires_at_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives a claimed attempt back (the upload broke off before a verdict). Only its lease's
    /// owner can; returns whether it was given back.
    fn release_attempt(&self, attempt_id: &str, owner: &str) -> Result<bool, StoreError>;
    /// Stores the result of an attempt `owner` holds the lease of, and updates its token: passed,
    /// or exhausted when the budget is spent. Returns the token after the update.
    fn finish_attempt(
        &self,
        attempt_id: &str,
        owner: &str,
        result: &AttemptResult,
    ) -> Result<Result<TokenRecord, FinishRefusal>, StoreError>;
    /// Counts one action under every limit's key unless one of them is already at its maximum.
    /// Returns false (and counts nothing) when a limit is reached. Atomic across instances.
    fn check_and_count(&self, limits: &[RateLimit], now_ms: i64) -> Result<bool, StoreError>;
    /// Deletes tokens issued before `cutoff_ms` with their attempts, and rate events before
    /// `events_before_ms`; returns the media keys the deleted attempts referenced (each key to
    /// exactly one caller, however many instances purge at once).
    fn purge(&self, cutoff_ms: i64, events_before_ms: i64) -> Result<Vec<String>, StoreError>;
    /// At start-up: leases `owner` held in a previous run of this instance are given back, so the
    /// page's retried upload is verified at once instead of after the lease expires. Other
    /// instances' leases are left alone. Returns how many were given back.
    fn release_leases_of(&self, owner: &str) -> Result<usize, StoreError>;
    /// Readiness (`/readyz`): a trivial query the database must answer.
    fn ping(&self) -> Result<(), StoreError>;
}

/// Which database to use (`--database-url`).
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: the embedded database file.
    Sqlite(PathBuf),
    /// `postgres://user[:password]@host[:port]/database` (or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let refused = |why| StoreError::Url {
            url: redact_password(url),
            why,
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(refused(
                    "sqlite:// needs a file path, e.g. sqlite://data/faceid.sqlite",
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Checked now, so a typo stops the server at start-up with this message.
            url.parse::<::postgres::Config>()
                .map_err(|_| refused("not a PostgreSQL connection URL"))?;
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        Err(refused("must start with sqlite:// or postgres://"))
    }

    /// Opens the database (creating and migrating it as needed).
    pub fn open(&self) -> Result<Arc<dyn VerificationStore>, StoreError> {
        Ok(match self {
            DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            DatabaseUrl::Postgres(url) => Arc::new(PostgresStore::connect(url)?),
        })
    }
}

/// Shown in logs and errors without the password.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
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

/// Column lists both schemas share (the row readers below depend on this order).
const TOKEN_COLUMNS: &str =
    "biz_token, rule_id, mode, locale, id_card, name, redirect_url, extra, issued_at, \
     expires_at, retry_budget, attempts_used, status, final_code";
const ATTEMPT_COLUMNS: &str =
    "attempt_id, biz_token, seq, challenge, issued_at, expires_at, state, err_code, score, \
     delay_ms, answer, video_key, best_frame_key, best_frame_score, finished_at, verdict, \
     lease_owner, lease_expires_at";

/// Statements both backends run as written here, with SQLite's numbered `?N` placeholders (the
/// PostgreSQL backend turns them into its `$N`): one text, so one meaning, for both.
mod sql {
    pub const SPEND_BUDGET: &str = "UPDATE tokens SET attempts_used = ?2 WHERE biz_token = ?1";
    pub const INSERT_ATTEMPT: &str =
        "INSERT INTO attempts (attempt_id, biz_token, seq, challenge, issued_at, expires_at, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')";
    pub const TAKE_LEASE: &str =
        "UPDATE attempts SET state = 'verifying', lease_owner = ?2, lease_expires_at = ?3 \
         WHERE attempt_id = ?1";
    pub const RENEW_LEASE: &str = "UPDATE attempts SET lease_expires_at = ?3 \
         WHERE attempt_id = ?1 AND state = 'verifying' AND lease_owner = ?2";
    pub const RELEASE_ATTEMPT: &str =
        "UPDATE attempts SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL \
         WHERE attempt_id = ?1 AND state = 'verifying' AND lease_owner = ?2";
    pub const RELEASE_LEASES_OF: &str =
        "UPDATE attempts SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL \
         WHERE state = 'verifying' AND lease_owner = ?1";
    /// Parameters: attempt id, 'done', then the result's fields in this order.
    pub const STORE_RESULT: &str =
        "UPDATE attempts SET state = ?2, err_code = ?3, score = ?4, delay_ms = ?5, answer = ?6, \
         video_key = ?7, best_frame_key = ?8, best_frame_score = ?9, finished_at = ?10, \
         verdict = ?11, lease_owner = NULL, lease_expires_at = NULL WHERE attempt_id = ?1";
    pub const TOKEN_PASSED: &str =
        "UPDATE tokens SET status = 'passed', final_code = 0 WHERE biz_token = ?1";
    /// The flow ends without a pass once the budget is spent and no other attempt is open.
    pub const TOKEN_EXHAUSTED: &str =
        "UPDATE tokens SET status = 'exhausted', final_code = ?2 WHERE biz_token = ?1 \
         AND status = 'open' AND attempts_used >= retry_budget \
         AND NOT EXISTS (SELECT 1 FROM attempts WHERE biz_token = ?1 AND state != 'done')";
    pub const COUNT_RATE_EVENTS: &str =
        "SELECT COUNT(*) FROM rate_events WHERE key = ?1 AND at > ?2";
    pub const INSERT_RATE_EVENT: &str = "INSERT INTO rate_events (key, at) VALUES (?1, ?2)";
    pub const DELETE_RATE_EVENTS: &str = "DELETE FROM rate_events WHERE at < ?1";

    use super::{ATTEMPT_COLUMNS, TOKEN_COLUMNS};

    pub fn insert_token() -> String {
        format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        )
    }
    pub fn token_by_id() -> String {
        format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE biz_token = ?1")
    }
    pub fn attempt_by_id() -> String {
        format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = ?1")
    }
    pub fn attempts_of_token() -> String {
        format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE biz_token = ?1 ORDER BY seq")
    }
}

/// A token row as both backends store it, before its text columns are parsed.
struct StoredToken {
    biz_token: String,
    rule_id: String,
    mode: String,
    locale: String,
    id_card: Option<String>,
    name: Option<String>,
    redirect_url: Option<String>,
    extra: Option<String>,
    issued_at: i64,
    expires_at: i64,
    retry_budget: i64,
    attempts_used: i64,
    status: String,
    final_code: Option<i64>,
}

fn stored_u32(what: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

fn stored_code(what: &str, v: i64) -> Result<ResultCode, StoreError> {
    ResultCode::from_code(stored_u32(what, v)?)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} {v} is no result code")))
}

impl StoredToken {
    fn into_record(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            mode: parse_mode(&self.mode)?,
            locale: Locale::parse(&self.locale).unwrap_or_default(),
            retry_budget: stored_u32("retry budget", self.retry_budget)?,
            attempts_used: stored_u32("attempts used", self.attempts_used)?,
            status: TokenStatus::parse(&self.status)?,
            final_code: self
                .final_code
                .map(|c| stored_code("final code", c))
                .transpose()?,
            biz_token: self.biz_token,
            rule_id: self.rule_id,
            id_card: self.id_card,
            name: self.name,
            redirect_url: self.redirect_url,
            extra: self.extra,
            issued_at_ms: self.issued_at,
            expires_at_ms: self.expires_at,
        })
    }
}

/// An attempt row as both backends store it (ATTEMPT_COLUMNS), before parsing.
struct StoredAttempt {
    attempt_id: String,
    biz_token: String,
    seq: i64,
    challenge: String,
    issued_at: i64,
    expires_at: i64,
    state: String,
    err_code: Option<i64>,
    score: Option<f64>,
    delay_ms: Option<f64>,
    answer: Option<String>,
    video_key: Option<String>,
    best_frame_key: Option<String>,
    best_frame_score: Option<f64>,
    finished_at: Option<i64>,
    verdict: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
}

impl StoredAttempt {
    fn into_record(self) -> Result<AttemptRecord, StoreError> {
        let result = match (self.err_code, self.answer) {
            (Some(err_code), Some(answer_json)) => Some(AttemptResult {
                err_code: stored_code("result code", err_code)?,
                score: self.score.map(|v| v as f32),
                delay_ms: self.delay_ms.map(|v| v as f32),
                answer_json,
                video_key: self.video_key,
                best_frame_key: self.best_frame_key,
                best_frame_score: self.best_frame_score.map(|v| v as f32),
                finished_at_ms: self.finished_at.unwrap_or_default(),
                verdict_json: self.verdict,
            }),
            _ => None,
        };
        let state = AttemptState::parse(&self.state)?;
        let lease = match (state, self.lease_owner, self.lease_expires_at) {
            (AttemptState::Verifying, Some(owner), Some(expires_at_ms)) => Some(AttemptLease {
                owner,
                expires_at_ms,
            }),
            _ => None,
        };
        Ok(AttemptRecord {
            seq: stored_u32("attempt seq", self.seq)?,
            challenge: serde_json::from_str(&self.challenge)
                .map_err(|e| StoreError::Corrupt(format!("challenge: {e}")))?,
            attempt_id: self.attempt_id,
            biz_token: self.biz_token,
            issued_at_ms: self.issued_at,
            expires_at_ms: self.expires_at,
            state,
            lease,
            result,
        })
    }
}

/// The seq of the next attempt of `token`, or why there is none (its budget, its end).
fn next_attempt_seq(token: Option<&TokenRecord>) -> Result<u32, AttemptRefusal> {
    let token = token.ok_or(AttemptRefusal::UnknownToken)?;
    match token.status {
        TokenStatus::Passed => Err(AttemptRefusal::Finished),
        TokenStatus::Exhausted => Err(AttemptRefusal::BudgetSpent),
        TokenStatus::Open if token.attempts_used >= token.retry_budget => {
            Err(AttemptRefusal::BudgetSpent)
        }
        TokenStatus::Open => Ok(token.attempts_used + 1),
    }
}

impl AttemptRecord {
    /// A new attempt as [`VerificationStore::create_attempt`] records it: pending, no lease.
    fn issued(
        attempt_id: &str,
        biz_token: &str,
        seq: u32,
        challenge: &ColourChallenge,
        issued_at_ms: i64,
        expires_at_ms: i64,
    ) -> AttemptRecord {
        AttemptRecord {
            attempt_id: attempt_id.to_string(),
            biz_token: biz_token.to_string(),
            seq,
            challenge: challenge.clone(),
            issued_at_ms,
            expires_at_ms,
            state: AttemptState::Pending,
            lease: None,
            result: None,
        }
    }
}

fn challenge_json(challenge: &ColourChallenge) -> Result<String, StoreError> {
    serde_json::to_string(challenge).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What a claim does with the attempt as read (locked) inside the claiming transaction.
enum ClaimStep {
    /// Answer with this claim and change nothing.
    Answer(Claim),
    /// Record the lease and answer `Claimed` with this record.
    Take(Box<AttemptRecord>),
}

/// The claim decision both backends share: answered → its answer; held by a live lease → busy;
/// pending or expired → taken by `owner` until `lease_expires_at_ms`.
fn claim_step(
    attempt: Option<AttemptRecord>,
    owner: &str,
    now_ms: i64,
    lease_expires_at_ms: i64,
) -> Result<ClaimStep, StoreError> {
    let Some(attempt) = attempt else {
        return Ok(ClaimStep::Answer(Claim::Unknown));
    };
    if attempt.state == AttemptState::Done {
        return match attempt.result {
            Some(r) => Ok(ClaimStep::Answer(Claim::Answered(r.answer_json))),
            None => Err(StoreError::Corrupt(format!(
                "attempt {} done without a result",
                attempt.attempt_id
            ))),
        };
    }
    if !attempt.claimable_at(now_ms) {
        return Ok(ClaimStep::Answer(Claim::Busy));
    }
    Ok(ClaimStep::Take(Box::new(AttemptRecord {
        state: AttemptState::Verifying,
        lease: Some(AttemptLease {
            owner: owner.to_string(),
            expires_at_ms: lease_expires_at_ms,
        }),
        ..attempt
    })))
}

/// The attempt `owner` may store a result for, as read (locked) inside the finishing transaction.
fn may_finish(attempt: Option<AttemptRecord>, owner: &str) -> Result<AttemptRecord, FinishRefusal> {
    let attempt = attempt.ok_or(FinishRefusal::UnknownAttempt)?;
    match (&attempt.state, &attempt.lease) {
        (AttemptState::Verifying, Some(lease)) if lease.owner == owner => Ok(attempt),
        _ => Err(FinishRefusal::LeaseLost),
    }
}

/// The keys a counted action is recorded under: each once, in one order (PostgreSQL locks them in
/// this order, so two instances never wait on each other's keys crosswise).
fn distinct_keys(limits: &[RateLimit]) -> Vec<&str> {
    let mut keys: Vec<&str> = limits.iter().map(|l| l.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_or_say_why_not() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/faceid.sqlite").unwrap(),
            DatabaseUrl::Sqlite("data/faceid.sqlite".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/faceid.sqlite").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/faceid.sqlite".into())
        );
        let pg = DatabaseUrl::parse("postgres://faceid:s3cret@db.internal:5433/faceid").unwrap();
        assert!(matches!(pg, DatabaseUrl::Postgres(_)));
        assert_eq!(
            pg.to_string(),
            "postgres://faceid:***@db.internal:5433/faceid"
        );
        for bad in [
            "sqlite://",
            "mysql://x@y/z",
            "data/faceid.sqlite",
            "postgres://u@h:notaport/d",
        ] {
            let e = DatabaseUrl::parse(bad).unwrap_err();
            assert!(matches!(e, StoreError::Url { .. }), "{bad}: {e}");
        }
        let e = DatabaseUrl::parse("postgresql://u:pw@h:notaport/d").unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
