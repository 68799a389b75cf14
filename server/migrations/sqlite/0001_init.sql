-- faceid-server schema, version 1. Times are ms since the Unix epoch.
CREATE TABLE tokens (
    biz_token      TEXT PRIMARY KEY,
    rule_id        TEXT NOT NULL,
    mode           TEXT NOT NULL,
    locale         TEXT NOT NULL,
    id_card        TEXT,
    name           TEXT,
    redirect_url   TEXT,
    extra          TEXT,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    retry_budget   INTEGER NOT NULL,
    attempts_used  INTEGER NOT NULL DEFAULT 0,
    -- open | passed | exhausted
    status         TEXT NOT NULL DEFAULT 'open',
    final_code     INTEGER
);
CREATE INDEX tokens_issued_at ON tokens (issued_at);

CREATE TABLE attempts (
    attempt_id     TEXT PRIMARY KEY,
    biz_token      TEXT NOT NULL REFERENCES tokens (biz_token) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    challenge      TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    -- pending | verifying | done
    state          TEXT NOT NULL DEFAULT 'pending',
    err_code       INTEGER,
    score          REAL,
    delay_ms       REAL,
    answer         TEXT,
    video_key      TEXT,
    best_frame_key TEXT,
    best_frame_score REAL,
    finished_at    INTEGER
);
CREATE INDEX attempts_token ON attempts (biz_token, seq);

-- Rate-limit events: one row per counted action under a key (hashed IdCard or browser).
CREATE TABLE rate_events (
    key  TEXT NOT NULL,
    at   INTEGER NOT NULL
);
CREATE INDEX rate_events_key_at ON rate_events (key, at);
