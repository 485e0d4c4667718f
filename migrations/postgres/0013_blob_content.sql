-- A small blob's bytes may live in its row rather than in the blob store, so
-- that the commit that stores a small upload's version makes its bytes
-- durable too: one flush per upload instead of a blob-store flush followed by
-- the commit's (see service::blob_bytes). NULL for bytes in the blob store.
-- Readers look here first for blobs of at most 64 KiB.
ALTER TABLE blobs ADD COLUMN content BYTEA;
-- Package bytes are mostly zip archives, already compressed: kept out of line
-- without another round of compression.
ALTER TABLE blobs ALTER COLUMN content SET STORAGE EXTERNAL;
