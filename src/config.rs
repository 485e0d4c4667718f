//! Settings: built-in defaults < TOML file (`--config` / `WHARF_CONFIG`) <
//! environment variables < command-line flags.
//!
//! The names in [`ENV_VARS`] and the flags in `cli` are a stable interface that
//! scripts and operators depend on: add names, rename none. Secrets (database
//! URL, admin key) are `SecretString`s, so `Debug` and logs show them redacted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::upack;

/// Every environment variable Wharf reads, and the setting it sets.
pub const ENV_VARS: [(&str, &str); 8] = [
    ("WHARF_BIND", "bind"),
    ("WHARF_DATA_DIR", "data_dir"),
    ("DATABASE_URL", "database_url"),
    ("WHARF_ADMIN_API_KEY", "admin_api_key"),
    ("WHARF_AUTH_CHALLENGE", "auth.challenge"),
    ("WHARF_MAX_UPLOAD_BYTES", "limits.max_upload_bytes"),
    ("WHARF_LOG", "log filter (tracing EnvFilter syntax)"),
    (
        "WHARF_VPACK_URL_ALLOWLIST",
        "vpack.url_allowlist (comma-separated hosts)",
    ),
];

/// All of Wharf's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Directory for the `SQLite` file, blobs and temporary files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; `None` means the `SQLite` file in
    /// `data_dir`.
    pub database_url: Option<SecretString>,
    /// The first administrator key, instead of a generated one.
    pub admin_api_key: Option<SecretString>,
    /// Authentication.
    pub auth: AuthSettings,
    /// Size limits.
    pub limits: LimitSettings,
    /// Virtual packages.
    pub vpack: VpackSettings,
}

/// Virtual package settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VpackSettings {
    /// Hosts that URL sources in virtual packages may be fetched from. Empty
    /// (the default) refuses every URL source.
    pub url_allowlist: Vec<String>,
    /// Largest URL source one assembly fetches; never more than
    /// `limits.max_upload_bytes`.
    pub max_url_source_bytes: u64,
}

impl Default for VpackSettings {
    fn default() -> Self {
        Self {
            url_allowlist: Vec::new(),
            max_url_source_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Answer requests without credentials that need them with 401 and a
    /// Basic challenge, instead of 403.
    pub challenge: bool,
    /// How long a successful argon2 verification is remembered, in seconds.
    pub verified_cache_seconds: u64,
    /// argon2id cost parameters for new keys and passwords.
    pub argon2: Argon2Settings,
    /// Failed authentications allowed per client address per minute before
    /// further attempts from it are answered 429 (0 turns the limit off).
    pub max_failures_per_minute: u32,
}

/// argon2id cost parameters (OWASP's recommended minimum by default).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

/// Size limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest accepted upload body.
    pub max_upload_bytes: u64,
    /// Longest pause between two parts of an upload body before the upload
    /// is abandoned (408) and its spool file removed.
    pub upload_idle_seconds: u64,
    /// Limits applied to every package's archive.
    #[serde(flatten)]
    pub package: upack::Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8624".to_owned(),
            data_dir: PathBuf::from("./wharf-data"),
            database_url: None,
            admin_api_key: None,
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            vpack: VpackSettings::default(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            challenge: false,
            verified_cache_seconds: 60,
            argon2: Argon2Settings::default(),
            max_failures_per_minute: 30,
        }
    }
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            upload_idle_seconds: 60,
            package: upack::Limits::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the setting alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Settings {
    /// Loads settings from the layers, in order.
    pub fn load(config_file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Self> {
        let mut settings = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Self::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        settings.apply_flags(flags);
        Ok(settings)
    }

    /// Applies the environment variables of [`ENV_VARS`], read through `lookup`.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let Some(bind) = get("WHARF_BIND") {
            self.bind = bind;
        }
        if let Some(dir) = get("WHARF_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(url) = get("DATABASE_URL") {
            self.database_url = Some(url.into());
        }
        if let Some(key) = get("WHARF_ADMIN_API_KEY") {
            self.admin_api_key = Some(key.into());
        }
        if let Some(value) = get("WHARF_AUTH_CHALLENGE") {
            self.auth.challenge = parse_bool(&value).with_context(|| {
                format!("WHARF_AUTH_CHALLENGE must be true or false, not '{value}'")
            })?;
        }
        if let Some(value) = get("WHARF_MAX_UPLOAD_BYTES") {
            self.limits.max_upload_bytes = value.trim().parse().with_context(|| {
                format!("WHARF_MAX_UPLOAD_BYTES must be a whole number of bytes, not '{value}'")
            })?;
        }
        if let Some(hosts) = get("WHARF_VPACK_URL_ALLOWLIST") {
            self.vpack.url_allowlist = hosts
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect();
        }
        Ok(())
    }

    /// Applies command-line flags.
    pub fn apply_flags(&mut self, flags: &Overrides) {
        if let Some(bind) = &flags.bind {
            self.bind.clone_from(bind);
        }
        if let Some(dir) = &flags.data_dir {
            self.data_dir.clone_from(dir);
        }
        if let Some(url) = &flags.database_url {
            self.database_url = Some(url.clone().into());
        }
    }

    /// The database URL in effect (the `SQLite` file in the data directory
    /// unless one was given).
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("wharf.db").display()).into(),
        }
    }

    /// Where spooled uploads and other temporary files go. Inside the data
    /// directory, so a spooled file can be linked into the blob store.
    pub fn temp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// Where the local blob store lives.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// Whether the database URL names `PostgreSQL`.
    pub fn uses_postgres(&self) -> bool {
        self.database_url().expose_secret().starts_with("postgres")
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "bind = \"0.0.0.0:1\"\ndata_dir = \"/from-file\"\n[auth]\nchallenge = true\n[limits]\nmax_upload_bytes = 5\nmax_entries = 7\n",
        )
        .unwrap();
        let mut settings: Settings =
            toml::from_str(&std::fs::read_to_string(file.path()).unwrap()).unwrap();
        assert_eq!(settings.limits.package.max_entries, 7);
        settings
            .apply_env(|name| match name {
                "WHARF_DATA_DIR" => Some("/from-env".into()),
                "WHARF_MAX_UPLOAD_BYTES" => Some("9".into()),
                "WHARF_AUTH_CHALLENGE" => Some("False".into()),
                _ => None,
            })
            .unwrap();
        settings.apply_flags(&Overrides {
            bind: Some("127.0.0.1:2".into()),
            ..Overrides::default()
        });
        assert_eq!(settings.bind, "127.0.0.1:2");
        assert_eq!(settings.data_dir, PathBuf::from("/from-env"));
        assert_eq!(settings.limits.max_upload_bytes, 9);
        assert!(!settings.auth.challenge);
        assert_eq!(
            settings.database_url().expose_secret(),
            "sqlite:///from-env/wharf.db"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut settings = Settings::default();
        settings
            .apply_env(|name| (name == "DATABASE_URL").then(|| "postgres://u:hunter2@h/db".into()))
            .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(settings.uses_postgres());
    }

    #[test]
    fn bad_environment_values_are_reported_by_name() {
        let err = Settings::default()
            .apply_env(|name| (name == "WHARF_MAX_UPLOAD_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.to_string().contains("WHARF_MAX_UPLOAD_BYTES"));
    }
}
