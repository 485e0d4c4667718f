-- A version fetched on demand from one of its feed's connectors is a cached
-- copy: listings show it with isLocal false and isCached true. cached_from
-- names the connector it came from; NULL for a version published here (an
-- upload or a pull). Replacing a cached version with an upload makes it local.
ALTER TABLE package_versions ADD COLUMN cached_from TEXT;
