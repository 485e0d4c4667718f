//! Connector credentials, sealed before they reach the database: an API key
//! or a user name and password, as JSON, encrypted with XChaCha20-Poly1305
//! under `connectors.secret_key` (a fresh random nonce each time, bound to
//! its purpose as associated data). A database dump alone never reveals
//! them; a changed or missing key is a sentence asking for them again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::ConnectorSettings;
use crate::error::{OrInternal, ServiceError};

/// What sealed credentials are bound to: a sealed value cannot be moved to
/// another purpose.
const SEALED_FOR: &[u8] = b"wharf connector credentials v1";

/// How a connector authenticates to its remote feed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Credentials {
    /// Sent as `X-ApiKey`.
    ApiKey(String),
    /// Sent as HTTP Basic.
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ApiKey(_) => "Credentials::ApiKey(..)",
            Self::Basic { .. } => "Credentials::Basic(..)",
        })
    }
}

fn cipher(settings: &ConnectorSettings) -> Result<XChaCha20Poly1305, ServiceError> {
    let Some(key) = &settings.secret_key else {
        return Err(ServiceError::BadRequest(
            "Storing connector credentials needs connectors.secret_key \
             (WHARF_CONNECTORS__SECRET_KEY: 32 random bytes in base64, e.g. from `openssl rand -base64 32`)."
                .to_owned(),
        ));
    };
    let bytes = BASE64
        .decode(key.expose_secret().trim())
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            ServiceError::BadRequest("connectors.secret_key must be 32 bytes in base64.".to_owned())
        })?;
    XChaCha20Poly1305::new_from_slice(&bytes).or_internal("making the connector cipher")
}

/// Seals credentials: base64 of a fresh nonce and the ciphertext.
pub(super) fn seal(
    settings: &ConnectorSettings,
    credentials: &Credentials,
) -> Result<String, ServiceError> {
    let cipher = cipher(settings)?;
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let plain = SecretString::from(serde_json::to_string(credentials).unwrap_or_default());
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plain.expose_secret().as_bytes(),
                aad: SEALED_FOR,
            },
        )
        .map_err(|_| ServiceError::internal(anyhow::anyhow!("sealing connector credentials")))?;
    Ok(BASE64.encode([nonce.as_slice(), &sealed].concat()))
}

/// The connector's credentials, unsealed with the key in `settings`; a
/// sentence when they cannot be (the secret key changed or is missing).
pub(super) fn unseal(
    settings: &ConnectorSettings,
    connector_name: &str,
    sealed: Option<&str>,
) -> Result<Option<Credentials>, String> {
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let cannot = |why: &str| {
        format!(
            "The credentials of connector '{connector_name}' cannot be unsealed ({why}); set them again."
        )
    };
    let cipher = cipher(settings).map_err(|e| cannot(&e.to_string()))?;
    let bytes = BASE64
        .decode(sealed)
        .map_err(|_| cannot("stored value is damaged"))?;
    if bytes.len() < 24 {
        return Err(cannot("stored value is damaged"));
    }
    let (nonce, sealed) = bytes.split_at(24);
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: SEALED_FOR,
            },
        )
        .map_err(|_| cannot("connectors.secret_key is not the key they were sealed with"))?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|_| cannot("stored value is damaged"))
}
