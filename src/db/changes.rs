//! The change counter that keeps in-process caches honest across processes.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Db, with_pool};

/// Writes this process has made that can change a cached read. In-process
/// caches compare it on every access, so a process always reads its own
/// writes at once; other processes learn of them through the generation.
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// The number of cache-affecting writes this process has made.
pub fn local_writes() -> u64 {
    LOCAL_WRITES.load(Ordering::Acquire)
}

/// Records a cache-affecting write made by this process.
pub(crate) fn note_local_write() {
    LOCAL_WRITES.fetch_add(1, Ordering::AcqRel);
}

/// The statement every cache-affecting write runs (in its transaction when it
/// has one).
pub(crate) const BUMP: &str = "UPDATE change_log SET generation = generation + 1 WHERE id = 1";

/// The current generation.
pub async fn generation(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT generation FROM change_log WHERE id = 1")
            .fetch_one(pool)
            .await
    })
}

/// Bumps the generation, for writes that are a single statement.
pub async fn bump(db: &Db) -> Result<(), sqlx::Error> {
    note_local_write();
    let result = with_pool!(db, |pool| sqlx::query(BUMP).execute(pool).await.map(|_| ()));
    note_local_write();
    result
}
