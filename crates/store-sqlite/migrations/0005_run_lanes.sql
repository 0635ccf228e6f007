-- A run remembers the lane its job was created in, so a retry queues the new job in that lane and
-- only a process of that lane may retry it: a failed `researchops research` run must never be
-- retried into the API's `default` lane, where `serve` would execute it against its own sources.
-- Runs whose job is still in the queue take its lane; the others (API runs, and runs whose job is
-- gone) are in 'default'.
ALTER TABLE runs ADD COLUMN lane TEXT NOT NULL DEFAULT 'default'
    CHECK (length(lane) BETWEEN 1 AND 64);

UPDATE runs SET lane = (SELECT j.lane FROM jobs j WHERE j.run_id = runs.id ORDER BY j.id LIMIT 1)
WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = runs.id);
