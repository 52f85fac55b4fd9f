-- checkuser team mode, schema version 1. Applied once, in a transaction, under an advisory lock.
CREATE TABLE IF NOT EXISTS answers (
    host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL,
    result TEXT NOT NULL, status TEXT, uplimit TEXT,
    error_code TEXT, error_msg TEXT, http_status INTEGER, request_id TEXT,
    checked_at BIGINT NOT NULL,
    prev_result TEXT, prev_checked_at BIGINT,
    change_unreported BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (host, partner, api, kind, key)
);
CREATE INDEX IF NOT EXISTS answers_checked_at ON answers (checked_at);
-- One GCRA bucket per scope: the theoretical arrival time of the next request.
CREATE TABLE IF NOT EXISTS quota (
    host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
    tat TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (host, partner, api)
);
-- The runs now active, with their --rate (the smallest one paces the scope).
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    machine TEXT NOT NULL, pid INTEGER NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    heartbeat TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- Keys being asked: a lease, renewed while the run lives.
CREATE TABLE IF NOT EXISTS claims (
    host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
    kind TEXT NOT NULL, key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (host, partner, api, kind, key)
);
CREATE INDEX IF NOT EXISTS claims_run ON claims (run_id);
