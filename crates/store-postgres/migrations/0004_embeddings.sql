-- The sentence-embedding cache. A vector is a pure function of the model and the text, so rows are
-- keyed by content (`model` id, `text_sha256` of the UTF-8 text) and, like content-addressed blobs,
-- belong to no tenant: there is deliberately no tenant_id. `vector` holds `dim` little-endian f32
-- values; `created_at` is for pruning.
CREATE TABLE embeddings (
    model       text NOT NULL,
    text_sha256 text NOT NULL,
    dim         integer NOT NULL CHECK (dim >= 0),
    vector      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, text_sha256)
);
