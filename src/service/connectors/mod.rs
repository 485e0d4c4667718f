//! Connectors: the remote Universal Feed API feeds a feed can take packages
//! from, in order: explicitly (the pull operation) or on demand, when a
//! request asks a feed for a package it does not hold (`upstream`).
//!
//! A connector has a name (unique across feeds), the remote feed's URL, kept
//! exactly as given (a pull's `source` must equal it character for
//! character), a timeout, name patterns to include and exclude (`*` is a
//! wildcard; no include pattern means every name), and optional credentials:
//! an API key or a user name and password. Credentials are sealed with
//! XChaCha20-Poly1305 under `connectors.secret_key` before they reach the
//! database (`sealing`), never logged and never shown: listings say only
//! whether a connector has them. `remote` asks a connector's feed over the
//! Universal Feed API.

pub mod merge;
pub mod remote;
mod sealing;
pub mod upstream;

use chrono::{DateTime, Utc};

use crate::config::ConnectorSettings;
use crate::db::connectors::{self as rows, ConnectorFields, ConnectorRow};
use crate::error::ServiceError;

pub use sealing::Credentials;
use sealing::seal;

use super::model::Feed;
use super::{Wharf, feeds};

/// A connector as shown: never its credentials.
#[derive(Debug, Clone)]
pub struct Connector {
    pub id: i64,
    pub name: String,
    /// The feed it belongs to.
    pub feed: String,
    /// Its place among the feed's connectors, from 1.
    pub position: i32,
    pub url: String,
    pub timeout_seconds: i32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub has_credentials: bool,
    pub created_at: DateTime<Utc>,
    sealed: Option<String>,
}

impl Connector {
    fn from_row(row: ConnectorRow, feed: String) -> Self {
        Self {
            id: row.id,
            name: row.name,
            feed,
            position: row.position,
            url: row.url,
            timeout_seconds: row.timeout_seconds,
            include: split_patterns(&row.include_patterns),
            exclude: split_patterns(&row.exclude_patterns),
            has_credentials: row.credentials_sealed.is_some(),
            created_at: row.created_at,
            sealed: row.credentials_sealed,
        }
    }

    /// The connector's credentials, unsealed with the key in `settings`; a
    /// sentence when they cannot be (the secret key changed or is missing).
    pub fn credentials(&self, settings: &ConnectorSettings) -> Result<Option<Credentials>, String> {
        sealing::unseal(settings, &self.name, self.sealed.as_deref())
    }

    /// Whether a package named `name` may come through this connector.
    pub fn admits(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| wildcard_match(p, name)))
            && !self.exclude.iter().any(|p| wildcard_match(p, name))
    }
}

/// A connector to create, or the new fields of one.
#[derive(Debug, Clone, Default)]
pub struct ConnectorSpec {
    pub url: String,
    pub timeout_seconds: Option<i32>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub credentials: Option<Credentials>,
}

fn split_patterns(stored: &str) -> Vec<String> {
    stored
        .split('\n')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `*` matches any run of characters; everything else matches itself,
/// ignoring case.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The default timeout of a connector, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 30;

fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.chars().all(|c| c == '.');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "The connector name '{name}' is not valid: use 1 to 100 letters, digits, '.', '_' or '-'."
        )))
    }
}

fn check_url(url: &str) -> Result<(), ServiceError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        ServiceError::BadRequest(format!("The connector URL '{url}' cannot be read ({e})."))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ServiceError::BadRequest(format!(
            "The connector URL '{url}' must be http:// or https:// with a host, such as https://proget.example/upack/feed."
        )));
    }
    Ok(())
}

fn check_patterns(patterns: &[String]) -> Result<String, ServiceError> {
    if let Some(bad) = patterns
        .iter()
        .find(|p| p.is_empty() || p.contains(['\n', '/', '\\']) || p.len() > 100)
    {
        return Err(ServiceError::BadRequest(format!(
            "The name pattern '{bad}' is not valid: a package name with '*' as a wildcard."
        )));
    }
    Ok(patterns.join("\n"))
}

fn fields<'a>(
    name: &'a str,
    spec: &'a ConnectorSpec,
    sealed: Option<&'a str>,
    include: &'a str,
    exclude: &'a str,
) -> ConnectorFields<'a> {
    ConnectorFields {
        name,
        url: &spec.url,
        credentials_sealed: sealed,
        timeout_seconds: spec.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        include_patterns: include,
        exclude_patterns: exclude,
    }
}

fn check_timeout(spec: &ConnectorSpec) -> Result<(), ServiceError> {
    match spec.timeout_seconds {
        Some(t) if !(1..=3600).contains(&t) => Err(ServiceError::BadRequest(format!(
            "The timeout must be 1 to 3600 seconds, not {t}."
        ))),
        _ => Ok(()),
    }
}

