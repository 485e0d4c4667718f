//! Listing a feed: its versions grouped by package (with limits, offsets and
//! a cheap text prefilter for search), its groups, and its counts.
//!
//! Search filters on package names and on each version's title and
//! description containing the term. On `PostgreSQL` that is `LIKE '%term%'`,
//! a scan of every version (66 ms at 10,000 packages) unless trigram indexes
//! serve it: [`prepare_trigram_indexes`] makes them when the `pg_trgm`
//! extension can be had, and says what is lost when it cannot. `SQLite`
//! scans the feed's packages with `instr`, a plain substring search (its
//! `LIKE` matcher folds case and decodes UTF-8 at every position; the texts
//! are lower-cased already), reading each package's versions' texts from an
//! index that holds them (migration 0009) rather than from the wide rows.

use super::packages::{VersionRow, select_versions};
use super::{Backend, Db, with_pool};

/// Which versions of a feed to list. `None` filters nothing.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    pub group_lower: Option<String>,
    pub name_lower: Option<String>,
    /// Most packages to include (not versions), in group/name order.
    pub package_limit: Option<i64>,
    /// Packages to skip first, in the same order (for pages of a listing).
    pub package_offset: Option<i64>,
    /// Most versions to include, in the order listed.
    pub version_limit: Option<i64>,
    /// Only packages whose name or some version's title or description
    /// contains this lower-cased text: a cheap superset for search. It must
    /// not hold `%`, `_` or `\\` (`PostgreSQL` matches it with `LIKE`).
    pub contains: Option<String>,
}

/// Lists versions of a feed, grouped by package (group, name), each package's
/// versions highest first.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_versions(
    db: &Db,
    feed_id: i64,
    filter: &VersionFilter,
) -> Result<Vec<VersionRow>, sqlx::Error> {
    // Two statements rather than `$n IS NULL OR ...` on the text filter, so
    // PostgreSQL's cached plan for a listing is not the one for a search.
    const LISTING: &str = concat!(
        select_versions!(),
        "WHERE v.package_id IN (SELECT id FROM packages WHERE feed_id = $1 \
           AND ($2 IS NULL OR group_lower = $2) AND ($3 IS NULL OR name_lower = $3) \
           AND EXISTS (SELECT 1 FROM package_versions e WHERE e.package_id = packages.id) \
           ORDER BY group_lower, name_lower LIMIT $4 OFFSET $6) \
         ORDER BY p.group_lower, p.name_lower, v.precedence_key DESC LIMIT $5"
    );
    const SEARCH: &str = concat!(
        select_versions!(),
        "WHERE v.package_id IN (SELECT id FROM packages WHERE feed_id = $1 \
           AND ($2 IS NULL OR group_lower = $2) AND ($3 IS NULL OR name_lower = $3) \
           AND EXISTS (SELECT 1 FROM package_versions e WHERE e.package_id = packages.id) \
           AND (name_lower LIKE $7 OR id IN (SELECT package_id FROM package_versions \
                WHERE search_text LIKE $7)) \
           ORDER BY group_lower, name_lower LIMIT $4 OFFSET $6) \
         ORDER BY p.group_lower, p.name_lower, v.precedence_key DESC LIMIT $5"
    );
    // SQLite runs `id IN (subquery)` by scanning every version in the
    // database (230 ms with a million versions in another feed); a
    // correlated EXISTS looks only at this feed's packages' versions.
    // PostgreSQL keeps the IN form: one trigram index scan, hashed. A
    // version whose text matches shows the package has versions, so only a
    // package matched by name needs the second look.
    const SEARCH_SQLITE: &str = concat!(
        select_versions!(),
        "WHERE v.package_id IN (SELECT id FROM packages WHERE feed_id = $1 \
           AND ($2 IS NULL OR group_lower = $2) AND ($3 IS NULL OR name_lower = $3) \
           AND (EXISTS (SELECT 1 FROM package_versions s \
                  WHERE s.package_id = packages.id AND instr(s.search_text, $7) > 0) \
                OR (instr(name_lower, $7) > 0 AND EXISTS (SELECT 1 FROM package_versions e \
                  WHERE e.package_id = packages.id))) \
           ORDER BY group_lower, name_lower LIMIT $4 OFFSET $6) \
         ORDER BY p.group_lower, p.name_lower, v.precedence_key DESC LIMIT $5"
    );
    let sql = match (filter.contains.is_some(), db.backend()) {
        (false, _) => LISTING,
        (true, Backend::Sqlite) => SEARCH_SQLITE,
        (true, Backend::Postgres) => SEARCH,
    };
    with_pool!(db, |pool| {
        let mut query = sqlx::query_as::<_, VersionRow>(sql)
            .bind(feed_id)
            .bind(filter.group_lower.as_deref())
            .bind(filter.name_lower.as_deref())
            .bind(filter.package_limit.unwrap_or(i64::MAX))
            .bind(filter.version_limit.unwrap_or(i64::MAX))
            .bind(filter.package_offset.unwrap_or(0));
        query = match (&filter.contains, db.backend()) {
            (None, _) => query,
            (Some(text), Backend::Sqlite) => query.bind(text.as_str()),
            (Some(text), Backend::Postgres) => query.bind(format!("%{text}%")),
        };
        query.fetch_all(pool).await
    })
}

