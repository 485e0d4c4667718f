//! Downloads: the package (assembled when virtual; `contentOnly`), one of
//! its files, and a virtual package's manifest.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::{PackageId, Permission};
use crate::error::ServiceError;
use crate::service::connectors::upstream;
use crate::service::model::Feed;
use crate::service::model::VersionDetail;
use crate::service::packages::{self, StoredBytes};
use crate::service::{Caller, Wharf, access};
use crate::upack::ContentFormat;

use super::super::download;
use super::super::query::Query;
use super::address::Address;

/// Reads a download-style address and query, checks the download permission
/// and finds the version (through the feed's connectors when it lacks it).
async fn resolve_download(
    address: &Address,
    query: &Query,
    wharf: &Wharf,
    caller: &Caller,
) -> Result<(PackageId, Feed, VersionDetail), ServiceError> {
    let (id, selector) = address.package_version(query)?;
    let feed = access::feed_for(wharf, caller, &address.feed, Permission::Download).await?;
    let row = upstream::resolve_or_fetch(wharf, &feed, &id, &selector).await?;
    Ok((id, feed, row))
}

/// `GET download/<group>/<name>/<version>` or `.../<name>?latest`.
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/download/{tail}", tag = "upack",
    params(
        super::super::openapi::PackagePath, super::super::openapi::LatestQuery,
        ("contentOnly" = Option<String>, Query, description = "`zip` or `tgz`: only the `package/` folder, re-archived."),
    ),
    responses(
        (status = 200, description = "The package file (a virtual package is assembled); `ETag`, `Range` and conditional requests are honoured.", content_type = "application/zip", body = Vec<u8>),
        (status = 206, description = "The requested range."),
        (status = 304, description = "Not modified since the `ETag` sent."),
        (status = 409, description = "A virtual package's content is missing or its SHA-1 differs.", content_type = "text/plain", body = String),
        (status = 416, description = "The range is outside the file."),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn download_package(
    req: HttpRequest,
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let (_, feed, row) = resolve_download(&address, &query, &wharf, &caller).await?;
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
            let file_name = row.file_name("upack");
            download::stored_bytes(&req, &wharf, &bytes, "application/zip", file_name).await
        }
        Some(format) => {
            let (file, size) = packages::content_only(&wharf, &bytes, format).await?;
            let file_name = row.file_name(format.extension());
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
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/download-vpack/{tail}", tag = "upack",
    params(super::super::openapi::PackagePath, super::super::openapi::LatestQuery),
    responses(
        (status = 200, description = "The stored virtual package manifest, byte for byte.", content_type = "application/json", body = Object),
        (status = 304, description = "Not modified since the `ETag` sent."),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn download_vpack(
    req: HttpRequest,
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let (id, _, row) = resolve_download(&address, &query, &wharf, &caller).await?;
    if !row.is_virtual() {
        return Err(ServiceError::NotFound(format!(
            "{id} {} is not a virtual package.",
            row.version()
        )));
    }
    let content_type = row.container().content_type();
    let file_name = row.file_name("vpack");
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
#[utoipa::path(
    method(get, head), path = "/upack/{feed}/download-file/{tail}", tag = "upack",
    params(
        super::super::openapi::PackagePath, super::super::openapi::LatestQuery,
        ("path" = String, Query, description = "The file's path under `package/`."),
    ),
    responses(
        (status = 200, description = "The file, typed by its extension.", content_type = "application/octet-stream", body = Vec<u8>),
        super::super::openapi::Refusals,
    )
)]
pub(in crate::http) async fn download_file(
    address: Address,
    query: Query,
    wharf: web::Data<Wharf>,
    caller: Caller,
) -> Result<HttpResponse, ServiceError> {
    let path = query.non_empty("path").map(str::to_owned).ok_or_else(|| {
        ServiceError::BadRequest(
            "The path parameter is required (for example ?path=upack.json).".to_owned(),
        )
    })?;
    let (_, _, row) = resolve_download(&address, &query, &wharf, &caller).await?;
    let file = packages::open_file(&wharf, &row, &path).await?;
    let content_type = mime_guess::from_path(&file.file_name).first_or_octet_stream();
    Ok(HttpResponse::Ok()
        .content_type(content_type.essence_str())
        .insert_header(download::attachment(file.file_name))
        .no_chunking(file.size)
        .streaming(file.body))
}
