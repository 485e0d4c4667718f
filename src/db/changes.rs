//! The change counter that keeps in-process caches honest across processes.
//!
//! Every write that could change a cached read runs [`BUMP`] in its own
//! transaction, so the change and the counter move together, and then tells
//! its `Db` (`note_local_write`), so this process's caches see it at once.
//! Other processes poll [`generation`].

use super::{Db, with_pool};

/// The statement every cache-affecting write runs in its transaction.
pub(crate) const BUMP: &str = "UPDATE change_log SET generation = generation + 1 WHERE id = 1";

/// The current generation.
pub async fn generation(db: &Db) -> Result<i64, sqlx::Error> {
    with_pool!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT generation FROM change_log WHERE id = 1")
            .fetch_one(pool)
            .await
    })
}
