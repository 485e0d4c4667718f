//! The subset of `ProGet`'s Common Packages API (`/api/packages/<feed>/...`)
//! that `pgutil packages ...` uses for universal feeds.
//!
//! Packages are named by query parameters (`group`, `name`, `version`). A
//! `version` may be `latest` (`ProGet`'s docs: latest stable... and elsewhere
//! any; Wharf uses its default latest rule), `latest-stable` or
//! `latest-unstable`. Without `group`, a name must identify one package.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use super::endpoint::{Endpoint, Routes};
use crate::domain::{GroupName, LatestRule, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::listings::{self, Listing};
use crate::service::model::{Feed, VersionDetail};
use crate::service::packages::{self, StoredBytes, VersionSelector};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::query::Query;
use super::{download, wire};

pub fn routes(routes: &mut Routes) {
    use Method as M;
    routes.scope("/api/packages/{feed}", |routes| {
        routes
            .add(Endpoint::new("").get(feed_info))
            .add(Endpoint::new("/latest").get(latest))
            .add(Endpoint::new("/versions").get(versions))
            .add(Endpoint::new("/download").get(download_package))
            .add(Endpoint::new("/upload").each(&[M::PUT, M::POST], upload))
            .add(Endpoint::new("/upload/{file}").each(&[M::PUT, M::POST], upload))
            .add(Endpoint::new("/delete").each(&[M::POST, M::DELETE], delete));
    });
}

fn feed_name(req: &HttpRequest) -> String {
    req.match_info().get("feed").unwrap_or_default().to_owned()
}

/// The `group` and `name` a query names, each optional.
fn group_and_name(query: &Query) -> Result<(Option<GroupName>, Option<PackageName>), ServiceError> {
    Ok((
        query.get("group").map(GroupName::parse).transpose()?,
        query
            .non_empty("name")
            .map(PackageName::parse)
            .transpose()?,
    ))
}

/// `GET /api/packages/<feed>`: what pgutil checks before downloads.
#[utoipa::path(
    method(get, head), path = "/api/packages/{feed}", tag = "pgutil", operation_id = "pgutil_feed_info",
    params(super::openapi::FeedPath),
    responses((status = 200, description = "The feed.", body = wire::FeedInfo), super::openapi::Refusals)
)]
pub(super) async fn feed_info(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &feed_name(&req), Permission::View).await?;
    Ok(HttpResponse::Ok().json(wire::feed_info(&feed)))
}

/// `GET latest[?group=&name=&stableOnly=]`: the latest version of each package.
#[utoipa::path(
    method(get, head), path = "/api/packages/{feed}/latest", tag = "pgutil", operation_id = "pgutil_latest",
    params(
        super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "The package's group."),
        ("name" = Option<String>, Query, description = "The package's name."),
        ("stableOnly" = Option<bool>, Query, description = "Ignore prereleases."),
    ),
    responses((status = 200, description = "The latest version of each package.", body = Vec<wire::VersionInfo>), super::openapi::Refusals)
)]
pub(super) async fn latest(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let stable_only = query.flag("stableOnly")?;
    let feed = access::feed_for(&wharf, &caller, &feed_name(&req), Permission::View).await?;
    let (group, name) = group_and_name(&query)?;
    let rule = if stable_only {
        LatestRule::StableOnly
    } else {
        LatestRule::StableElsePrerelease
    };
    let listing = Listing::Packages {
        group,
        name,
        limit: None,
        offset: None,
    };
    let found = listings::list(&wharf, &feed, &listing).await?;
    let latest: Vec<wire::VersionInfo> = found
        .into_packages()
        .iter()
        .filter_map(|package| package.latest_by(rule))
        .map(wire::version_info)
        .collect();
    Ok(HttpResponse::Ok().json(latest))
}

