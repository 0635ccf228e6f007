-- A snapshot keeps two content-addressed blobs: the bytes as the source served them (`sha256`,
-- `size_bytes`, `mime_type`) and the UTF-8 text extracted from them (`text_sha256`,
-- `text_size_bytes`), which snippet offsets index into. Stage outputs reference these blobs instead of
-- embedding document text. Snapshots taken before this migration were plain text: both blobs are the
-- same one. (SQLite cannot add NOT NULL to an existing column without a default; the store always
-- writes both columns.)
ALTER TABLE snapshots ADD COLUMN text_sha256 TEXT;
ALTER TABLE snapshots ADD COLUMN text_size_bytes INTEGER;
UPDATE snapshots SET text_sha256 = sha256, text_size_bytes = size_bytes;
