//! The Universal Feed API: `/upack/<feed>/...`.
//!
//! Package addresses are read from the raw path (see `tail`), so group
//! slashes may arrive literal or as `%2F`, and `+` in a version survives.

use std::sync::Arc;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::db::feeds::FeedRow;
use crate::domain::{GroupName, PackageId, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::packages::{self, StoredBytes, VersionFilter, VersionRow, VersionSelector};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};
use crate::upack::ContentFormat;

use super::endpoint::Endpoint;
use super::query::Query;
use super::{download, tail, wire};

pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(
        web::scope("/upack/{feed}")
            .service(Endpoint::new("/packages").get(list_packages).build())
            .service(Endpoint::new("/versions").get(list_versions).build())
            .service(Endpoint::new("/search").get(search).build())
            .service(Endpoint::new("/meta").get(feed_metadata).build())
            .service(
                Endpoint::new("/download-file/{tail:.*}")
                    .get(download_file)
                    .build(),
            )
            .service(
                Endpoint::new("/download-vpack/{tail:.*}")
                    .get(download_vpack)
                    .build(),
            )
            .service(
                Endpoint::new("/download/{tail:.*}")
                    .get(download_package)
                    .build(),
            )
            .service(
                Endpoint::new("/delete/{tail:.*}")
                    .each(&[M::DELETE, M::POST], delete)
                    .build(),
            )
            .service(
                Endpoint::new("/upload")
                    .each(&[M::PUT, M::POST], upload)
                    .build(),
            )
            .service(
                Endpoint::new("/upload/{tail:.*}")
                    .each(&[M::PUT, M::POST], upload)
                    .build(),
            )
            .service(Endpoint::new("").on(M::PUT, upload).build())
            .service(Endpoint::new("/").on(M::PUT, upload).build()),
    );
}

/// The feed name and the decoded segments after the endpoint name.
struct Address {
    feed: String,
    segments: Vec<String>,
}

impl Address {
    /// Reads `/upack/<feed>/<endpoint>/<tail...>` from the raw request path.
    fn of(req: &HttpRequest) -> Result<Self, ServiceError> {
        let path = req.uri().path();
        let bad_path = |e: tail::TailError| ServiceError::BadRequest(e.to_string());
        let feed_raw = tail::raw_tail_after(path, 1)
            .split('/')
            .next()
            .unwrap_or_default();
        Ok(Self {
            feed: tail::decode_segment(feed_raw).map_err(bad_path)?,
            segments: tail::decode_segments(tail::raw_tail_after(path, 3)).map_err(bad_path)?,
        })
    }

    /// The package and version a download-style request names: the last
    /// segment is the version unless `latest` is asked for.
    fn package_version(&self, query: &Query) -> Result<(PackageId, VersionSelector), ServiceError> {
        if let Some(rule) = query.latest()? {
            return Ok((
                PackageId::from_segments(&self.segments)?,
                VersionSelector::Latest(rule),
            ));
        }
        let no_version = |detail: String| {
            ServiceError::BadRequest(format!(
                "The address needs a version (.../<name>/<version>) or ?latest{detail}."
            ))
        };
        match self.segments.split_last() {
            Some((version, id)) if !id.is_empty() => match Version::parse(version) {
                Ok(version) => Ok((
                    PackageId::from_segments(id)?,
                    VersionSelector::Exact(version),
                )),
                Err(_) => Err(no_version(format!("; '{version}' is not a SemVer version"))),
            },
            _ => Err(no_version(String::new())),
        }
    }
}

