//! On-demand fetch: a feed with connectors answers for the packages its
//! remotes hold as if it held them.
//!
//! A download of a version the feed lacks asks the feed's connectors in
//! order (only those whose patterns admit the name), fetches the version
//! from the first that lists it, verifies the SHA-1 it lists, and stores it
//! through `ingest` as a cached copy (`isCached: true, isLocal: false`) before
//! serving it from here. `latest` weighs the remotes' versions too: a higher
//! remote version is fetched. Listings (`packages`, `versions`, `search`)
//! merge what the remotes list (see `merge`).
//!
//! What remotes list is cached per connector and query for
//! `connectors.metadata_cache_seconds`; a version a cached listing lacks is
//! asked for again before a 404, so only `latest` and listings can be that
//! stale. Each remote request is bounded by its connector's timeout, and a
//! connector that failed is passed over for [`FAILED_CONNECTOR_PAUSE`]: a
//! slow or dead remote never holds a local answer longer than its timeout,
//! and then not again at once. Concurrent requests for one missing version
//! fetch it once per process; across processes, the store's 409 rule
//! decides and the loser serves the winner's copy.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Connector;
use super::remote::{Remote, RemoteVersion, Wanted};
use crate::domain::{FeedScope, Grant, LatestRule, PackageId, Permission, Version};
use crate::error::ServiceError;
use crate::service::auth::Principal;
use crate::service::model::{Feed, VersionDetail};
use crate::service::operations::{Failure, Progress};
use crate::service::publish::{self, UploadHints};
use crate::service::resolve::{VersionSelector, resolve};
use crate::service::{Wharf, connectors};

/// How long a connector that failed is passed over.
pub const FAILED_CONNECTOR_PAUSE: Duration = Duration::from_secs(10);

/// One remote listing: connector, endpoint and query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ListingKey {
    connector_id: i64,
    /// The URL too: a connector pointed elsewhere lists afresh.
    url: String,
    endpoint: &'static str,
    query: Vec<(String, String)>,
}

/// A version being fetched into a feed.
type FetchKey = (i64, String, String, Vec<u8>);

/// What this process remembers of its feeds' remotes.
pub struct Upstream {
    /// What remotes listed, for the metadata cache's lifetime.
    listings: moka::future::Cache<ListingKey, Arc<Vec<Map<String, Value>>>>,
    /// Connectors that failed lately, with why.
    failed: moka::sync::Cache<i64, Failure>,
    /// Fetches in flight (entries are removed when they end).
    fetches: moka::future::Cache<FetchKey, ()>,
}

impl Upstream {
    /// Remembers listings for `metadata_lifetime`.
    pub fn new(metadata_lifetime: Duration) -> Self {
        Self {
            listings: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(metadata_lifetime)
                .build(),
            failed: moka::sync::Cache::builder()
                .time_to_live(FAILED_CONNECTOR_PAUSE)
                .build(),
            fetches: moka::future::Cache::builder().build(),
        }
    }
}

/// The feed's connectors that offer packages named `name` (every one
/// without a name), in order.
pub async fn connectors_of(
    wharf: &Wharf,
    feed: &Feed,
    name: Option<&str>,
) -> Result<Vec<Connector>, ServiceError> {
    let all = wharf
        .caches
        .connectors(feed.id, || connectors::of_feed(wharf, feed))
        .await?;
    Ok(all
        .iter()
        .filter(|c| name.is_none_or(|name| c.admits(name)))
        .cloned()
        .collect())
}

