-- faceid-server schema for PostgreSQL, version 1: the SQLite schema's tables and columns (its
-- migrations 0001-0003), with PostgreSQL types. Times are ms since the Unix epoch.
CREATE TABLE IF NOT EXISTS tokens (
    biz_token      TEXT PRIMARY KEY,
    rule_id        TEXT NOT NULL,
    mode           TEXT NOT NULL,
    locale         TEXT NOT NULL,
    id_card        TEXT,
    name           TEXT,
    redirect_url   TEXT,
    extra          TEXT,
    issued_at      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    retry_budget   BIGINT NOT NULL,
    attempts_used  BIGINT NOT NULL DEFAULT 0,
    -- open | passed | exhausted
    status         TEXT NOT NULL DEFAULT 'open',
    final_code     BIGINT
);
CREATE INDEX IF NOT EXISTS tokens_issued_at ON tokens (issued_at);

CREATE TABLE IF NOT EXISTS attempts (
    attempt_id       TEXT PRIMARY KEY,
    biz_token        TEXT NOT NULL REFERENCES tokens (biz_token) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    challenge        TEXT NOT NULL,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    -- pending | verifying | done
    state            TEXT NOT NULL DEFAULT 'pending',
    err_code         BIGINT,
    score            DOUBLE PRECISION,
    delay_ms         DOUBLE PRECISION,
    answer           TEXT,
    video_key        TEXT,
    best_frame_key   TEXT,
    best_frame_score DOUBLE PRECISION,
    finished_at      BIGINT,
    -- The light decoder's figures behind the verdict, as JSON (issue #9).
    verdict          TEXT,
    -- The lease of a "verifying" attempt: the claiming instance and until when (issue #13).
    lease_owner      TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX IF NOT EXISTS attempts_token ON attempts (biz_token, seq);
CREATE INDEX IF NOT EXISTS attempts_lease_owner ON attempts (lease_owner) WHERE state = 'verifying';

-- Rate-limit events: one row per counted action under a key (hashed IdCard or browser).
CREATE TABLE IF NOT EXISTS rate_events (
    key  TEXT NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_events_key_at ON rate_events (key, at);

-- One row per rate-limit key: upserting it locks the key, so instances counting under the same
-- key take turns (count, then insert) instead of both seeing room for one more.
CREATE TABLE IF NOT EXISTS rate_keys (
    key      TEXT PRIMARY KEY,
    last_at  BIGINT NOT NULL
);
