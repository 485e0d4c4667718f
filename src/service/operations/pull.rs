//! Pull: fetch a package from one of a feed's connectors and store it, as
//! an APS catalog's `download-package` fetches a package from a remote
//! catalog by name (the highest version when none is given).
//!
//! The request names the feed, the package, optionally a version and a
//! `source`, which must equal one of the feed's connector URLs character
//! for character (a trailing slash matters: `unknown_source` otherwise);
//! without it the feed's first connector is used. The run asks the remote's
//! Universal Feed API for the package's versions, picks the version (the
//! latest rule when none was asked for), downloads it into this process's
//! scratch folder while computing its SHA-1, refuses it when that differs
//! from the SHA-1 the remote lists, and stores it through `ingest`, like an
//! upload (the same validation and 409 rule, as the requester).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{FeedScope, Grant, GroupName, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::auth::Principal;
use crate::service::connectors;
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::{Failure, Kind, Operation, Progress, RunResult};
use crate::service::connectors::remote::{Remote, Wanted};

/// The most packages one pull request may ask for.
pub const MAX_BATCH: usize = 100;

/// One package to pull, as the API takes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequest {
    pub feed: String,
    #[serde(default)]
    pub group: String,
    pub name: String,
    pub version: Option<String>,
    pub source: Option<String>,
}

/// What is stored: the request checked, with its connector chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    feed: String,
    group: String,
    name: String,
    version: Option<String>,
    connector: String,
    source: String,
    /// The requester may replace an existing version (their `overwrite`).
    overwrite: bool,
}

/// Checks every request of a batch (the caller's `add` on each feed, names,
/// versions, sources) and, only if all pass, queues one operation each.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request(
    wharf: &Wharf,
    caller: &Caller,
    requests: Vec<PullRequest>,
) -> Result<Vec<Operation>, ServiceError> {
    if requests.is_empty() {
        return Err(ServiceError::BadRequest(
            "Name at least one package to pull.".to_owned(),
        ));
    }
    if requests.len() > MAX_BATCH {
        return Err(ServiceError::BadRequest(format!(
            "One request may pull at most {MAX_BATCH} packages, not {}; send several.",
            requests.len()
        )));
    }
    let mut checked = Vec::with_capacity(requests.len());
    for request in requests {
        checked.push(check(wharf, caller, request).await?);
    }
    let mut queued = Vec::with_capacity(checked.len());
    for stored in checked {
        let json = serde_json::to_value(&stored).unwrap_or(Value::Null);
        queued.push(super::enqueue(wharf, caller, Kind::Pull, &json).await?);
    }
    Ok(queued)
}

async fn check(
    wharf: &Wharf,
    caller: &Caller,
    request: PullRequest,
) -> Result<Stored, ServiceError> {
    let feed = access::feed_for(wharf, caller, &request.feed, Permission::Add).await?;
    GroupName::parse(&request.group)?;
    PackageName::parse(&request.name)?;
    if let Some(version) = &request.version {
        Version::parse(version)?;
    }
    let candidates = connectors::list(wharf, Some(&feed.name)).await?;
    let connector = match &request.source {
        Some(source) => candidates.iter().find(|c| &c.url == source).ok_or_else(|| {
            let known: Vec<&str> = candidates.iter().map(|c| c.url.as_str()).collect();
            ServiceError::Refused {
                code: "unknown_source",
                message: format!(
                    "The source '{source}' is not a connector of feed '{}' (its connectors: {}); it must match one exactly.",
                    feed.name,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            }
        })?,
        None => candidates.first().ok_or_else(|| ServiceError::Refused {
            code: "no_connector",
            message: format!("Feed '{}' has no connectors to pull from.", feed.name),
        })?,
    };
    if !connector.admits(&request.name) {
        return Err(ServiceError::Refused {
            code: "excluded_by_connector",
            message: format!(
                "Connector '{}' does not offer packages named '{}' (its filters exclude it).",
                connector.name, request.name
            ),
        });
    }
    Ok(Stored {
        overwrite: caller.may(Permission::Overwrite, &feed),
        feed: feed.name,
        group: request.group,
        name: request.name,
        version: request.version,
        connector: connector.name.clone(),
        source: connector.url.clone(),
    })
}

/// Runs a queued pull.
pub(super) async fn run(
    wharf: &Wharf,
    request: &Value,
    requested_by: &str,
    progress: &Progress,
) -> RunResult {
    let stored: Stored = serde_json::from_value(request.clone())
        .map_err(|e| Failure::new("internal", 500, format!("The request cannot be read: {e}")))?;
    let connector = connectors::get(wharf, &stored.connector)
        .await
        .map_err(|_| {
            Failure::new(
                "source_config_invalid",
                400,
                format!("The connector '{}' no longer exists.", stored.connector),
            )
        })?;
    let remote = Remote::of(wharf, &connector)?;
    let wanted = Wanted {
        group: &stored.group,
        name: &stored.name,
        version: stored.version.as_deref(),
    };
    let chosen = remote.pick(&wanted).await?;
    let spooled = remote.download(wharf, &wanted, &chosen, progress).await?;
    // The requester, with what was checked at the request: add (and
    // overwrite, if they held it) on this feed alone.
    let grant = std::sync::Arc::new(Grant {
        permissions: if stored.overwrite {
            [Permission::Add, Permission::Overwrite].into()
        } else {
            [Permission::Add].into()
        },
        scope: FeedScope::Only([stored.feed.to_ascii_lowercase()].into()),
    });
    let principal = match requested_by.strip_prefix("key:") {
        Some(id) => Principal::Key {
            id: id.into(),
            grant,
        },
        None => Principal::User {
            username: requested_by.to_owned(),
            grant,
        },
    };
    let file = tokio::fs::File::open(spooled.file.path())
        .await
        .map_err(|e| Failure::new("internal", 500, format!("The download cannot be read: {e}")))?;
    let body = tokio_util::io::ReaderStream::new(file);
    let published = publish::ingest(
        wharf,
        &principal,
        &stored.feed,
        body,
        UploadHints::default(),
    )
    .await
    .map_err(Failure::from)?;
    Ok((
        201,
        json!({
            "group": published.group, "name": published.name, "version": published.version,
            "sha1": published.sha1, "sha256": published.sha256, "size": published.size_bytes,
            "source": connector.url,
        }),
    ))
}
