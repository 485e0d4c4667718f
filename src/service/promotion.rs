//! Promotion (copying a version to another feed) and repackaging (a new
//! version with the same content), with their audit trail.
//!
//! A promotion stores a new version row pointing at the same blob, and its
//! record (who, when, from, to, why) in the same transaction. Repackaging
//! rewrites only `upack.json` (new version, a `repackageHistory` entry) and
//! copies every other entry raw, so the content is byte-identical.

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::blob::BlobKey;
use crate::db::{
    self, packages::BlobRef, packages::NewVersion, packages::StoreOutcome, promotions::NewPromotion,
};
use crate::domain::{Container, Manifest, PackageId, Permission, Version};
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::spawn_blocking_in_span;
use crate::upack;

use super::blob_bytes::{self, BytesSource};
use super::model::{Feed, Promotion, VersionDetail};
use super::packages::{self, VersionSelector};
use super::{Caller, Wharf, access};
use crate::db::packages::VersionRow;
use crate::domain::PromotionFilter;

/// The source of a promotion or repackage, which the caller must be able to
/// view and download.
#[tracing::instrument(level = "debug", skip_all)]
async fn source(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    id: &PackageId,
    version: &str,
) -> Result<(Feed, VersionDetail), ServiceError> {
    let selector = VersionSelector::parse(version)?;
    let feed = access::feed_for(wharf, caller, feed_name, Permission::Download).await?;
    if !caller.may(Permission::View, &feed) {
        return Err(caller.refuse(Permission::View));
    }
    let row = packages::resolve(wharf, &feed, id, &selector).await?;
    Ok((feed, row))
}

/// A version row copied into `feed`: same manifest, same blob.
fn copy_of(row: &VersionRow, feed: &Feed) -> Result<NewVersion, ServiceError> {
    let manifest = Manifest::parse(row.manifest_json.as_bytes()).or_internal(format!(
        "reading the stored manifest of {} {}",
        row.name, row.version
    ))?;
    let blob = BlobRef {
        sha256: row.blob_sha256.clone(),
        sha1: row.sha1.clone(),
        size_bytes: row.size_bytes,
        content: None,
    };
    Ok(NewVersion::new(
        feed.id,
        &manifest,
        row.container,
        row.file_list_json.clone(),
        blob,
    ))
}

/// Promotes a version from one feed to another.
#[tracing::instrument(skip(wharf, caller, comments))]
pub async fn promote(
    wharf: &Wharf,
    caller: &Caller,
    from_feed: &str,
    to_feed: &str,
    id: &PackageId,
    version: &str,
    comments: &str,
) -> Result<VersionDetail, ServiceError> {
    let (from, source_version) = source(wharf, caller, from_feed, id, version).await?;
    let row = &source_version.row;
    let to = access::feed_for(wharf, caller, to_feed, Permission::Promote).await?;
    if from.id == to.id {
        return Err(ServiceError::BadRequest(
            "fromFeed and toFeed are the same feed.".to_owned(),
        ));
    }
    let promoted_by = caller.principal.describe();
    let promotion = NewPromotion {
        from_feed: &from.name,
        to_feed: &to.name,
        promoted_by: &promoted_by,
        comments,
    };
    let blob_key = BlobKey::from_hex(&row.blob_sha256)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))?;
    match db::packages::store_version(
        &wharf.db,
        &copy_of(row, &to)?,
        false,
        Some(&promotion),
        || blob_bytes::ensure(wharf, &blob_key, BytesSource::Stored),
    )
    .await?
    {
        StoreOutcome::Stored => {}
        StoreOutcome::AlreadyExists => {
            return Err(ServiceError::Conflict(format!(
                "{id} {} already exists in feed '{}'.",
                row.version, to.name
            )));
        }
    }
    tracing::info!(from = %from.name, to = %to.name, "package promoted");
    let promoted = packages::resolve(
        wharf,
        &to,
        id,
        &VersionSelector::Exact(Version::parse(&row.version)?),
    )
    .await?;
    Ok(promoted)
}

