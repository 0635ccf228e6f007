-- Job lanes: every job waits in a lane, and a claim takes jobs from one lane only, so processes that
-- share a database (`serve`, and `researchops research` with its private lane) never execute each
-- other's jobs. Existing jobs, and every job the API creates, are in lane 'default'. Adding a column
-- with a constant default rewrites no rows.
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'default'
    CHECK (length(lane) BETWEEN 1 AND 64);

-- The claim looks jobs up by lane as an equality before the order it picks in, so every step stays
-- index-driven: the skip scan over queued tenants and the fair round on (lane, tenant, ...), the
-- oldest-first round on (lane, priority, ...). Both stay partial on queued jobs.
DROP INDEX jobs_due_by_tenant;
DROP INDEX jobs_due;
CREATE INDEX jobs_due_by_tenant ON jobs (lane, tenant_id, priority DESC, run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_due ON jobs (lane, priority DESC, run_after, id) WHERE status = 'queued';
