//! The subset of `ProGet`'s Common Packages API (`/api/packages/<feed>/...`)
//! that `pgutil packages ...` uses for universal feeds.
//!
//! Packages are named by query parameters (`group`, `name`, `version`). A
//! `version` may be `latest` (`ProGet`'s docs: latest stable... and elsewhere
//! any; Wharf uses its default latest rule), `latest-stable` or
//! `latest-unstable`. Without `group`, a name must identify one package.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use crate::db::feeds::FeedRow;
use crate::domain::{GroupName, LatestRule, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::packages::{self, StoredBytes, VersionFilter, VersionRow, VersionSelector};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::download;
use super::query::Query;

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

/// `PackageVersionInfo`, as pgutil reads it.
fn version_info(row: &VersionRow) -> Value {
    let purl = if row.group_name.is_empty() {
        format!("pkg:universal/{}@{}", row.name, row.version)
    } else {
        format!(
            "pkg:universal/{}/{}@{}",
            row.group_name, row.name, row.version
        )
    };
    let mut info = json!({
        "purl": purl,
        "name": row.name,
        "version": row.version,
        "totalDownloads": row.downloads,
        "downloads": row.downloads,
        "published": row.published_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "size": row.size_bytes,
        "listed": true,
        "allowDownload": true,
        "deprecated": false,
        "sha1": row.sha1,
        "sha256": row.blob_sha256,
    });
    if !row.group_name.is_empty() {
        info["group"] = json!(row.group_name);
    }
    info
}

fn feed_name(req: &HttpRequest) -> String {
    req.match_info().get("feed").unwrap_or_default().to_owned()
}

fn filter_of(query: &Query) -> Result<VersionFilter, ServiceError> {
    Ok(VersionFilter {
        group_lower: query
            .get("group")
            .map(GroupName::parse)
            .transpose()?
            .map(|g| g.lower()),
        name_lower: query
            .non_empty("name")
            .map(PackageName::parse)
            .transpose()?
            .map(|n| n.lower()),
        package_limit: None,
        version_limit: None,
        text_like: None,
    })
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
    let rows = packages::list_versions(&wharf, &feed, &filter_of(&query)?).await?;
    let latest: Vec<Value> = rows
        .chunk_by(|a, b| a.package_id == b.package_id)
        .filter_map(|versions| {
            let rule = if stable_only {
                LatestRule::StableOnly
            } else {
                LatestRule::StableElsePrerelease
            };
            rule.pick_ordered(versions, |v| v.is_stable)
        })
        .map(version_info)
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
    let rows = packages::list_versions(&wharf, &feed, &filter_of(&query)?).await?;
    let versions: Vec<Value> = rows
        .iter()
        .filter(|row| {
            wanted
                .as_ref()
                .is_none_or(|w| Version::parse(&row.version).is_ok_and(|v| v == *w))
        })
        .map(version_info)
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
) -> Result<(FeedRow, Arc<VersionRow>), ServiceError> {
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
        // Without a group the name must identify exactly one package.
        let filter = VersionFilter {
            name_lower: Some(name.lower()),
            ..VersionFilter::default()
        };
        let rows = packages::list_versions(wharf, &feed, &filter).await?;
        let mut groups: Vec<&str> = rows.iter().map(|r| r.group_name.as_str()).collect();
        groups.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        match groups.as_slice() {
            [] => GroupName::empty(),
            [only] => GroupName::parse(only)?,
            _ => {
                return Err(ServiceError::BadRequest(format!(
                    "The name '{name}' matches packages in several groups ({}); give a group.",
                    groups.join(", ")
                )));
            }
        }
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
    let file_name = format!("{}.{}.upack", row.name, row.version);
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
