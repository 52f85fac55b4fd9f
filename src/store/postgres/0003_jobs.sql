-- checkuser team mode, schema version 3: the web page's jobs (`checkuser serve`), so that every
-- server of the team sees everyone's list. `home` names the server keeping a job's files.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    home TEXT NOT NULL,
    record TEXT NOT NULL
);
