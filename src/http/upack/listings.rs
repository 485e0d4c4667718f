//! Listings: `packages`, `versions`, `search`, `meta`, served from the
//! listing cache.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::{OrInternal, ServiceError};
use crate::service::packages::{self, VersionFilter, VersionSelector};
use crate::service::{Caller, Wharf, access};

use super::super::query::Query;
use super::super::wire;
use super::address::Address;

fn json_response(value: Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// `GET packages[?group=&name=&count=]`: an array, or one object with `name`.
pub(super) async fn list_packages(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let group = query
        .get("group")
        .filter(|g| *g != "*")
        .map(GroupName::parse)
        .transpose()?;
    if let Some(name) = query.non_empty("name") {
        let id = PackageId::new(group.unwrap_or_default(), PackageName::parse(name)?);
        let filter = VersionFilter {
            group_lower: Some(id.group.lower()),
            name_lower: Some(id.name.lower()),
            package_limit: None,
            version_limit: None,
            text_like: None,
        };
        let key = format!(
            "{}\npackage\n{}\n{}",
            feed.id,
            id.group.lower(),
            id.name.lower()
        );
        return cached_json(&wharf, key, async {
            let rows = packages::list_versions(&wharf, &feed, &filter).await?;
            wire::package_objects(&rows)
                .into_iter()
                .next()
                // ProGet's text, which scripts look for: "package was not found".
                .ok_or_else(|| ServiceError::NotFound(format!("The package was not found: {id}.")))
        })
        .await;
    }
    let filter = VersionFilter {
        group_lower: group.map(|g| g.lower()),
        name_lower: None,
        package_limit: Some(query.count()?.unwrap_or(1000)),
        version_limit: None,
        text_like: None,
    };
    let key = format!(
        "{}\npackages\n{:?}\n{:?}",
        feed.id, filter.group_lower, filter.package_limit
    );
    cached_json(&wharf, key, async {
        let rows = packages::list_versions(&wharf, &feed, &filter).await?;
        Ok(Value::Array(wire::package_objects(&rows)))
    })
    .await
}

/// Answers with a listing from the listing cache, rendering it on a miss.
async fn cached_json<F>(wharf: &Wharf, key: String, render: F) -> Result<HttpResponse, ServiceError>
where
    F: std::future::Future<Output = Result<Value, ServiceError>>,
{
    let body = wharf
        .caches
        .listing(key, async {
            let value = render.await?;
            serde_json::to_vec(&value)
                .map(bytes::Bytes::from)
                .or_internal("in cached_json")
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `GET search?term=` (clients send `term`; the docs say `query`): packages
/// whose name, title or description contains the term, ignoring case.
pub(super) async fn search(
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
    // Plain ASCII terms narrow the candidates in SQL first (a superset: any
    // manifest text); the exact, Unicode-aware match below decides.
    let plain = !term.is_empty()
        && term
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " .-".contains(c));
    let filter = VersionFilter {
        text_like: plain.then(|| format!("%{}%", term.to_ascii_lowercase())),
        ..VersionFilter::default()
    };
    let key = format!("{}\nsearch\n{term}\n{limit}", feed.id);
    cached_json(&wharf, key, async {
        let rows = packages::list_versions(&wharf, &feed, &filter).await?;
        let found: Vec<Value> = wire::package_objects(&rows)
            .into_iter()
            .filter(|package| wire::matches_term(package, &term))
            .take(limit)
            .collect();
        Ok(Value::Array(found))
    })
    .await
}

/// `GET meta`: the feed's metadata and the API services it offers.
pub(super) async fn feed_metadata(
    address: Address,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let (package_count, version_count) = packages::counts(&wharf, &feed).await?;
    Ok(json_response(json!({
        "apiVersion": "1.3.0",
        "version": "1.3.0",
        "name": feed.name,
        "description": feed.description,
        "packageCount": package_count,
        "packageVersionCount": version_count,
        "services": ["VirtualPackages", "UploadPackage", "Delete", "DownloadContents"],
    })))
}

/// `GET versions[?group=&name=&version=&includeFileList=&count=]`: an array,
/// or one object when `version` is given.
pub(super) async fn list_versions(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let include_files = query.flag("includeFileList")?;
    let feed = access::feed_for(&wharf, &caller, &address.feed, Permission::View).await?;
    let group = query
        .get("group")
        .filter(|g| *g != "*")
        .map(GroupName::parse)
        .transpose()?;
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
    let filter = VersionFilter {
        group_lower: group.map(|g| g.lower()),
        name_lower: name.as_ref().map(PackageName::lower),
        package_limit: None,
        // `count` caps the list (default 1000) unless a package is named.
        version_limit: if name.is_some() {
            None
        } else {
            Some(query.count()?.unwrap_or(1000))
        },
        text_like: None,
    };
    let key = format!(
        "{}\nversions\n{:?}\n{:?}\n{:?}\n{include_files}",
        feed.id, filter.group_lower, filter.name_lower, filter.version_limit
    );
    cached_json(&wharf, key, async {
        let rows = packages::list_versions(&wharf, &feed, &filter).await?;
        Ok(Value::Array(
            rows.iter()
                .map(|r| wire::version_object(r, include_files))
                .collect(),
        ))
    })
    .await
}
