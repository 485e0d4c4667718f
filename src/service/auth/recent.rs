//! API keys this worker thread accepted recently, kept where no other thread
//! writes.
//!
//! Why: a keyed request that the shared caches answer still writes to memory
//! every worker shares: the key cache's shard lock, the cached row's
//! reference count, the memo's mutex, the two reference counts of the
//! principal it returns, the hit counter. Each such write moves a cache line
//! from the other core; on the manifest fetch that made a keyed request cost
//! about 2.5 µs more CPU than an anonymous one (45.5 against 43.0 µs, 0.8 µs
//! of it the header itself), where its own work (one SHA-256, one lookup) is
//! a fraction of that. Here each thread keeps the principals it handed out,
//! with reference counts only it touches, and checks them against counters
//! it only reads.
//!
//! An entry is used only while everything that made it true still holds: the
//! shared caches' stamp it was made under is current (a write to keys, users
//! or settings in this process, or a change heard from another, changes it,
//! as it empties the shared caches), it is younger than a shared row entry
//! may be ([`ENTRY_TTL`]), its verification younger than the verified
//! lifetime, and the key's row has not expired. So revoking, narrowing or
//! expiring a key takes effect exactly when it does through the shared
//! caches. Entries are found by the SHA-256 of the presented text, so only
//! that very text finds one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Principal;
use crate::service::cache::{CacheStamp, ENTRY_TTL};

/// Entries a thread keeps; it forgets them all when one more would pass this.
const MAX_ENTRIES: usize = 1_024;

/// A principal this thread handed out, and what it still depends on.
struct Entry {
    /// A copy of the principal whose reference counts are this thread's.
    principal: Principal,
    /// When the key's text was last verified with argon2.
    verified_at: Instant,
    /// When this entry was made from the shared caches.
    made_at: Instant,
    /// The shared caches' stamp read before the row was looked up.
    stamp: CacheStamp,
    /// When the key's row expires, if it does.
    expires_at: Option<DateTime<Utc>>,
}

/// Which authenticator (several may live in one process, as in tests) and
/// the SHA-256 of the key's text.
type EntryKey = (u64, [u8; 32]);

/// The entries' hasher: foldhash, several times quicker than the standard
/// `SipHash` on a key this size, and seeded at random per process, so that
/// no one can choose key texts whose digests collide in the map.
type Hasher = foldhash::fast::RandomState;

thread_local! {
    static RECENT: RefCell<HashMap<EntryKey, Entry, Hasher>> =
        RefCell::new(HashMap::with_hasher(Hasher::default()));
}

/// A number for each authenticator, so that their entries never mix.
pub(super) fn next_owner() -> u64 {
    static OWNERS: AtomicU64 = AtomicU64::new(0);
    OWNERS.fetch_add(1, Ordering::Relaxed)
}

/// The principal of the key whose text has SHA-256 `digest`, if this thread
/// accepted it under `stamp` (the shared caches' current one) and nothing it
/// depends on has changed or aged since.
pub(super) fn principal(
    owner: u64,
    digest: [u8; 32],
    stamp: CacheStamp,
    verified_lifetime: Duration,
) -> Option<Principal> {
    RECENT.with_borrow(|recent| {
        let entry = recent.get(&(owner, digest))?;
        let current = entry.stamp == stamp
            && entry.made_at.elapsed() < ENTRY_TTL
            && entry.verified_at.elapsed() < verified_lifetime
            && entry.expires_at.is_none_or(|at| at > Utc::now());
        current.then(|| entry.principal.clone())
    })
}

/// Remembers `principal` for this thread (see [`principal`]), with reference
/// counts of its own.
pub(super) fn remember(
    owner: u64,
    digest: [u8; 32],
    principal: &Principal,
    verified_at: Instant,
    stamp: CacheStamp,
    expires_at: Option<DateTime<Utc>>,
) {
    let Principal::Key { id, grant } = principal else {
        return;
    };
    let entry = Entry {
        principal: Principal::Key {
            id: Arc::from(&**id),
            grant: Arc::new((**grant).clone()),
        },
        verified_at,
        made_at: Instant::now(),
        stamp,
        expires_at,
    };
    RECENT.with_borrow_mut(|recent| {
        if recent.len() >= MAX_ENTRIES {
            recent.clear();
        }
        recent.insert((owner, digest), entry);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FeedScope, Grant};

    fn key_principal() -> Principal {
        Principal::Key {
            id: Arc::from("abc"),
            grant: Arc::new(Grant {
                permissions: Grant::parse_permissions("view").unwrap(),
                scope: FeedScope::parse(None),
            }),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_entry_answers_only_its_owner_digest_and_stamp() {
        let owner = next_owner();
        let stamp = CacheStamp::for_tests(1, 1);
        remember(
            owner,
            [7; 32],
            &key_principal(),
            Instant::now(),
            stamp,
            None,
        );
        let found = principal(owner, [7; 32], stamp, HOUR);
        assert!(matches!(found, Some(Principal::Key { ref id, .. }) if &**id == "abc"));
        assert!(principal(owner, [8; 32], stamp, HOUR).is_none());
        assert!(principal(next_owner(), [7; 32], stamp, HOUR).is_none());
        assert!(principal(owner, [7; 32], CacheStamp::for_tests(2, 1), HOUR).is_none());
        assert!(principal(owner, [7; 32], CacheStamp::for_tests(1, 2), HOUR).is_none());
    }

    #[test]
    fn an_entry_ends_with_its_verification_or_its_row() {
        let owner = next_owner();
        let stamp = CacheStamp::for_tests(1, 1);
        remember(
            owner,
            [1; 32],
            &key_principal(),
            Instant::now(),
            stamp,
            None,
        );
        assert!(principal(owner, [1; 32], stamp, HOUR).is_some());
        // A verification trusted for no time at all is already too old.
        assert!(principal(owner, [1; 32], stamp, Duration::ZERO).is_none());
        let expired = Some(Utc::now() - chrono::Duration::seconds(1));
        remember(
            owner,
            [2; 32],
            &key_principal(),
            Instant::now(),
            stamp,
            expired,
        );
        assert!(principal(owner, [2; 32], stamp, HOUR).is_none());
    }

    #[test]
    fn the_copy_shares_no_reference_count_with_the_original() {
        let owner = next_owner();
        let original = key_principal();
        let stamp = CacheStamp::for_tests(1, 1);
        remember(owner, [3; 32], &original, Instant::now(), stamp, None);
        let copy = principal(owner, [3; 32], stamp, HOUR).unwrap();
        let (Principal::Key { id: a, grant: g }, Principal::Key { id: b, grant: h }) =
            (&original, &copy)
        else {
            panic!("both are keys");
        };
        assert!(!Arc::ptr_eq(a, b) && !Arc::ptr_eq(g, h));
        assert_eq!((a, g), (b, h));
    }

    #[test]
    fn a_full_thread_forgets_everything_and_keeps_the_newest() {
        let owner = next_owner();
        let stamp = CacheStamp::for_tests(1, 1);
        for n in 0..=MAX_ENTRIES {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&(n as u64).to_le_bytes());
            remember(owner, digest, &key_principal(), Instant::now(), stamp, None);
        }
        let mut newest = [0; 32];
        newest[..8].copy_from_slice(&(MAX_ENTRIES as u64).to_le_bytes());
        assert!(principal(owner, newest, stamp, HOUR).is_some());
        assert!(principal(owner, [0; 32], stamp, HOUR).is_none());
        RECENT.with_borrow(|recent| assert_eq!(recent.len(), 1));
    }
}