/// Creates `new_version` of a package with the content of `version`, in
/// `to_feed` (the same feed by default), recording the step in the
/// manifest's `repackageHistory`.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip(wharf, caller, comments))]
pub async fn repackage(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    to_feed: Option<&str>,
    id: &PackageId,
    version: &str,
    new_version: &str,
    comments: &str,
) -> Result<VersionDetail, ServiceError> {
    let new_version = Version::parse(new_version).map_err(|_| {
        ServiceError::BadRequest(format!(
            "newVersion '{}' is not a SemVer 2.0 version (e.g. 1.2.3).",
            new_version.escape_debug()
        ))
    })?;
    let (_, source_version) = source(wharf, caller, feed_name, id, version).await?;
    let row = &source_version.row;
    let target =
        access::feed_for(wharf, caller, to_feed.unwrap_or(feed_name), Permission::Add).await?;

    let mut manifest: Map<String, Value> =
        serde_json::from_str(&row.manifest_json).or_internal("in repackage")?;
    manifest.insert("version".into(), json!(new_version.to_string()));
    let entry = json!({
        "id": format!("{id}:{}:{}", row.version, row.sha1),
        "date": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "using": format!("Wharf/{}", env!("CARGO_PKG_VERSION")),
        "by": caller.principal.describe(),
        "reason": comments,
    });
    match manifest.get_mut("repackageHistory") {
        Some(Value::Array(history)) => history.push(entry),
        _ => {
            manifest.insert("repackageHistory".into(), json!([entry]));
        }
    }
    let manifest = Manifest::from_properties(manifest)?;
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest.properties).or_internal("in repackage")?;

    let output = tempfile::NamedTempFile::new_in(wharf.temp_dir())
        .or_internal("in repackage")?
        .into_temp_path();
    let output_path = output.to_path_buf();
    let source_key = BlobKey::from_hex(&row.blob_sha256)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))?;
    let source_blob = blob_bytes::open_seekable(wharf, &source_key, row.size_bytes).await?;
    let source_path = source_blob.path().to_owned();
    let is_zip = row.container == Container::Zip;
    let (sha1, sha256, size_bytes) = spawn_blocking_in_span(move || {
        if is_zip {
            upack::replace_manifest(&source_path, &output_path, &manifest_bytes)?;
        } else {
            std::fs::write(&output_path, &manifest_bytes).map_err(upack::PackageError::Io)?;
        }
        crate::blob::digest_file(&output_path).map_err(upack::PackageError::Io)
    })
    .await
    .or_internal("in repackage")??;
    drop(source_blob);
    let key = BlobKey::from_digest(sha256);
    wharf
        .blobs
        .put_file(&key, &output)
        .await
        .or_internal("in repackage")?;

    let blob = BlobRef {
        sha256: key.to_hex(),
        sha1: hex::encode(sha1),
        size_bytes: i64::try_from(size_bytes).or_internal("in repackage")?,
        content: None,
    };
    let version_text = new_version.to_string();
    let new = NewVersion::new(
        target.id,
        &manifest,
        row.container,
        row.file_list_json.clone(),
        blob,
    );
    let stored = db::packages::store_version(&wharf.db, &new, false, None, || {
        blob_bytes::ensure(wharf, &key, BytesSource::File(&output))
    })
    .await?;
    drop(output);
    if stored == StoreOutcome::AlreadyExists {
        return Err(ServiceError::Conflict(format!(
            "{id} {new_version} already exists in feed '{}'.",
            target.name
        )));
    }
    tracing::info!(from = %row.version, to = %version_text, "package repackaged");
    packages::resolve(wharf, &target, id, &VersionSelector::Exact(new_version)).await
}

/// Recorded promotions.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(
    wharf: &Wharf,
    caller: &Caller,
    filter: &PromotionFilter,
) -> Result<Vec<Promotion>, ServiceError> {
    let feeds = super::feeds::list(wharf).await?;
    let visible = |name: &str| {
        feeds
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name) && caller.may(Permission::View, f))
    };
    Ok(db::promotions::list_promotions(&wharf.db, filter)
        .await?
        .into_iter()
        .filter(|p| visible(&p.from_feed) && visible(&p.to_feed))
        .map(Promotion::from)
        .collect())
}