/// The groups of a feed's packages that have versions, in order (the empty
/// group first when it has any).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn groups_in_feed(db: &Db, feed_id: i64) -> Result<Vec<String>, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, String>(
            "SELECT MIN(group_name) FROM packages p WHERE feed_id = $1 \
             AND EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = p.id) \
             GROUP BY group_lower ORDER BY group_lower",
        )
        .bind(feed_id)
        .fetch_all(pool)
        .await
    })
}

/// Numbers of packages and of versions in a feed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count_in_feed(db: &Db, feed_id: i64) -> Result<(i64, i64), sqlx::Error> {
    with_pool!(db, |pool| {
        // Driven from the feed's packages: counting from the versions side
        // read every version in the database (SQLite: 114 ms with a
        // million versions in another feed; 9 ms this way).
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT COUNT(*) FROM packages p WHERE p.feed_id = $1 \
                     AND EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = p.id)), \
                    (SELECT COUNT(*) FROM packages p JOIN package_versions v ON v.package_id = p.id \
                     WHERE p.feed_id = $1)",
        )
        .bind(feed_id)
        .fetch_one(pool)
        .await
    })
}

/// The extension and the two trigram indexes, made if missing. Run at every
/// start (after the migrations) rather than as a migration, so that an
/// extension installed later is used at the next start; several processes
/// starting at once take turns on an advisory lock. Where the extension is
/// not installed or may not be created, nothing changes but a warning:
/// search still answers the same, by scanning.
pub async fn prepare_trigram_indexes(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    const PREPARE: &str = "DO $$ BEGIN \
        PERFORM pg_advisory_xact_lock(hashtext('wharf: trigram indexes')); \
        CREATE EXTENSION IF NOT EXISTS pg_trgm; \
        CREATE INDEX IF NOT EXISTS packages_name_trgm \
            ON packages USING gin (name_lower gin_trgm_ops); \
        CREATE INDEX IF NOT EXISTS package_versions_search_trgm \
            ON package_versions USING gin (search_text gin_trgm_ops); \
        EXCEPTION WHEN OTHERS THEN \
            RAISE NOTICE 'no trigram indexes: %', SQLERRM; \
        END $$";
    const PRESENT: &str = "SELECT COUNT(*) FROM pg_indexes \
        WHERE indexname IN ('packages_name_trgm', 'package_versions_search_trgm') \
          AND schemaname = current_schema()";
    let present: i64 = sqlx::query_scalar(PRESENT).fetch_one(pool).await?;
    if present == 2 {
        return Ok(());
    }
    sqlx::raw_sql(PREPARE).execute(pool).await?;
    let present: i64 = sqlx::query_scalar(PRESENT).fetch_one(pool).await?;
    if present < 2 {
        tracing::warn!(
            "search scans every version on this database: the pg_trgm extension is not \
             available to Wharf's user (install PostgreSQL's contrib package, or run \
             CREATE EXTENSION pg_trgm as a superuser) and restart Wharf to index search"
        );
    }
    Ok(())
}
