//! The form of API keys and the argon2id hashing of keys and passwords.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier};
use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::config::Argon2Settings;

/// The prefix of generated API keys.
pub const KEY_PREFIX: &str = "wharf_";

/// A new random key and its public id.
pub fn generate_key() -> (String, SecretString) {
    let mut rng = rand::thread_rng();
    let id: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect();
    let secret: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let key = format!("{KEY_PREFIX}{id}_{secret}");
    (id, key.into())
}

/// The public id of a presented key: the middle part of `wharf_<id>_<secret>`
/// (borrowed from the key: every keyed request asks), or a SHA-256
/// fingerprint for keys of any other form.
pub fn public_id(key: &str) -> std::borrow::Cow<'_, str> {
    if let Some(rest) = key.strip_prefix(KEY_PREFIX)
        && let Some((id, secret)) = rest.split_once('_')
        && id.len() == 12
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && !secret.is_empty()
    {
        return id.into();
    }
    format!("fp-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..16]).into()
}

pub(super) fn argon2_hasher(settings: Argon2Settings) -> Argon2<'static> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params)
}

pub(super) fn verify_phc(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok()
    })
}

/// A random token of 43 URL-safe characters (256 bits), for session cookies
/// and CSRF tokens.
pub fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect()
}

/// The hex SHA-256 of a token: what is stored instead of it.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_keys_carry_their_public_id() {
        let (id, key) = generate_key();
        assert_eq!(public_id(key.expose_secret()), id);
        assert!(public_id("my-own-key").starts_with("fp-"));
        assert_ne!(public_id("a"), public_id("b"));
    }

    #[test]
    fn argon2id_hashes_verify_and_reject() {
        let hasher = argon2_hasher(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        });
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let phc = hasher.hash_password(b"s3cret", &salt).unwrap().to_string();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_phc("s3cret", &phc));
        assert!(!verify_phc("s3cret!", &phc));
        assert!(!verify_phc("x", "not a phc string"));
    }
}
