//! Turning presented credentials into a [`Principal`].
//!
//! API keys look like `wharf_<id>_<secret>`. The `id` is public and finds the
//! row in one primary-key lookup; the row holds only an argon2id PHC string of
//! the whole key. argon2 is slow on purpose, so a successful verification is
//! remembered for `auth.verified_cache_seconds`, keyed by the SHA-256 of the
//! presented key (never the key itself). The row is still read on every
//! request through the row cache (`service::cache`), which any write to keys
//! empties, in every process sharing the database, or through a worker
//! thread's copy of what it read there (`recent`), which ends whenever the
//! row cache is emptied; so revoking a key, changing its permissions or
//! letting it expire takes effect at once. The memo only saves the argon2
//! work, and is used only while the row's hash is the one that was verified.
//!
//! A key that does not follow the `wharf_` form (one set through
//! `WHARF_ADMIN_API_KEY`) is found by a fingerprint id derived from it.

use std::time::Duration;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHasher};
use chrono::Utc;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::db::{self, Db};
use crate::domain::{FeedScope, Grant};
use crate::error::{OrInternal, ServiceError};
use crate::service::cache::CachedKey;
use crate::telemetry::spawn_blocking_in_span;

mod limiter;
mod principal;
mod recent;
mod secrets;
mod sessions;

use limiter::FailureLimiter;
pub use principal::{Credential, Principal};
use principal::{plain_key, presented_key};
pub use secrets::{KEY_PREFIX, generate_key, public_id, random_token};
use secrets::{argon2_hasher, verify_phc};
pub use sessions::{Session, SignedIn};

const INVALID_KEY: &str = "The API key is not valid: it is unknown, expired or revoked.";
const INVALID_PASSWORD: &str = "The user name or password is not valid.";

/// What a stored user may do.
fn grant_of_user(row: &db::users::UserRow) -> Result<std::sync::Arc<Grant>, ServiceError> {
    Ok(std::sync::Arc::new(Grant {
        permissions: Grant::parse_permissions(&row.permissions)
            .or_internal("reading a user's permissions")?,
        scope: FeedScope::parse(row.feed_scope.as_deref()),
    }))
}

/// Which row a cached verification vouches for, and under which hash.
#[derive(Debug, Clone)]
struct Verified {
    subject: String,
    phc: String,
}

/// Verifies credentials against the database, with a cache of successes.
pub struct Authenticator {
    failures: FailureLimiter,
    db: Db,
    caches: std::sync::Arc<super::cache::Caches>,
    verified: moka::future::Cache<[u8; 32], Verified>,
    hasher: Argon2<'static>,
    /// A hash with the configured costs that no secret matches: credentials
    /// naming an unknown key or user are verified against it, so that they
    /// cost what a wrong secret for a known one costs.
    decoy_phc: tokio::sync::OnceCell<String>,
    /// argon2 verifications run, for tests that check equal work.
    verifications: std::sync::atomic::AtomicU64,
    /// How long a web sign-in lasts.
    session_lifetime: chrono::Duration,
    /// How long a verification is trusted without argon2.
    verified_lifetime: Duration,
    /// This authenticator's number in the worker threads' memos (`recent`).
    owner: u64,
}

