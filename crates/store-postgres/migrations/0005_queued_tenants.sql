-- The claim's skip scan over the tenants that have queued jobs walks this index, one probe per such
-- tenant, whatever the lane (the fair round then looks the tenant's first due job up in its lane
-- on `jobs_due_by_tenant`). With `lane` in the skip scan, on a table not yet analyzed (a fresh
-- database filled at once) the planner estimated one row for the lane equality, took `jobs_due` and
-- sorted all of it on every step: 37 ms instead of 10 ms per claim at 20,000 queued jobs.
CREATE INDEX jobs_queued_tenants ON jobs (tenant_id) WHERE status = 'queued';
