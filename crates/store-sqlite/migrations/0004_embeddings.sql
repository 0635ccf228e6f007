-- The sentence-embedding cache. A vector is a pure function of the model and the text, so rows are
-- keyed by content (`model` id, `text_sha256` of the UTF-8 text) and, like content-addressed blobs,
-- belong to no tenant: there is deliberately no tenant_id. `vector` holds `dim` little-endian f32
-- values; `created_at` (ms since the epoch) is for pruning.
CREATE TABLE embeddings (
    model       TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim         INTEGER NOT NULL,
    vector      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (model, text_sha256)
) WITHOUT ROWID;
