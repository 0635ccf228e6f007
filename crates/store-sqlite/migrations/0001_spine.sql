-- The spine: tenants, projects, runs with their events, the job queue, stage checkpoints and evidence.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); ids are hyphenated UUID text;
-- JSON columns are TEXT. Every tenant-owned table carries tenant_id.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_claimed_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE projects (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT,
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL
);
CREATE INDEX projects_by_activity ON projects (tenant_id, last_activity_at DESC, id DESC);

CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    question            TEXT NOT NULL,
    sources             TEXT NOT NULL,
    options             TEXT NOT NULL,
    status              TEXT NOT NULL,
    current_stage       TEXT,
    checkpoint          TEXT,
    created_at          INTEGER NOT NULL,
    queued_at           INTEGER,
    started_at          INTEGER,
    finished_at         INTEGER,
    cancel_requested_at INTEGER,
    retry_count         INTEGER NOT NULL DEFAULT 0,
    attempt             INTEGER NOT NULL DEFAULT 0,
    failure_reason      TEXT,
    error_code          TEXT,
    finish_reason       TEXT,
    usage               TEXT NOT NULL DEFAULT '{}',
    client_request_id   TEXT,
    request_fingerprint TEXT
);
CREATE INDEX runs_by_project ON runs (tenant_id, project_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX runs_client_request ON runs (tenant_id, client_request_id)
    WHERE client_request_id IS NOT NULL;

CREATE TABLE run_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    ts         INTEGER NOT NULL,
    level      TEXT NOT NULL,
    stage      TEXT,
    event_type TEXT NOT NULL,
    message    TEXT NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    run_id           TEXT REFERENCES runs(id) ON DELETE CASCADE,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after        INTEGER NOT NULL,
    lease_token      TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX jobs_due_by_tenant ON jobs (tenant_id, status, priority DESC, run_after, id);
CREATE INDEX jobs_due ON jobs (status, priority DESC, run_after, id);
CREATE INDEX jobs_leases ON jobs (status, lease_expires_at);
CREATE INDEX jobs_by_run ON jobs (run_id);

CREATE TABLE stage_outputs (
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage      TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    output     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, stage)
);

CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    connector   TEXT NOT NULL,
    external_id TEXT NOT NULL,
    title       TEXT NOT NULL,
    authors     TEXT NOT NULL,
    year        INTEGER,
    doi         TEXT,
    url         TEXT,
    rank        INTEGER NOT NULL,
    score       REAL NOT NULL
);
CREATE INDEX sources_by_run ON sources (run_id, rank);

CREATE TABLE snapshots (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    source_id    TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    sha256       TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    mime_type    TEXT NOT NULL,
    retrieved_at INTEGER NOT NULL
);
CREATE INDEX snapshots_by_source ON snapshots (source_id);

CREATE TABLE snippets (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    source_id   TEXT NOT NULL,
    ord         INTEGER NOT NULL,
    text        TEXT NOT NULL,
    start_byte  INTEGER NOT NULL,
    end_byte    INTEGER NOT NULL
);
CREATE INDEX snippets_by_snapshot ON snippets (snapshot_id, ord);
CREATE INDEX snippets_by_run ON snippets (run_id);

CREATE TABLE claim_map (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    claim_id    TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    ord         INTEGER NOT NULL,
    section     TEXT NOT NULL,
    text        TEXT NOT NULL,
    snippet_ids TEXT NOT NULL,
    support     REAL NOT NULL,
    verdict     TEXT NOT NULL,
    PRIMARY KEY (run_id, claim_id)
);

CREATE TABLE artifacts (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX artifacts_by_run ON artifacts (run_id, name);
