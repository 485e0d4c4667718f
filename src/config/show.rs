//! `wharf config show`: the effective settings, one per line, each with the
//! layer it came from, secrets redacted.

use std::fmt::Write as _;

use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;
use serde_json::Value;

use super::Settings;
use super::load::{describe_source, variable_for};

/// Serialises a secret as `<redacted>` (or nothing when unset).
pub fn redacted<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some("<redacted>"),
        None => serializer.serialize_none(),
    }
}

/// Serialises a database URL with its password replaced by `<redacted>`.
pub fn url_without_password<S: Serializer>(
    url: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&without_password(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// `scheme://user:password@host/...` with the password redacted; other
/// forms as they are.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

/// One effective setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Its TOML key, `section.key`.
    pub key: String,
    /// Its value as TOML would write it (secrets redacted).
    pub value: String,
    /// Where it came from: `default`, the config file, a variable or a flag.
    pub source: String,
}

/// Every setting in effect, in TOML key order, with where it came from.
pub fn effective(figment: &Figment, settings: &Settings) -> Vec<Shown> {
    let mut shown = Vec::new();
    let value = serde_json::to_value(settings).unwrap_or(Value::Null);
    flatten("", &value, &mut shown);
    for item in &mut shown {
        item.source = figment
            .find_metadata(&item.key)
            .map_or_else(|| "default".to_owned(), describe_source);
    }
    shown
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<Shown>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        leaf => out.push(Shown {
            key: prefix.to_owned(),
            value: match leaf {
                Value::Null => "(not set)".to_owned(),
                other => other.to_string(),
            },
            source: String::new(),
        }),
    }
}

/// The text `wharf config show` prints: `key = value  # source (VARIABLE)`.
pub fn render(shown: &[Shown]) -> String {
    let width = shown
        .iter()
        .map(|s| s.key.len() + s.value.len() + 3)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for item in shown {
        let line = format!("{} = {}", item.key, item.value);
        let _ = writeln!(
            text,
            "{line:<width$}  # {}; {}",
            item.source,
            variable_for(&item.key)
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::load::{Overrides, extract, layers};
    use super::*;

    #[test]
    fn shows_each_value_with_its_source_and_hides_secrets() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "[auth]\nverified_cache_seconds = 5\n").unwrap();
        let env = [
            ("DATABASE_URL", "postgres://wharf:hunter2@db.example/wharf"),
            ("WHARF_ADMIN_API_KEY", "admin-secret-key"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let flags = Overrides {
            bind: Some("0.0.0.0:9000".into()),
            ..Overrides::default()
        };
        let figment = layers(Some(file.path()), env, &flags).unwrap();
        let settings = extract(&figment).unwrap();
        let shown = effective(&figment, &settings);
        let find = |key: &str| shown.iter().find(|s| s.key == key).unwrap().clone();

        assert_eq!(find("bind").value, "\"0.0.0.0:9000\"");
        assert_eq!(find("bind").source, "command-line flag --bind");
        assert_eq!(find("auth.verified_cache_seconds").value, "5");
        assert!(
            find("auth.verified_cache_seconds")
                .source
                .contains("config file")
        );
        assert_eq!(
            find("database_url").value,
            "\"postgres://wharf:<redacted>@db.example/wharf\""
        );
        assert_eq!(
            find("database_url").source,
            "environment variable DATABASE_URL"
        );
        assert_eq!(find("admin_api_key").value, "\"<redacted>\"");
        assert_eq!(find("limits.max_entries").source, "default");
        let text = render(&shown);
        assert!(!text.contains("hunter2") && !text.contains("admin-secret-key"));
        assert!(text.contains("WHARF_AUTH__ARGON2__MEMORY_KIB"));
    }
}