fn json_response(value: Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// `GET packages[?group=&name=&count=]`: an array, or one object with `name`.
async fn list_packages(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
    let query = Query::parse(req.query_string());
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
                .map_err(ServiceError::internal)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `GET search?term=` (clients send `term`; the docs say `query`): packages
/// whose name, title or description contains the term, ignoring case.
async fn search(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
    let query = Query::parse(req.query_string());
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
async fn feed_metadata(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
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
async fn list_versions(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
    let query = Query::parse(req.query_string());
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

/// Reads a download-style address and query, checks the download permission
/// and finds the version.
async fn resolve_download(
    req: &HttpRequest,
    wharf: &Wharf,
    caller: &Caller,
) -> Result<(Query, PackageId, FeedRow, Arc<VersionRow>), ServiceError> {
    let address = Address::of(req)?;
    let query = Query::parse(req.query_string());
    let (id, selector) = address.package_version(&query)?;
    let (feed, row) = packages::resolve_for(
        wharf,
        caller,
        &address.feed,
        &id,
        &selector,
        Permission::Download,
    )
    .await?;
    Ok((query, id, feed, row))
}

/// `GET download/<group>/<name>/<version>` or `.../<name>?latest`.
async fn download_package(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let (query, _, feed, row) = resolve_download(&req, &wharf, &caller).await?;
    let content_only = query
        .non_empty("contentOnly")
        .map(|value| {
            ContentFormat::parse(value).ok_or_else(|| {
                ServiceError::BadRequest("contentOnly must be zip or tgz.".to_owned())
            })
        })
        .transpose()?;
    let bytes = packages::package_bytes(&wharf, &feed, &row).await?;
    match content_only {
        None => {
            let file_name = format!("{}.{}.upack", row.name, row.version);
            download::stored_bytes(&req, &wharf, &bytes, "application/zip", file_name).await
        }
        Some(format) => {
            let (file, size) = packages::content_only(&wharf, &bytes, format).await?;
            let file_name = format!("{}.{}.{}", row.name, row.version, format.extension());
            Ok(HttpResponse::Ok()
                .content_type(format.content_type())
                .insert_header(download::attachment(file_name))
                .no_chunking(size)
                .streaming(tokio_util::io::ReaderStream::new(file)))
        }
    }
}

/// `GET download-vpack/<group>/<name>/<version>` or `.../<name>?latest`: the
/// stored virtual package manifest, byte for byte.
async fn download_vpack(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let (_, id, _, row) = resolve_download(&req, &wharf, &caller).await?;
    if !row.is_virtual {
        return Err(ServiceError::NotFound(format!(
            "{id} {} is not a virtual package.",
            row.version
        )));
    }
    let content_type = if row.container == "json" {
        "application/json"
    } else {
        "application/zip"
    };
    let file_name = format!("{}.{}.vpack", row.name, row.version);
    download::stored_bytes(
        &req,
        &wharf,
        &StoredBytes::of(&row),
        content_type,
        file_name,
    )
    .await
}

/// `GET download-file/<group>/<name>/<version>?path=...` (or `?latest&path=`).
async fn download_file(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let path = Query::parse(req.query_string())
        .non_empty("path")
        .map(str::to_owned)
        .ok_or_else(|| {
            ServiceError::BadRequest(
                "The path parameter is required (for example ?path=upack.json).".to_owned(),
            )
        })?;
    let (_, _, _, row) = resolve_download(&req, &wharf, &caller).await?;
    let file = packages::open_file(&wharf, &row, &path).await?;
    let content_type = mime_guess::from_path(&file.file_name).first_or_octet_stream();
    Ok(HttpResponse::Ok()
        .content_type(content_type.essence_str())
        .insert_header(download::attachment(file.file_name))
        .no_chunking(file.size)
        .streaming(file.body))
}

/// `DELETE|POST delete/<group>/<name>/<version>`.
async fn delete(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
    if Query::parse(req.query_string()).latest()?.is_some() {
        return Err(ServiceError::BadRequest(
            "Delete needs an exact version (.../<name>/<version>); ?latest is not accepted."
                .to_owned(),
        ));
    }
    let (id, selector) = address.package_version(&Query::default())?;
    let (_, row) = packages::resolve_for(
        &wharf,
        &caller,
        &address.feed,
        &id,
        &selector,
        Permission::Delete,
    )
    .await
    .map_err(|error| match error {
        // ProGet's text, which scripts look for: "package not found".
        ServiceError::NotFound(_) => {
            ServiceError::NotFound(format!("Delete failed: package not found ({id})."))
        }
        other => other,
    })?;
    packages::delete(&wharf, &row).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("Deleted {id} {}.", row.version)))
}

/// `PUT|POST upload[/<group>/<name>[/<version>]]` and `PUT /upack/<feed>`:
/// the body is the package, whatever the declared content type.
async fn upload(
    req: HttpRequest,
    body: web::Payload,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let address = Address::of(&req)?;
    let query = Query::parse(req.query_string());
    let declared_length = super::content_length(&req);
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    if declared_length.is_some_and(|length| length > max_bytes) {
        // Checked after authentication, so strangers cannot probe the limit.
        access::feed_for(&wharf, &caller, &address.feed, Permission::Add).await?;
        return Err(publish::too_large(max_bytes));
    }
    let is_upload_path = tail::raw_tail_after(req.uri().path(), 2).starts_with("upload");
    let form_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let mut hints = UploadHints {
        path_segments: if is_upload_path {
            address.segments.clone()
        } else {
            Vec::new()
        },
        form_body,
        declared_length,
        ..UploadHints::default()
    };
    let fields = query.pairs().filter(|(_, v)| !v.is_empty()).map(|(k, v)| {
        // A literal `+` in a version was form-decoded to a space.
        let v = if k.eq_ignore_ascii_case("version") {
            v.replace(' ', "+")
        } else {
            v.to_owned()
        };
        (k.to_owned(), Value::String(v))
    });
    hints.add_fields(fields.collect::<Vec<_>>())?;
    let published = publish::publish(&wharf, &caller, &address.feed, body, hints).await?;
    Ok(HttpResponse::Created().json(json!({
        "group": published.group,
        "name": published.name,
        "version": published.version,
        "sha1": published.sha1,
        "sha256": published.sha256,
        "size": published.size_bytes,
        "isVirtual": published.is_virtual,
    })))
}