/// Adds a connector named `name` (or one made from the feed and the URL's
/// host) to the end of `feed_name`'s list.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    wharf: &Wharf,
    feed_name: &str,
    name: Option<&str>,
    spec: &ConnectorSpec,
) -> Result<Connector, ServiceError> {
    let feed = feeds::find(wharf, feed_name).await?;
    check_url(&spec.url)?;
    check_timeout(spec)?;
    let include = check_patterns(&spec.include)?;
    let exclude = check_patterns(&spec.exclude)?;
    let sealed = spec
        .credentials
        .as_ref()
        .map(|c| seal(&wharf.settings.connectors, c))
        .transpose()?;
    let named = match name {
        Some(name) => name.to_owned(),
        None => default_name(&feed.name, &spec.url),
    };
    check_name(&named)?;
    for attempt in 1..=20 {
        let candidate = if name.is_some() || attempt == 1 {
            named.clone()
        } else {
            format!("{named}-{attempt}")
        };
        let fields = fields(&candidate, spec, sealed.as_deref(), &include, &exclude);
        if let Some(row) = rows::insert(&wharf.db, feed.id, &fields).await? {
            return Ok(Connector::from_row(row, feed.name));
        }
        if name.is_some() {
            break;
        }
    }
    Err(ServiceError::Conflict(format!(
        "A connector named '{named}' exists; choose another name."
    )))
}

fn default_name(feed: &str, url: &str) -> String {
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let name: String = format!("{feed}-{host}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(90)
        .collect();
    name
}

/// Every connector, or a feed's, in order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(wharf: &Wharf, feed_name: Option<&str>) -> Result<Vec<Connector>, ServiceError> {
    let all_feeds = feeds::list(wharf).await?;
    let name_of = |id: i64| {
        all_feeds
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    };
    let rows = match feed_name {
        Some(feed_name) => {
            let feed = feeds::find(wharf, feed_name).await?;
            rows::list_for_feed(&wharf.db, feed.id).await?
        }
        None => rows::list(&wharf.db).await?,
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let feed = name_of(row.feed_id);
            Connector::from_row(row, feed)
        })
        .collect())
}

/// The connectors of `feed`, in order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn of_feed(wharf: &Wharf, feed: &Feed) -> Result<Vec<Connector>, ServiceError> {
    Ok(rows::list_for_feed(&wharf.db, feed.id)
        .await?
        .into_iter()
        .map(|row| Connector::from_row(row, feed.name.clone()))
        .collect())
}

/// The connector named `name`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(wharf: &Wharf, name: &str) -> Result<Connector, ServiceError> {
    let row = rows::find(&wharf.db, &name.to_ascii_lowercase())
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("There is no connector named '{name}'.")))?;
    let feed = feeds::list(wharf)
        .await?
        .into_iter()
        .find(|f| f.id == row.feed_id)
        .map(|f| f.name)
        .unwrap_or_default();
    Ok(Connector::from_row(row, feed))
}

/// Replaces the fields of the connector named `name`; credentials are kept
/// unless new ones are given.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update(
    wharf: &Wharf,
    name: &str,
    spec: &ConnectorSpec,
) -> Result<Connector, ServiceError> {
    let current = get(wharf, name).await?;
    check_url(&spec.url)?;
    check_timeout(spec)?;
    let include = check_patterns(&spec.include)?;
    let exclude = check_patterns(&spec.exclude)?;
    let sealed = match &spec.credentials {
        Some(credentials) => Some(seal(&wharf.settings.connectors, credentials)?),
        None => current.sealed.clone(),
    };
    let fields = fields(&current.name, spec, sealed.as_deref(), &include, &exclude);
    rows::update(&wharf.db, current.id, &fields).await?;
    get(wharf, name).await
}

/// Deletes the connector named `name`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(wharf: &Wharf, name: &str) -> Result<(), ServiceError> {
    let current = get(wharf, name).await?;
    rows::delete(&wharf.db, &current.name.to_ascii_lowercase()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_runs_of_characters_ignoring_case() {
        for (pattern, name, expected) in [
            ("*", "anything", true),
            ("Microsoft.*", "microsoft.net", true),
            ("Microsoft.*", "Microsoftnet", false),
            ("*-tools", "acme-tools", true),
            ("*-tools", "acme-tools-x", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("ab*ab", "ab", false),
        ] {
            assert_eq!(
                wildcard_match(pattern, name),
                expected,
                "{pattern} ~ {name}"
            );
        }
    }
}
