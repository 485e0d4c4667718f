//! The subset of `ProGet`'s Common Packages API (`/api/packages/<feed>/...`)
//! that `pgutil packages ...` uses for universal feeds.
//!
//! Packages are named by query parameters (`group`, `name`, `version`). A
//! `version` may be `latest` (`ProGet`'s docs: latest stable... and elsewhere
//! any; Wharf uses its default latest rule), `latest-stable` or
//! `latest-unstable`. Without `group`, a name must identify one package.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use crate::domain::{GroupName, LatestRule, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::listings::{self, Listing};
use crate::service::model::{Feed, VersionDetail};
use crate::service::packages::{self, StoredBytes, VersionSelector};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::query::Query;
use super::{download, wire};

pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(
        web::scope("/api/packages/{feed}")
            .service(Endpoint::new("").get(feed_info).build())
            .service(Endpoint::new("/latest").get(latest).build())
            .service(Endpoint::new("/versions").get(versions).build())
            .service(Endpoint::new("/download").get(download_package).build())
            .service(
                Endpoint::new("/upload")
                    .each(&[M::PUT, M::POST], upload)
                    .build(),
            )
            .service(
                Endpoint::new("/upload/{file}")
                    .each(&[M::PUT, M::POST], upload)
                    .build(),
            )
            .service(
                Endpoint::new("/delete")
                    .each(&[M::POST, M::DELETE], delete)
                    .build(),
            ),
    );
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
async fn feed_info(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &feed_name(&req), Permission::View).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": feed.id,
        "name": feed.name,
        "feedType": "universal",
        "packageType": "upack",
    })))
}

/// `GET latest[?group=&name=&stableOnly=]`: the latest version of each package.
async fn latest(
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
    let latest: Vec<Value> = found
        .into_packages()
        .iter()
        .filter_map(|package| package.latest_by(rule))
        .map(wire::version_info)
        .collect();
    Ok(HttpResponse::Ok().json(latest))
}

/// `GET versions[?group=&name=&version=]`: always an array.
async fn versions(
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
    let versions: Vec<Value> = found
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
async fn download_package(
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
async fn upload(
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
    Ok(HttpResponse::Ok().json(json!({
        "name": published.name,
        "group": published.group,
        "version": published.version,
        "sha1": published.sha1,
        "sha256": published.sha256,
        "size": published.size_bytes,
    })))
}

/// `POST delete?name=&version=[&group=]`.
async fn delete(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let query = Query::parse(req.query_string());
    let (_, row) = find_one(
        &wharf,
        &caller,
        &feed_name(&req),
        &query,
        Permission::Delete,
    )
    .await?;
    packages::delete(&wharf, &row).await?;
    Ok(HttpResponse::Ok().finish())
}