/// `GET versions[?group=&name=&version=]`: always an array.
#[utoipa::path(
    method(get, head), path = "/api/packages/{feed}/versions", tag = "pgutil", operation_id = "pgutil_versions",
    params(
        super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "The package's group."),
        ("name" = Option<String>, Query, description = "The package's name."),
        ("version" = Option<String>, Query, description = "One version."),
    ),
    responses((status = 200, description = "The versions, always an array.", body = Vec<wire::VersionInfo>), super::openapi::Refusals)
)]
pub(super) async fn versions(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let feed = access::feed_for(&wharf, &caller, &feed_name(&req), Permission::View).await?;
    let wanted = query.version().map(|v| Version::parse(&v)).transpose()?;
    let (group, name) = group_and_name(&query)?;
    let listing = Listing::Versions {
        group,
        name,
        limit: None,
    };
    let found = listings::list(&wharf, &feed, &listing).await?;
    let versions: Vec<wire::VersionInfo> = found
        .into_versions()
        .iter()
        .filter(|found| {
            wanted
                .as_ref()
                .is_none_or(|w| Version::parse(found.version()).is_ok_and(|v| v == *w))
        })
        .map(wire::version_info)
        .collect();
    Ok(HttpResponse::Ok().json(versions))
}

/// Finds the one version a `name`/`group`/`version` query names.
async fn find_one(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    query: &Query,
    permission: Permission,
) -> Result<(Feed, VersionDetail), ServiceError> {
    if query.non_empty("purl").is_some() {
        return Err(ServiceError::BadRequest(
            "purl is not supported here; identify the package with name, group and version."
                .to_owned(),
        ));
    }
    let name = PackageName::parse(query.non_empty("name").unwrap_or(""))?;
    let version = query.version().ok_or_else(|| {
        ServiceError::BadRequest(
            "version is required (a version, latest, latest-stable or latest-unstable).".to_owned(),
        )
    })?;
    let selector = VersionSelector::parse(&version)?;
    let feed = access::feed_for(wharf, caller, feed_name, permission).await?;
    let group = if let Some(group) = query.get("group") {
        GroupName::parse(group)?
    } else {
        packages::only_group_of(wharf, &feed, &name).await?
    };
    let row = packages::resolve(wharf, &feed, &PackageId::new(group, name), &selector).await?;
    Ok((feed, row))
}

/// `GET download?name=&version=[&group=]`.
#[utoipa::path(
    method(get, head), path = "/api/packages/{feed}/download", tag = "pgutil", operation_id = "pgutil_download_package",
    params(
        super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "The package's group."),
        ("name" = Option<String>, Query, description = "The package's name."),
        ("version" = Option<String>, Query, description = "The version; absent: the latest."),
    ),
    responses((status = 200, description = "The package file.", content_type = "application/zip", body = Vec<u8>), super::openapi::Refusals)
)]
pub(super) async fn download_package(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let (feed, row) = find_one(
        &wharf,
        &caller,
        &feed_name(&req),
        &query,
        Permission::Download,
    )
    .await?;
    let bytes: StoredBytes = packages::package_bytes(&wharf, &feed, &row).await?;
    let file_name = row.file_name("upack");
    download::stored_bytes(&req, &wharf, &bytes, "application/zip", file_name).await
}

/// `PUT upload[/<file name>]`: the raw package file, no content type.
#[utoipa::path(
    method(put, post), path = "/api/packages/{feed}/upload", tag = "pgutil", operation_id = "pgutil_upload",
    params(super::openapi::FeedPath),
    request_body(description = "The raw package file.", content(("application/octet-stream"))),
    responses(
        (status = 200, description = "Stored.", body = wire::StoredPackage),
        (status = 409, description = "The version exists and the key lacks `overwrite`.", content_type = "text/plain", body = String),
        super::openapi::Refusals,
    )
)]
pub(super) async fn upload(
    req: HttpRequest,
    body: web::Payload,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let published = publish::publish(
        &wharf,
        &caller,
        &feed_name(&req),
        body,
        UploadHints {
            declared_length: super::content_length(&req),
            ..UploadHints::default()
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(wire::stored_package_for_pgutil(&published)))
}

/// `POST delete?name=&version=[&group=]`.
#[utoipa::path(
    method(post, delete), path = "/api/packages/{feed}/delete", tag = "pgutil", operation_id = "pgutil_delete",
    params(
        super::openapi::FeedPath,
        ("group" = Option<String>, Query, description = "The package's group."),
        ("name" = Option<String>, Query, description = "The package's name."),
        ("version" = String, Query, description = "The version."),
    ),
    responses((status = 200, description = "Deleted."), super::openapi::Refusals)
)]
pub(super) async fn delete(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let (feed, row) = find_one(
        &wharf,
        &caller,
        &feed_name(&req),
        &query,
        Permission::Delete,
    )
    .await?;
    packages::delete(&wharf, &feed, &row).await?;
    Ok(HttpResponse::Ok().finish())
}
