-- A snapshot keeps two content-addressed blobs: the bytes as the source served them (`sha256`,
-- `size_bytes`, `mime_type`) and the UTF-8 text extracted from them (`text_sha256`,
-- `text_size_bytes`), which snippet offsets index into. Stage outputs reference these blobs instead of
-- embedding document text. Snapshots taken before this migration were plain text: both blobs are the
-- same one.
ALTER TABLE snapshots ADD COLUMN text_sha256 text;
ALTER TABLE snapshots ADD COLUMN text_size_bytes bigint;
UPDATE snapshots SET text_sha256 = sha256, text_size_bytes = size_bytes;
ALTER TABLE snapshots ALTER COLUMN text_sha256 SET NOT NULL;
ALTER TABLE snapshots ALTER COLUMN text_size_bytes SET NOT NULL;