impl Authenticator {
    /// Builds an authenticator with the configured cache lifetime and argon2 costs.
    pub fn new(
        db: Db,
        caches: std::sync::Arc<super::cache::Caches>,
        settings: &AuthSettings,
    ) -> Self {
        Self {
            failures: FailureLimiter::new(settings.max_failures_per_minute),
            db,
            caches,
            verified: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(settings.verified_cache_seconds))
                .build(),
            hasher: argon2_hasher(settings.argon2),
            decoy_phc: tokio::sync::OnceCell::new(),
            verifications: std::sync::atomic::AtomicU64::new(0),
            session_lifetime: chrono::Duration::hours(i64::from(settings.session_hours)),
            verified_lifetime: Duration::from_secs(settings.verified_cache_seconds),
            owner: recent::next_owner(),
        }
    }

    /// How many argon2 verifications this authenticator has run.
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Spends the work of one verification on a credential that names no
    /// key or user, and fails.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn decoy_verification(&self, presented: &str) -> Result<(), ServiceError> {
        let phc = self
            .decoy_phc
            .get_or_try_init(|| async {
                let (_, unguessable) = generate_key();
                self.hash(unguessable.expose_secret()).await
            })
            .await?;
        let _ = self.verify_cached(presented, "", phc).await;
        Ok(())
    }

    /// Verifies `credential` presented from `address`. Anonymous callers get
    /// [`Principal::Anonymous`]; presented but wrong credentials are an error
    /// (403), and too many of those from one address a 429.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn authenticate(
        &self,
        credential: &Credential,
        address: Option<std::net::IpAddr>,
    ) -> Result<Principal, ServiceError> {
        match credential {
            Credential::None => return Ok(Principal::Anonymous),
            Credential::Session(token) => {
                // A stale cookie is no credential: the visitor is anonymous.
                return Ok(self
                    .session(token)
                    .await?
                    .map_or(Principal::Anonymous, |s| s.principal));
            }
            Credential::ApiKey(_) | Credential::UserPassword { .. } => {}
        }
        self.failures.check(address)?;
        let result = self.verify(credential).await;
        if matches!(result, Err(ServiceError::Forbidden(_))) {
            self.failures.record_failure(address);
        }
        result
    }

    /// The common case, answered without waiting: no credential, or an API
    /// key whose row is cached and which this very text verified within
    /// `auth.verified_cache_seconds`. `None` when it takes
    /// [`Self::authenticate`] (a first use, a cold cache, a password, a
    /// session, an address over its failure limit). The same checks in the
    /// same order, minus the database and argon2: on the manifest fetch the
    /// asynchronous path's futures alone (built, boxed, moved) cost a tenth
    /// of a keyed request. A key this worker thread accepted before is
    /// answered from its own memo (`recent`), which touches no memory another
    /// thread writes.
    pub fn authenticate_recent(
        &self,
        credential: &Credential,
        address: Option<std::net::IpAddr>,
    ) -> Option<Principal> {
        if matches!(credential, Credential::None) {
            return Some(Principal::Anonymous);
        }
        self.recent(presented_key(credential)?, address)
    }

    /// [`Self::authenticate_recent`] for the text of an `X-ApiKey` header,
    /// borrowed from the request: the usual keyed request builds no
    /// [`Credential`] (an allocation, and zeroing it when dropped).
    pub fn authenticate_recent_key(
        &self,
        text: &str,
        address: Option<std::net::IpAddr>,
    ) -> Option<Principal> {
        self.recent(plain_key(text)?, address)
    }

    /// The principal of API key `key` if it was verified recently (see
    /// [`Self::authenticate_recent`]).
    fn recent(&self, key: &str, address: Option<std::net::IpAddr>) -> Option<Principal> {
        self.failures.check(address).ok()?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Read before the row is looked up: a change after it makes the
        // memo's entry stale at once.
        let stamp = self.caches.rows_stamp();
        if let Some(principal) =
            recent::principal(self.owner, digest, stamp, self.verified_lifetime)
        {
            return Some(principal);
        }
        let record = self.caches.cached_api_key(&public_id(key))?;
        let (principal, verified_at) = self.recently_verified_as(&record, &digest)?;
        recent::remember(
            self.owner,
            digest,
            &principal,
            verified_at,
            stamp,
            record.row.expires_at,
        );
        Some(principal)
    }

    /// `record`'s principal, and when it was verified, if the row is
    /// unexpired and the text whose SHA-256 is `digest` was verified against
    /// it within the verified lifetime.
    fn recently_verified_as(
        &self,
        record: &CachedKey,
        digest: &[u8; 32],
    ) -> Option<(Principal, std::time::Instant)> {
        if record.row.expires_at.is_some_and(|at| at <= Utc::now()) {
            return None;
        }
        let (verified, at) = (*record.verified.lock().ok()?)?;
        (verified == *digest && at.elapsed() < self.verified_lifetime).then(|| {
            let principal = Principal::Key {
                id: record.id.clone(),
                grant: record.grant.clone(),
            };
            (principal, at)
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn verify(&self, credential: &Credential) -> Result<Principal, ServiceError> {
        if let Some(key) = presented_key(credential) {
            return self.authenticate_key(key).await;
        }
        match credential {
            Credential::None | Credential::Session(_) => Ok(Principal::Anonymous),
            Credential::ApiKey(key) => {
                // pgutil sends `user:password` as its API key; a text of that
                // shape that names no user is tried as a key after all.
                let text = key.expose_secret();
                if let Some((username, password)) = text.split_once(':')
                    && db::users::find(&self.db, username).await?.is_some()
                {
                    return self.authenticate_user(username, password).await;
                }
                self.authenticate_key(text).await
            }
            Credential::UserPassword { username, password } => {
                self.authenticate_user(username, password.expose_secret())
                    .await
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn authenticate_key(&self, key: &str) -> Result<Principal, ServiceError> {
        let id = public_id(key);
        let cached = self.caches.api_key(&self.db, &id).await?;
        let Some(key_record) = cached.filter(|k| k.row.expires_at.is_none_or(|at| at > Utc::now()))
        else {
            // Same work as a wrong secret, so timing reveals neither key ids
            // nor (for pgutil's `X-ApiKey: user:password`) user names.
            self.decoy_verification(key).await?;
            return Err(ServiceError::Forbidden(INVALID_KEY.to_owned()));
        };
        // The common case: this key text was verified against this very
        // row recently (one hash and one comparison, no other cache).
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some((principal, _)) = self.recently_verified_as(&key_record, &digest) {
            return Ok(principal);
        }
        let subject = format!("key:{}", key_record.row.id);
        if !self
            .verify_cached(key, &subject, &key_record.row.secret_hash)
            .await?
        {
            return Err(ServiceError::Forbidden(INVALID_KEY.to_owned()));
        }
        if let Ok(mut memo) = key_record.verified.lock() {
            *memo = Some((digest, std::time::Instant::now()));
        }
        Ok(Principal::Key {
            id: key_record.id.clone(),
            grant: key_record.grant.clone(),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Principal, ServiceError> {
        let Some(row) = db::users::find(&self.db, username).await? else {
            // Same work as a wrong password, so timing does not reveal names.
            self.decoy_verification(password).await?;
            return Err(ServiceError::Forbidden(INVALID_PASSWORD.to_owned()));
        };
        let subject = format!("user:{}", row.id);
        let presented = format!("{}:{password}", row.username.to_lowercase());
        if !self
            .verify_cached(&presented, &subject, &row.password_hash)
            .await?
        {
            return Err(ServiceError::Forbidden(INVALID_PASSWORD.to_owned()));
        }
        let grant = grant_of_user(&row)?;
        Ok(Principal::User {
            username: row.username,
            grant,
        })
    }

    /// Whether `presented` matches `phc`, using the cache when it vouches for
    /// this subject under this very hash, and argon2 (off the reactor)
    /// otherwise. Concurrent first uses of one key share a single argon2
    /// run instead of each paying for it (a burst of new connections would
    /// otherwise queue behind dozens of deliberately slow hashes).
    #[tracing::instrument(level = "debug", skip_all)]
    async fn verify_cached(
        &self,
        presented: &str,
        subject: &str,
        phc: &str,
    ) -> Result<bool, ServiceError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(hit) = self.verified.get(&digest).await {
            if hit.subject == subject && hit.phc == phc {
                return Ok(true);
            }
            self.verified.invalidate(&digest).await;
        }
        let (secret, stored) = (presented.to_owned(), phc.to_owned());
        let verifications = &self.verifications;
        let verification = async move {
            verifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let ok = spawn_blocking_in_span(move || verify_phc(&secret, &stored))
                .await
                .map_err(|e| e.to_string())?;
            if ok {
                Ok(())
            } else {
                Err("mismatch".to_owned())
            }
        };
        if subject.is_empty() {
            // The dummy verification for unknown users: same cost, never cached.
            let _ = verification.await;
            return Ok(false);
        }
        let verified = self
            .verified
            .try_get_with(digest, async move {
                verification.await.map(|()| Verified {
                    subject: subject.to_owned(),
                    phc: phc.to_owned(),
                })
            })
            .await;
        match verified {
            Ok(entry) if entry.subject == subject && entry.phc == phc => {
                if let Some(id) = subject.strip_prefix("key:") {
                    db::api_keys::touch(&self.db, id).await?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Hashes a secret (key or password) into an argon2id PHC string, off the reactor.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn hash(&self, secret: &str) -> Result<String, ServiceError> {
        let hasher = self.hasher.clone();
        let secret = secret.to_owned();
        spawn_blocking_in_span(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            hasher
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .or_internal("in hash")?
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("argon2: {e}")))
    }
}
