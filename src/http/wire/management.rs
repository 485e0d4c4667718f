//! Feeds, API keys and health, with `ProGet`'s field names.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FeedScope;
use crate::service::connectors::Connector;
use crate::service::model::{ApiKeySummary, Feed};

/// `ProGetFeed`: a feed as the management API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedObject {
    name: String,
    /// Always `universal`.
    feed_type: &'static str,
    description: String,
    active: bool,
    alternate_names: Vec<String>,
    /// The feed's Universal Feed API address.
    endpoint_url: String,
    allow_anonymous_read: bool,
}

/// A feed as the management API shows it.
pub fn feed_object(base_url: &str, feed: &Feed) -> FeedObject {
    FeedObject {
        name: feed.name.clone(),
        feed_type: "universal",
        description: feed.description.clone(),
        active: true,
        alternate_names: Vec::new(),
        endpoint_url: format!("{base_url}/upack/{}/", feed.name),
        allow_anonymous_read: feed.anonymous_read,
    }
}

/// `ProGet`'s API key information (never the key itself, but for `key` in
/// the answer to `create`, the one time it is shown).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyObject {
    id: String,
    /// `System` (admin), `Feed` (limited to feeds) or `Other`.
    #[serde(rename = "type")]
    kind: &'static str,
    display_name: String,
    /// The feeds it is limited to, comma-separated; absent for every feed.
    feed: Option<String>,
    package_permissions: Vec<String>,
    system_apis: Vec<String>,
    expiration: Option<DateTime<Utc>>,
    last_used: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    logging: &'static str,
    /// The key, in the answer to `create` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

/// A key as the management API shows it.
pub fn key_object(key: &ApiKeySummary) -> ApiKeyObject {
    let feeds = match &key.scope {
        FeedScope::All => None,
        FeedScope::Only(feeds) => Some(feeds.iter().cloned().collect::<Vec<_>>().join(",")),
    };
    let is_admin = key.is_admin();
    ApiKeyObject {
        id: key.id.clone(),
        kind: if is_admin {
            "System"
        } else if feeds.is_some() {
            "Feed"
        } else {
            "Other"
        },
        display_name: key.name.clone(),
        feed: feeds,
        package_permissions: key.permissions.clone(),
        system_apis: if is_admin {
            vec!["full-control".to_owned()]
        } else {
            Vec::new()
        },
        expiration: key.expires_at,
        last_used: key.last_used_at,
        created: key.created_at,
        logging: "None",
        key: None,
    }
}

/// A newly created key, with the key text shown this once.
pub fn created_key_object(key: &ApiKeySummary, secret: &str) -> ApiKeyObject {
    ApiKeyObject {
        key: Some(secret.to_owned()),
        ..key_object(key)
    }
}

/// `GET /api/packages/<feed>`: the feed as pgutil sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedInfo {
    id: i64,
    name: String,
    /// Always `universal`.
    feed_type: &'static str,
    /// Always `upack`.
    package_type: &'static str,
}

/// The feed as pgutil sees it.
pub fn feed_info(feed: &Feed) -> FeedInfo {
    FeedInfo {
        id: feed.id,
        name: feed.name.clone(),
        feed_type: "universal",
        package_type: "upack",
    }
}

/// `GET /health`: whether this process can serve (`ProGet`'s field names).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    application_name: &'static str,
    version_number: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// `OK` or `Error`.
    database_status: &'static str,
    /// Empty, or a sentence saying what is wrong (the log has the reason).
    database_status_details: &'static str,
    /// `OK` or `Error`.
    service_status: &'static str,
}

/// `GET /health/ready`: whether this process should be sent traffic.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `OK` or `Error`: both of the others are `OK`.
    status: &'static str,
    /// `OK` or `Error`.
    database: &'static str,
    /// `OK` or `Error`.
    storage: &'static str,
}

/// The readiness answer.
pub fn readiness(database_ok: bool, storage_ok: bool) -> Readiness {
    let word = |ok: bool| if ok { "OK" } else { "Error" };
    Readiness {
        status: word(database_ok && storage_ok),
        database: word(database_ok),
        storage: word(storage_ok),
    }
}

/// The health answer for a database that is (or is not) reachable.
pub fn health(database: &'static str, database_ok: bool) -> Health {
    let (status, details) = if database_ok {
        ("OK", "")
    } else {
        (
            "Error",
            "The database cannot be reached; the server log has the reason.",
        )
    };
    Health {
        application_name: "Wharf",
        version_number: env!("CARGO_PKG_VERSION"),
        database,
        database_status: status,
        database_status_details: details,
        service_status: status,
    }
}

/// A connector as the management API shows it (never its credentials).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorObject {
    name: String,
    /// The feed it serves.
    feed: String,
    /// Its place among the feed's connectors, from 1.
    position: i32,
    url: String,
    /// Always `universal`.
    feed_type: &'static str,
    /// Seconds.
    timeout: i32,
    /// Name patterns; `!` excludes.
    filters: Vec<String>,
    /// Whether credentials are stored (they are never shown).
    has_credentials: bool,
    created: DateTime<Utc>,
}

/// A connector as the management API shows it.
pub fn connector_object(connector: &Connector) -> ConnectorObject {
    ConnectorObject {
        name: connector.name.clone(),
        feed: connector.feed.clone(),
        position: connector.position,
        url: connector.url.clone(),
        feed_type: "universal",
        timeout: connector.timeout_seconds,
        filters: connector
            .include
            .iter()
            .cloned()
            .chain(connector.exclude.iter().map(|p| format!("!{p}")))
            .collect(),
        has_credentials: connector.has_credentials,
        created: connector.created_at,
    }
}
