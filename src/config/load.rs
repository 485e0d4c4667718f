//! Loading settings: the layers merged by `figment`, then checked.
//!
//! Each environment variable and each command-line flag is its own provider,
//! named after the variable or flag, so an error and `wharf config show` can
//! say exactly where a value came from. Values from the environment and
//! flags are strings; `extract_lossy` reads `9` as a number and `False` as a
//! boolean where the setting wants one.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

use super::Settings;

/// The short environment names of CONTRACT.md section 6, kept as aliases of
/// the `WHARF_<SECTION>__<KEY>` names, with the setting each sets.
pub const ALIASES: [(&str, &str); 4] = [
    ("DATABASE_URL", "database_url"),
    ("WHARF_AUTH_CHALLENGE", "auth.challenge"),
    ("WHARF_MAX_UPLOAD_BYTES", "limits.max_upload_bytes"),
    ("WHARF_VPACK_URL_ALLOWLIST", "vpack.url_allowlist"),
];

/// `WHARF_` variables that are not settings: the log filter, the config
/// file's path, and a password read by `wharf user create`.
const NOT_SETTINGS: [&str; 3] = ["WHARF_LOG", "WHARF_CONFIG", "WHARF_USER_PASSWORD"];

/// Values given on the command line; `None` leaves the setting alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

/// The environment variable that sets `key` in the `WHARF_<SECTION>__<KEY>`
/// form (`bind` is `WHARF_BIND`, `auth.argon2.memory_kib` is
/// `WHARF_AUTH__ARGON2__MEMORY_KIB`).
pub fn variable_for(key: &str) -> String {
    format!("WHARF_{}", key.replace('.', "__").to_ascii_uppercase())
}

/// The setting an environment variable sets, if it is one of Wharf's.
fn setting_of(variable: &str) -> Option<String> {
    if let Some((_, key)) = ALIASES.iter().find(|(name, _)| *name == variable) {
        return Some((*key).to_owned());
    }
    if NOT_SETTINGS.contains(&variable) {
        return None;
    }
    let rest = variable.strip_prefix("WHARF_")?;
    Some(rest.to_ascii_lowercase().replace("__", "."))
}

/// One value from one named source: an environment variable or a flag.
struct Single {
    source: String,
    key: String,
    value: String,
}

impl Provider for Single {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(&self.key, Value::from(self.value.clone()));
        let dict = nested.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// The merged layers: defaults (by `serde(default)`), the TOML file, the
/// environment `variables`, the flags.
pub fn layers(
    config_file: Option<&Path>,
    variables: impl IntoIterator<Item = (String, String)>,
    flags: &Overrides,
) -> anyhow::Result<Figment> {
    let mut figment = Figment::new();
    if let Some(path) = config_file {
        // figment treats a missing file as empty; a file the operator named
        // must exist.
        std::fs::metadata(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        figment = figment.merge(Toml::file_exact(path));
    }
    let mut variables: Vec<(String, String)> = variables
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    // Aliases first, so a `WHARF_<SECTION>__<KEY>` name given too wins.
    variables.sort_by_key(|(name, _)| !ALIASES.iter().any(|(alias, _)| alias == name));
    for (name, value) in variables {
        if let Some(key) = setting_of(&name) {
            figment = figment.merge(Single {
                source: format!("environment variable {name}"),
                key,
                value,
            });
        }
    }
    let flag_values = [
        ("--bind", "bind", flags.bind.clone()),
        (
            "--data-dir",
            "data_dir",
            flags.data_dir.as_ref().map(|d| d.display().to_string()),
        ),
        ("--database-url", "database_url", flags.database_url.clone()),
    ];
    for (flag, key, value) in flag_values {
        if let Some(value) = value {
            figment = figment.merge(Single {
                source: format!("command-line flag {flag}"),
                key: key.to_owned(),
                value,
            });
        }
    }
    Ok(figment)
}

/// Reads the settings from merged layers and checks them.
pub fn extract(figment: &Figment) -> anyhow::Result<Settings> {
    let settings: Settings = figment.extract_lossy().map_err(|e| explain(&e))?;
    settings.validate()?;
    Ok(settings)
}

impl Settings {
    /// Loads settings from the layers, in order, reading the process's
    /// environment.
    pub fn load(config_file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Self> {
        extract(&layers(config_file, std::env::vars(), flags)?)
    }

    /// Checks what types alone cannot: addresses, argon2 costs, sizes.
    pub fn validate(&self) -> anyhow::Result<()> {
        let port_ok = self
            .bind
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            bail!(
                "bind must be an address and port such as 127.0.0.1:8624 or [::]:8624, not '{}'.",
                self.bind
            );
        }
        let argon2 = self.auth.argon2;
        if let Err(e) = argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        ) {
            bail!(
                "auth.argon2 cannot be used ({e}): memory_kib must be at least 8 x parallelism, \
                 iterations at least 1, parallelism at least 1."
            );
        }
        let positive = [
            ("limits.max_upload_bytes", self.limits.max_upload_bytes),
            ("auth.session_hours", u64::from(self.auth.session_hours)),
            (
                "limits.upload_idle_seconds",
                self.limits.upload_idle_seconds,
            ),
            ("limits.max_inflated_bytes", self.limits.max_inflated_bytes),
            ("limits.max_manifest_bytes", self.limits.max_manifest_bytes),
            (
                "limits.max_compression_ratio",
                self.limits.max_compression_ratio,
            ),
            (
                "vpack.max_url_source_bytes",
                self.vpack.max_url_source_bytes,
            ),
            (
                "limits.max_entries",
                u64::try_from(self.limits.max_entries).unwrap_or(u64::MAX),
            ),
            ("operations.workers", u64::from(self.operations.workers)),
            ("operations.lease_seconds", self.operations.lease_seconds),
            (
                "operations.max_attempts",
                u64::from(self.operations.max_attempts),
            ),
            (
                "database.max_connections",
                self.database.max_connections.map_or(1, u64::from),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            bail!("{key} must be at least 1.");
        }
        if let Some(root) = self
            .export
            .allowed_roots
            .iter()
            .find(|root| !std::path::Path::new(root).is_absolute())
        {
            bail!("export.allowed_roots must hold absolute directories; '{root}' is not one.");
        }
        if let Some(url) = &self.database_url {
            use secrecy::ExposeSecret;
            let url = url.expose_secret();
            if !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
            {
                bail!("database_url must start with sqlite:// or postgres://.");
            }
        }
        Ok(())
    }
}

/// One sentence for a figment error: the setting, where its value came
/// from, and what is wrong with it.
fn explain(error: &figment::Error) -> anyhow::Error {
    let key = error.path.join(".");
    let source = error
        .metadata
        .as_ref()
        .map_or_else(|| "the settings".to_owned(), describe_source);
    if key.is_empty() {
        anyhow::anyhow!("The {source} is not valid: {}.", error.kind)
    } else {
        anyhow::anyhow!(
            "The setting {key} (from {source}) is not valid: {}.",
            error.kind
        )
    }
}

/// Where a value came from, for people: `config file <path>`,
/// `environment variable <NAME>` or `command-line flag <--flag>`.
pub fn describe_source(metadata: &Metadata) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("config file {}", path.display()),
        _ => metadata.name.to_string(),
    }
}

/// Deserialises a list of strings from a list or from one comma-separated
/// string (what an environment variable can hold).
pub fn list_or_comma_separated<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(items) => items,
        ListOrText::Text(text) => text
            .split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect(),
    })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