/// What `connector` lists at `endpoint` for `query`, from the metadata
/// cache unless `fresh`.
async fn listing(
    wharf: &Wharf,
    connector: &Connector,
    endpoint: &'static str,
    query: &[(&str, &str)],
    fresh: bool,
) -> Result<Arc<Vec<Map<String, Value>>>, Failure> {
    let upstream = &wharf.upstream;
    if let Some(failure) = upstream.failed.get(&connector.id) {
        return Err(failure);
    }
    let key = ListingKey {
        connector_id: connector.id,
        url: connector.url.clone(),
        endpoint,
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    if fresh {
        upstream.listings.invalidate(&key).await;
    }
    let asked = upstream
        .listings
        .try_get_with(key, async {
            let remote = Remote::of(wharf, connector)?;
            remote.listing(endpoint, query).await.map(Arc::new)
        })
        .await
        .map_err(|failure| Failure::clone(&failure));
    if let Err(failure) = &asked {
        tracing::warn!(connector = %connector.name, code = %failure.code, "{}", failure.message);
        upstream.failed.insert(connector.id, failure.clone());
    }
    asked
}

/// The versions `connector` lists of package `id`.
async fn remote_versions(
    wharf: &Wharf,
    connector: &Connector,
    id: &PackageId,
    fresh: bool,
) -> Result<Vec<RemoteVersion>, Failure> {
    let mut query = vec![("name", id.name.as_str())];
    if !id.group.as_str().is_empty() {
        query.push(("group", id.group.as_str()));
    }
    let listed = listing(wharf, connector, "versions", &query, fresh).await?;
    Ok(listed
        .iter()
        .filter_map(|object| RemoteVersion::read(object.clone()))
        .filter(|v| same_package(&v.object, id))
        .collect())
}

fn same_package(object: &Map<String, Value>, id: &PackageId) -> bool {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    text("name").eq_ignore_ascii_case(id.name.as_str())
        && text("group").eq_ignore_ascii_case(id.group.as_str())
}

/// The sentence for a version no connector could be asked about.
fn unreachable(
    id: &PackageId,
    feed: &Feed,
    connector: &Connector,
    failure: &Failure,
) -> ServiceError {
    ServiceError::BadGateway(format!(
        "The package {id} is not stored in feed '{}', and its connector '{}' failed: {}",
        feed.name, connector.name, failure.message
    ))
}

/// The version `selector` picks for a download, through the feed's
/// connectors when the feed lacks it (or, for `latest`, when a remote has
/// a higher one): fetched, stored as a cached copy, then found here.
#[tracing::instrument(level = "debug", skip(wharf, feed), fields(feed = %feed.name, package = %id))]
pub async fn resolve_or_fetch(
    wharf: &Wharf,
    feed: &Feed,
    id: &PackageId,
    selector: &VersionSelector,
) -> Result<VersionDetail, ServiceError> {
    let local = resolve(wharf, feed, id, selector).await;
    let consult = match (&local, selector) {
        (Ok(_), VersionSelector::Exact(_)) => false,
        (Ok(_) | Err(ServiceError::NotFound(_)), _) => true,
        (Err(_), _) => false,
    };
    if !consult {
        return local;
    }
    let connectors = connectors_of(wharf, feed, Some(id.name.as_str())).await?;
    if connectors.is_empty() {
        return local;
    }
    // Boxed: the remote paths' futures are kilobytes (HTTP clients, the
    // upload path), and inline they would enlarge every local download's.
    match selector {
        VersionSelector::Exact(version) => {
            Box::pin(fetch_exact(wharf, feed, &connectors, id, version, local)).await
        }
        VersionSelector::Latest(rule) => {
            Box::pin(fetch_latest(wharf, feed, &connectors, id, *rule, local)).await
        }
    }
}

/// `version` of `id`, which the feed lacks (`missing` says so): from the
/// first connector that lists it, asking each again before passing on (its
/// remembered listing may predate the version).
async fn fetch_exact(
    wharf: &Wharf,
    feed: &Feed,
    connectors: &[Connector],
    id: &PackageId,
    version: &Version,
    missing: Result<VersionDetail, ServiceError>,
) -> Result<VersionDetail, ServiceError> {
    let mut failed = None;
    for connector in connectors {
        let mut found = None;
        for fresh in [false, true] {
            match remote_versions(wharf, connector, id, fresh).await {
                Ok(versions) => found = versions.into_iter().find(|v| v.version == *version),
                Err(failure) => {
                    failed.get_or_insert((connector, failure));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(chosen) = found {
            fetch(wharf, feed, connector, id, &chosen).await?;
            return resolve(wharf, feed, id, &VersionSelector::Exact(version.clone())).await;
        }
    }
    match failed {
        Some((connector, failure)) => Err(unreachable(id, feed, connector, &failure)),
        None => missing,
    }
}

/// The latest version of `id` by `rule` among the feed's (`local`) and
/// every connector's, fetched when it is a remote's. Connectors that fail
/// are passed over while the feed has an answer of its own.
async fn fetch_latest(
    wharf: &Wharf,
    feed: &Feed,
    connectors: &[Connector],
    id: &PackageId,
    rule: LatestRule,
    local: Result<VersionDetail, ServiceError>,
) -> Result<VersionDetail, ServiceError> {
    let mut offered: Vec<(&Connector, RemoteVersion)> = Vec::new();
    let mut failed = None;
    for connector in connectors {
        match remote_versions(wharf, connector, id, false).await {
            Ok(versions) => offered.extend(versions.into_iter().map(|v| (connector, v))),
            Err(failure) => {
                failed.get_or_insert((connector, failure));
            }
        }
    }
    let here = local.as_ref().ok().and_then(VersionDetail::parsed_version);
    let best = rule
        .pick(offered.iter().map(|(_, v)| &v.version).chain(&here))
        .cloned();
    let Some(best) = best.filter(|best| here.as_ref() != Some(best)) else {
        // The feed's own is the latest, or nobody has one.
        return match (local, failed) {
            (Err(ServiceError::NotFound(_)), Some((connector, failure))) => {
                Err(unreachable(id, feed, connector, &failure))
            }
            (local, _) => local,
        };
    };
    let Some((connector, chosen)) = offered.iter().find(|(_, v)| v.version == best) else {
        return local;
    };
    fetch(wharf, feed, connector, id, chosen).await?;
    resolve(wharf, feed, id, &VersionSelector::Exact(best)).await
}

/// Fetches `chosen` from `connector` into `feed` as a cached copy, once
/// however many requests want it at the same time.
async fn fetch(
    wharf: &Wharf,
    feed: &Feed,
    connector: &Connector,
    id: &PackageId,
    chosen: &RemoteVersion,
) -> Result<(), ServiceError> {
    let key: FetchKey = (
        feed.id,
        id.group.lower(),
        id.name.lower(),
        chosen.version.precedence_key(),
    );
    let fetches = &wharf.upstream.fetches;
    let fetched = fetches
        // Boxed: the store's whole upload path would otherwise be inlined
        // into every future that may fetch (downloads, assembly, exports).
        .try_get_with(
            key.clone(),
            Box::pin(fetch_now(wharf, feed, connector, id, chosen)),
        )
        .await;
    fetches.invalidate(&key).await;
    fetched.map_err(|failure| match failure.http_status {
        404 => ServiceError::NotFound(failure.message.clone()),
        _ => ServiceError::BadGateway(format!(
            "The package {id} {} could not be fetched through connector '{}': {}",
            chosen.text, connector.name, failure.message
        )),
    })
}

async fn fetch_now(
    wharf: &Wharf,
    feed: &Feed,
    connector: &Connector,
    id: &PackageId,
    chosen: &RemoteVersion,
) -> Result<(), Failure> {
    let remote = Remote::of(wharf, connector)?;
    let wanted = Wanted {
        group: id.group.as_str(),
        name: id.name.as_str(),
        version: Some(&chosen.text),
    };
    let chosen = remote.verifiable(&wanted, chosen.clone())?;
    let spooled = remote
        .download(wharf, &wanted, &chosen, &Progress::default())
        .await?;
    let file = tokio::fs::File::open(spooled.file.path())
        .await
        .map_err(|e| Failure::new("internal", 500, format!("The download cannot be read: {e}")))?;
    // The feed's own doing, on behalf of whoever asked: adding to this feed
    // alone, never replacing.
    let principal = Principal::User {
        username: format!("connector:{}", connector.name),
        grant: Arc::new(Grant {
            permissions: [Permission::Add].into(),
            scope: FeedScope::Only([feed.name_lower().to_owned()].into()),
        }),
    };
    // The identity the remote listed: a package saying otherwise is refused.
    let hints = UploadHints {
        group: Some(id.group.as_str().to_owned()),
        name: Some(id.name.as_str().to_owned()),
        version: Some(chosen.text.clone()),
        cached_from: Some(connector.name.clone()),
        ..UploadHints::default()
    };
    let body = tokio_util::io::ReaderStream::new(file);
    match publish::ingest(wharf, &principal, &feed.name, body, hints).await {
        // Another process stored it meanwhile: theirs is served.
        Ok(_) | Err(ServiceError::Conflict(_)) => {
            tracing::info!(connector = %connector.name, package = %id, version = %chosen.text, "cached from connector");
            Ok(())
        }
        Err(e) => Err(Failure::from(e)),
    }
}

/// What the feed's connectors list at `endpoint` (`packages`, `versions`,
/// `search`) for `query`, each connector's objects whose names it admits,
/// in connector order. A connector that fails is left out (and logged).
pub async fn remote_listings(
    wharf: &Wharf,
    feed: &Feed,
    endpoint: &'static str,
    query: &[(&str, &str)],
) -> Result<Vec<Map<String, Value>>, ServiceError> {
    let mut objects = Vec::new();
    for connector in connectors_of(wharf, feed, None).await? {
        let Ok(listed) = listing(wharf, &connector, endpoint, query, false).await else {
            continue;
        };
        objects.extend(
            listed
                .iter()
                .filter(|o| {
                    o.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|name| connector.admits(name))
                })
                .cloned(),
        );
    }
    Ok(objects)
}

/// The object a remote lists for version `version` of `id`, when the feed
/// lacks it (for `versions?version=`).
pub async fn remote_version_object(
    wharf: &Wharf,
    feed: &Feed,
    id: &PackageId,
    version: &Version,
) -> Result<Option<Map<String, Value>>, ServiceError> {
    for connector in connectors_of(wharf, feed, Some(id.name.as_str())).await? {
        if let Ok(versions) = remote_versions(wharf, &connector, id, false).await
            && let Some(found) = versions.into_iter().find(|v| v.version == *version)
        {
            return Ok(Some(found.object));
        }
    }
    Ok(None)
}
