-- The spine: tenants, projects, runs with their events, the job queue, stage checkpoints and evidence.
-- Ids are uuid, times timestamptz (microseconds), JSON is jsonb. Every tenant-owned table carries
-- tenant_id. Keyset pagination orders by whole milliseconds (the cursor format `<ms>_<uuid>` is shared
-- with SQLite), so the two listed tables keep a generated millisecond column that their index covers.

CREATE TABLE tenants (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Claim fairness: the tenant served longest ago is served first.
    last_claimed_at timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX tenants_by_last_claim ON tenants (last_claimed_at, id);

CREATE TABLE projects (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             text NOT NULL,
    description      text,
    created_at       timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL,
    last_activity_ms bigint GENERATED ALWAYS AS
        (floor(extract(epoch FROM (last_activity_at AT TIME ZONE 'UTC')) * 1000)::bigint) STORED
);
CREATE INDEX projects_by_activity ON projects (tenant_id, last_activity_ms DESC, id DESC);

CREATE TABLE runs (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id          uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    question            text NOT NULL,
    sources             jsonb NOT NULL,
    options             jsonb NOT NULL,
    status              text NOT NULL CHECK (status IN
        ('created', 'queued', 'running', 'succeeded', 'failed', 'canceled', 'blocked')),
    current_stage       text,
    checkpoint          text,
    created_at          timestamptz NOT NULL,
    created_ms          bigint GENERATED ALWAYS AS
        (floor(extract(epoch FROM (created_at AT TIME ZONE 'UTC')) * 1000)::bigint) STORED,
    queued_at           timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    cancel_requested_at timestamptz,
    retry_count         bigint NOT NULL DEFAULT 0,
    attempt             bigint NOT NULL DEFAULT 0,
    failure_reason      text,
    error_code          text,
    finish_reason       text,
    usage               jsonb NOT NULL DEFAULT '{}',
    client_request_id   text,
    request_fingerprint text
);
CREATE INDEX runs_by_project ON runs (tenant_id, project_id, created_ms DESC, id DESC);
CREATE INDEX runs_by_project_fk ON runs (project_id);
CREATE UNIQUE INDEX runs_client_request ON runs (tenant_id, client_request_id)
    WHERE client_request_id IS NOT NULL;

-- Ids are assigned while the run row is locked (see the crate docs), so within a run commit order is
-- id order.
CREATE TABLE run_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ts         timestamptz NOT NULL,
    level      text NOT NULL,
    stage      text,
    event_type text NOT NULL,
    message    text NOT NULL,
    payload    jsonb NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind             text NOT NULL,
    run_id           uuid REFERENCES runs (id) ON DELETE CASCADE,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'failed')),
    priority         integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    run_after        timestamptz NOT NULL,
    lease_token      uuid,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- Due jobs, per tenant (the fair round) and overall (the oldest-first round).
CREATE INDEX jobs_due_by_tenant ON jobs (tenant_id, priority DESC, run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_due ON jobs (priority DESC, run_after, id) WHERE status = 'queued';
-- Leases to rescue.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_by_run ON jobs (run_id);
CREATE INDEX jobs_by_tenant ON jobs (tenant_id);

CREATE TABLE stage_outputs (
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stage      text NOT NULL,
    tenant_id  uuid NOT NULL,
    output     jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, stage)
);

CREATE TABLE sources (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    connector   text NOT NULL,
    external_id text NOT NULL,
    title       text NOT NULL,
    authors     jsonb NOT NULL,
    year        integer,
    doi         text,
    url         text,
    rank        integer NOT NULL,
    score       double precision NOT NULL
);
CREATE INDEX sources_by_run ON sources (run_id, rank);

CREATE TABLE snapshots (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    source_id    uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    sha256       text NOT NULL,
    size_bytes   bigint NOT NULL,
    mime_type    text NOT NULL,
    retrieved_at timestamptz NOT NULL
);
CREATE INDEX snapshots_by_source ON snapshots (source_id);

CREATE TABLE snippets (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    snapshot_id uuid NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    source_id   uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    ord         integer NOT NULL,
    text        text NOT NULL,
    start_byte  bigint NOT NULL,
    end_byte    bigint NOT NULL
);
CREATE INDEX snippets_by_snapshot ON snippets (snapshot_id, ord);
CREATE INDEX snippets_by_run ON snippets (run_id);
CREATE INDEX snippets_by_source ON snippets (source_id);

CREATE TABLE claim_map (
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    claim_id    text NOT NULL,
    tenant_id   uuid NOT NULL,
    ord         integer NOT NULL,
    section     text NOT NULL,
    text        text NOT NULL,
    snippet_ids jsonb NOT NULL,
    support     double precision NOT NULL,
    verdict     text NOT NULL,
    PRIMARY KEY (run_id, claim_id)
);

CREATE TABLE artifacts (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name       text NOT NULL,
    kind       text NOT NULL,
    mime_type  text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256     text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX artifacts_by_run ON artifacts (run_id, name);
