-- Lower-cased title and description of each version, for search to narrow
-- candidates without reading whole manifests. Filled on upload; backfilled here.
ALTER TABLE package_versions ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE package_versions SET search_text = LOWER(
    COALESCE(json_extract(manifest_json, '$.title'), '') || ' ' ||
    COALESCE(json_extract(manifest_json, '$.description'), ''));
