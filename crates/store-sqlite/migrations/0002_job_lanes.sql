-- Job lanes: every job waits in a lane, and a claim takes jobs from one lane only, so processes that
-- share a database (`serve`, and `researchops research` with its private lane) never execute each
-- other's jobs. Existing jobs, and every job the API creates, are in lane 'default'.
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'default'
    CHECK (length(lane) BETWEEN 1 AND 64);

-- The claim's two rounds look jobs up by lane as an equality before the order they pick in, so both
-- stay index-driven: the fair round per (tenant, status, lane), the oldest-first round per (status, lane).
DROP INDEX jobs_due_by_tenant;
DROP INDEX jobs_due;
CREATE INDEX jobs_due_by_tenant ON jobs (tenant_id, status, lane, priority DESC, run_after, id);
CREATE INDEX jobs_due ON jobs (status, lane, priority DESC, run_after, id);
