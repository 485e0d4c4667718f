//! Listings: `packages`, `versions`, `search`, `meta`, served from the
//! listing cache.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
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
        return json_listing(&wharf, &feed, listing, "package", |listed| {
            listed
                .into_packages()
                .first()
                .map(wire::package_object)
                // ProGet's text, which scripts look for: "package was not found".
                .ok_or_else(|| ServiceError::NotFound(format!("The package was not found: {id}.")))
        })
        .await;
    }
    let listing = Listing::Packages {
        group,
        name: None,
        limit: Some(query.count()?.unwrap_or(1000)),
        offset: None,
    };
    json_listing(&wharf, &feed, listing, "packages", |listed| {
        Ok(listed
            .into_packages()
            .iter()
            .map(wire::package_object)
            .collect::<Vec<_>>())
    })
    .await
}

/// The `group` query value; `*` and none mean every group.
fn group_of(query: &Query) -> Result<Option<GroupName>, ServiceError> {
    Ok(query
        .get("group")
        .filter(|g| *g != "*")
        .map(GroupName::parse)
        .transpose()?)
}

/// Answers with a listing rendered as JSON by `render`, from the listing cache.
async fn json_listing<R, T>(
    wharf: &Wharf,
    feed: &Feed,
    listing: Listing,
    rendering: &'static str,
    render: R,
) -> Result<HttpResponse, ServiceError>
where
    R: FnOnce(Listed) -> Result<T, ServiceError>,
    T: Serialize,
{
    let body = listings::rendered(wharf, feed, listing, rendering, |listed| {
        Ok(wire::to_bytes(&render(listed)?))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
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
    let listing = Listing::Search {
        term,
        group: None,
        limit,
        offset: 0,
    };
    json_listing(&wharf, &feed, listing, "search", |listed| {
        Ok(listed
            .into_packages()
            .iter()
            .map(wire::package_object)
            .collect::<Vec<_>>())
    })
    .await
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
        let selector = VersionSelector::Exact(Version::parse(&version)?);
        let row = packages::resolve(&wharf, &feed, &id, &selector).await?;
        return Ok(json_response(wire::version_object(&row, include_files)));
    }
    let listing = Listing::Versions {
        group,
        // `count` caps the list (default 1000) unless a package is named.
        limit: if name.is_some() {
            None
        } else {
            Some(query.count()?.unwrap_or(1000))
        },
        name,
    };
    let rendering = if include_files {
        "versions with files"
    } else {
        "versions"
    };
    json_listing(&wharf, &feed, listing, rendering, |listed| {
        Ok(listed
            .into_versions()
            .iter()
            .map(|version| wire::version_object(version, include_files))
            .collect::<Vec<_>>())
    })
    .await
}
