//! Listings: `packages`, `versions`, `search`, `meta`, served from the
//! listing cache.

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::connectors::{merge, upstream};
use crate::service::listings::{self, Listed, Listing};
use crate::service::model::Feed;
use crate::service::packages::{self, VersionSelector};
use crate::service::{Caller, Wharf, access};

use super::super::query::Query;
use super::super::wire;
use super::address::Address;

fn json_response(value: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// `GET packages[?group=&name=&count=]`: an array, or one object with `name`.
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/packages", tag = "upack",
    params(
        super::super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "Only this group (`*` or absent: every group; empty: no group)."),
        ("name" = Option<String>, Query, description = "One package: the answer is one object, not an array."),
        ("count" = Option<i64>, Query, description = "At most this many packages (default 1000)."),
    ),
    responses(
        (status = 200, description = "The packages (an object with `name`).", body = Vec<wire::PackageObject>),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn list_packages(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let group = group_of(&query)?;
    if let Some(name) = query.non_empty("name") {
        let id = PackageId::new(group.unwrap_or_default(), PackageName::parse(name)?);
        let listing = Listing::Packages {
            group: Some(id.group.clone()),
            name: Some(id.name.clone()),
            limit: None,
            offset: None,
        };
        // The object itself, or `null`: a feed without connectors answers
        // with the cached bytes as they are.
        let local = rendered(&wharf, &feed, listing, "package", |listed| {
            Ok(listed.into_packages().first().map(wire::package_object))
        })
        .await?;
        // ProGet's text, which scripts look for: "package was not found".
        let not_found = || ServiceError::NotFound(format!("The package was not found: {id}."));
        let found_here = local.as_ref() != b"null";
        if upstream::connectors_of(&wharf, &feed, None)
            .await?
            .is_empty()
        {
            return if found_here {
                Ok(json_body(local))
            } else {
                Err(not_found())
            };
        }
        let local = if found_here {
            Bytes::from([b"[", local.as_ref(), b"]"].concat())
        } else {
            Bytes::from_static(b"[]")
        };
        let mut remote_query = vec![("name", id.name.as_str().to_owned())];
        if !id.group.as_str().is_empty() {
            remote_query.push(("group", id.group.as_str().to_owned()));
        }
        let merged =
            with_remotes(&wharf, &feed, local, Remote::Packages, &remote_query, None).await?;
        let found = serde_json::from_slice::<Vec<Value>>(&merged)
            .ok()
            .and_then(|packages| packages.into_iter().next());
        return found.map(json_response).ok_or_else(not_found);
    }
    let count = query.count()?.unwrap_or(1000);
    let mut remote_query = vec![("count", count.to_string())];
    if let Some(group) = &group {
        remote_query.push(("group", group.as_str().to_owned()));
    }
    let listing = Listing::Packages {
        group,
        name: None,
        limit: Some(count),
        offset: None,
    };
    let local = rendered(&wharf, &feed, listing, "packages", |listed| {
        Ok(listed
            .into_packages()
            .iter()
            .map(wire::package_object)
            .collect::<Vec<_>>())
    })
    .await?;
    let body = with_remotes(
        &wharf,
        &feed,
        local,
        Remote::Packages,
        &remote_query,
        Some(count),
    )
    .await?;
    Ok(json_body(body))
}

/// The `group` query value; `*` and none mean every group.
fn group_of(query: &Query) -> Result<Option<GroupName>, ServiceError> {
    Ok(query
        .get("group")
        .filter(|g| *g != "*")
        .map(GroupName::parse)
        .transpose()?)
}

/// A listing rendered as JSON by `render`, from the listing cache.
async fn rendered<R, T>(
    wharf: &Wharf,
    feed: &Feed,
    listing: Listing,
    rendering: &'static str,
    render: R,
) -> Result<Bytes, ServiceError>
where
    R: FnOnce(Listed) -> Result<T, ServiceError>,
    T: Serialize,
{
    listings::rendered(wharf, feed, listing, rendering, |listed| {
        Ok(wire::to_bytes(&render(listed)?))
    })
    .await
}

/// Which remote listing a feed's listing merges.
#[derive(Clone, Copy)]
enum Remote {
    Packages,
    Search,
    Versions,
}

/// The feed's rendered listing `local`, merged with what its connectors
/// list at the same endpoint for `query` and cut to `count` items
/// (unchanged when it has no connectors).
async fn with_remotes(
    wharf: &Wharf,
    feed: &Feed,
    local: Bytes,
    endpoint: Remote,
    query: &[(&'static str, String)],
    count: Option<i64>,
) -> Result<Bytes, ServiceError> {
    if upstream::connectors_of(wharf, feed, None).await?.is_empty() {
        return Ok(local);
    }
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let name = match endpoint {
        Remote::Packages => "packages",
        Remote::Search => "search",
        Remote::Versions => "versions",
    };
    let remote = upstream::remote_listings(wharf, feed, name, &query).await?;
    let local: Vec<Map<String, Value>> = serde_json::from_slice(&local).unwrap_or_default();
    let mut merged = match endpoint {
        Remote::Packages | Remote::Search => merge::packages(local, remote),
        Remote::Versions => merge::versions(local, remote),
    };
    if let Some(count) = count {
        merged.truncate(usize::try_from(count).unwrap_or(0));
    }
    Ok(wire::to_bytes(&merged))
}

fn json_body(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// `GET search?term=` (clients send `term`; the docs say `query`): packages
/// whose name, title or description contains the term, ignoring case.
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/search", tag = "upack",
    params(
        super::super::openapi::FeedPath,
        ("term" = Option<String>, Query, description = "Text to find in names, titles and descriptions, ignoring case (also `query`)."),
        ("count" = Option<i64>, Query, description = "At most this many packages (default 1000)."),
    ),
    responses(
        (status = 200, description = "The packages found.", body = Vec<wire::PackageObject>),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn search(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let term = query
        .get("term")
        .or_else(|| query.get("query"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let limit = usize::try_from(query.count()?.unwrap_or(1000)).unwrap_or(usize::MAX);
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let remote_query = [("term", term.clone()), ("count", limit.to_string())];
    let listing = Listing::Search {
        term,
        group: None,
        limit,
        offset: 0,
    };
    let local = rendered(&wharf, &feed, listing, "search", |listed| {
        Ok(listed
            .into_packages()
            .iter()
            .map(wire::package_object)
            .collect::<Vec<_>>())
    })
    .await?;
    let count = i64::try_from(limit).ok();
    let body = with_remotes(&wharf, &feed, local, Remote::Search, &remote_query, count).await?;
    Ok(json_body(body))
}

/// `GET meta`: the feed's metadata and the API services it offers.
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/meta", tag = "upack",
    params(super::super::openapi::FeedPath),
    responses(
        (status = 200, description = "The feed's metadata.", body = wire::FeedMetadata),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn feed_metadata(
    address: Address,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let (package_count, version_count) = packages::counts(&wharf, &feed).await?;
    Ok(json_response(wire::feed_metadata(
        &feed,
        package_count,
        version_count,
    )))
}

/// `GET versions[?group=&name=&version=&includeFileList=&count=]`: an array,
/// or one object when `version` is given.
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/versions", tag = "upack",
    params(
        super::super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "Only this group (`*` or absent: every group)."),
        ("name" = Option<String>, Query, description = "Only this package."),
        ("version" = Option<String>, Query, description = "One version (needs `name`): the answer is one object."),
        ("includeFileList" = Option<bool>, Query, description = "Add `fileList` to each version."),
        ("count" = Option<i64>, Query, description = "At most this many versions when no package is named (default 1000)."),
    ),
    responses(
        (status = 200, description = "The versions, highest first (an object with `version`).", body = Vec<wire::VersionObject>),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn list_versions(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let include_files = query.flag("includeFileList")?;
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let group = group_of(&query)?;
    let name = query
        .non_empty("name")
        .map(PackageName::parse)
        .transpose()?;
    if let Some(version) = query.version() {
        let name = name.ok_or_else(|| {
            ServiceError::BadRequest("name is required when version is given.".to_owned())
        })?;
        let id = PackageId::new(group.unwrap_or_default(), name);
        let version = Version::parse(&version)?;
        let selector = VersionSelector::Exact(version.clone());
        return match packages::resolve(&wharf, &feed, &id, &selector).await {
            Ok(row) => Ok(json_response(wire::version_object(&row, include_files))),
            Err(ServiceError::NotFound(missing)) => {
                match upstream::remote_version_object(&wharf, &feed, &id, &version).await? {
                    Some(object) => Ok(json_response(
                        merge::versions(Vec::new(), vec![object]).pop(),
                    )),
                    None => Err(ServiceError::NotFound(missing)),
                }
            }
            Err(other) => Err(other),
        };
    }
    // `count` caps the list (default 1000) unless a package is named.
    let count = if name.is_some() {
        None
    } else {
        Some(query.count()?.unwrap_or(1000))
    };
    let mut remote_query = Vec::new();
    if let Some(group) = &group {
        remote_query.push(("group", group.as_str().to_owned()));
    }
    if let Some(name) = &name {
        remote_query.push(("name", name.as_str().to_owned()));
    }
    if let Some(count) = count {
        remote_query.push(("count", count.to_string()));
    }
    let listing = Listing::Versions {
        group,
        limit: count,
        name,
    };
    let rendering = if include_files {
        "versions with files"
    } else {
        "versions"
    };
    let local = rendered(&wharf, &feed, listing, rendering, |listed| {
        Ok(listed
            .into_versions()
            .iter()
            .map(|version| wire::version_object(version, include_files))
            .collect::<Vec<_>>())
    })
    .await?;
    let body = with_remotes(&wharf, &feed, local, Remote::Versions, &remote_query, count).await?;
    Ok(json_body(body))
}
