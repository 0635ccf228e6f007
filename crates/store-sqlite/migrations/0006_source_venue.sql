-- A source's venue (journal, proceedings, repository) and arXiv identifier, as its connector found
-- them, so the evidence API and the bibliography can read them from the source row. NULL when
-- unknown, and for sources stored before this migration (their stage outputs still carry them).
ALTER TABLE sources ADD COLUMN venue TEXT;
ALTER TABLE sources ADD COLUMN arxiv_id TEXT;
