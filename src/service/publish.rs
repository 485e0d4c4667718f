//! Publishing a package: the path that must never lose data.
//!
//! 1. Stream the body to a spool file in the data directory, hashing it
//!    (SHA-1 and SHA-256) and counting bytes; stop at the size limit (413).
//! 2. Inspect it off the reactor: zip or JSON manifest, entry limits, manifest.
//! 3. If the version exists and the caller may not overwrite, answer 409
//!    before writing anything.
//! 4. Put the blob under its SHA-256 (already there is fine).
//! 5. One short transaction stores blob row, package and version; the unique
//!    index decides races (exactly one of N concurrent uploads wins).
//!
//! A failure at any step leaves nothing visible: the spool file is removed on
//! drop, and a blob written for a transaction that then lost stays unreferenced
//! until `wharf gc` (deleting it inline could race with another upload of the
//! same bytes that found it present).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blob::BlobKey;
use crate::db::{self, packages::NewVersion, packages::StoreOutcome};
use crate::domain::{GroupName, Manifest, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::telemetry::spawn_blocking_in_span;
use crate::upack::{self, Container};

use super::{Caller, Wharf, access};

/// Identity fields the request gave besides the package itself (path tail or
/// query string); each one given must agree with the manifest.
#[derive(Debug, Clone, Default)]
pub struct UploadHints {
    /// Decoded path segments after `/upload`.
    pub path_segments: Vec<String>,
    /// `group` from the query string.
    pub group: Option<String>,
    /// `name` from the query string.
    pub name: Option<String>,
    /// `version` from the query string.
    pub version: Option<String>,
}

/// What was stored.
#[derive(Debug, Clone)]
pub struct Published {
    pub group: String,
    pub name: String,
    pub version: String,
    pub sha1: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub is_virtual: bool,
}

/// A spooled body and its digests.
struct Spooled {
    path: tempfile::TempPath,
    sha1: [u8; 20],
    sha256: [u8; 32],
    size_bytes: u64,
}

/// Publishes the package in `body` to `feed_name`.
#[tracing::instrument(skip_all, fields(feed = feed_name))]
pub async fn publish<S, E>(
    wharf: &Wharf,
    caller: &Caller,
    feed_name: &str,
    body: S,
    hints: UploadHints,
) -> Result<Published, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let feed = access::feed_for(wharf, caller, feed_name, Permission::Add).await?;
    let spooled = spool(wharf, body).await?;

    let limits = wharf.settings.limits.package;
    let spool_path = spooled.path.to_path_buf();
    let inspected = spawn_blocking_in_span(move || upack::inspect(&spool_path, &limits))
        .await
        .map_err(ServiceError::internal)??;
    let manifest = &inspected.manifest;
    check_hints(manifest, &hints)?;

    let may_overwrite = caller.may(Permission::Overwrite, &feed);
    let (group, name) = (manifest.id.group.as_str(), manifest.id.name.as_str());
    let precedence_key = manifest.version.precedence_key();
    if !may_overwrite {
        let (group_lower, name_lower) = (manifest.id.group.lower(), manifest.id.name.lower());
        let key = db::packages::PackageKey {
            feed_id: feed.id,
            group_lower: &group_lower,
            name_lower: &name_lower,
        };
        if db::packages::find_version(&wharf.db, key, &precedence_key)
            .await?
            .is_some()
        {
            return Err(already_exists(manifest, &feed.name));
        }
    }

    let key = BlobKey::from_digest(spooled.sha256);
    let (sha1, sha256, size_bytes) = (hex::encode(spooled.sha1), key.to_hex(), spooled.size_bytes);
    wharf
        .blobs
        .put_file(&key, spooled.path)
        .await
        .map_err(ServiceError::internal)?;

    let version = manifest.version.to_string();
    let file_list_json = serde_json::to_string(&inspected.files).map_err(ServiceError::internal)?;
    let new = NewVersion {
        feed_id: feed.id,
        group,
        name,
        version: &version,
        precedence_key: &precedence_key,
        is_stable: !manifest.version.is_prerelease(),
        is_virtual: manifest.is_virtual,
        container: match inspected.container {
            Container::Zip => "zip",
            Container::Json => "json",
        },
        manifest_json: &manifest.to_json(),
        file_list_json: &file_list_json,
        blob_sha256: &sha256,
        blob_sha1: &sha1,
        blob_size_bytes: i64::try_from(size_bytes).map_err(ServiceError::internal)?,
    };
    match db::packages::store_version(&wharf.db, &new, may_overwrite, None).await {
        Ok(StoreOutcome::Stored) => {}
        Ok(StoreOutcome::AlreadyExists) => return Err(already_exists(manifest, &feed.name)),
        Err(e) if db::is_unique_violation(&e) => return Err(already_exists(manifest, &feed.name)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(package.group = group, package.name = name, version = %version, size_bytes, "package published");
    Ok(Published {
        group: group.to_owned(),
        name: name.to_owned(),
        version,
        sha1,
        sha256,
        size_bytes,
        is_virtual: manifest.is_virtual,
    })
}

fn already_exists(manifest: &Manifest, feed: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "The package {} version {} already exists in feed '{feed}'; replacing it needs the overwrite permission.",
        manifest.id, manifest.version
    ))
}

/// Streams the body into a spool file while hashing it, stopping at the limit.
async fn spool<S, E>(wharf: &Wharf, mut body: S) -> Result<Spooled, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    let idle = std::time::Duration::from_secs(wharf.settings.limits.upload_idle_seconds);
    let temp = tempfile::NamedTempFile::new_in(wharf.temp_dir()).map_err(ServiceError::internal)?;
    let (file, path) = temp.into_parts();
    let mut writer =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let (mut sha1, mut sha256, mut size_bytes) = (Sha1::new(), Sha256::new(), 0u64);
    loop {
        let Ok(next) = tokio::time::timeout(idle, body.next()).await else {
            return Err(ServiceError::RequestTimeout(format!(
                "The upload stalled for {} seconds and was abandoned (limits.upload_idle_seconds).",
                idle.as_secs()
            )));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            ServiceError::BadRequest(format!(
                "The upload was interrupted before it was complete ({e})."
            ))
        })?;
        size_bytes += chunk.len() as u64;
        if size_bytes > max_bytes {
            return Err(too_large(max_bytes));
        }
        sha1.update(&chunk);
        sha256.update(&chunk);
        writer
            .write_all(&chunk)
            .await
            .map_err(ServiceError::internal)?;
    }
    writer.flush().await.map_err(ServiceError::internal)?;
    Ok(Spooled {
        path,
        sha1: sha1.finalize().into(),
        sha256: sha256.finalize().into(),
        size_bytes,
    })
}

/// The 413 for a body over the limit.
pub fn too_large(max_bytes: u64) -> ServiceError {
    ServiceError::PayloadTooLarge(format!(
        "The upload is larger than the {max_bytes}-byte limit (WHARF_MAX_UPLOAD_BYTES)."
    ))
}

/// Checks that identity given in the path or query agrees with the manifest.
/// The path tail is `<group...>/<name>` or `<group...>/<name>/<version>`.
fn check_hints(manifest: &Manifest, hints: &UploadHints) -> Result<(), ServiceError> {
    let mismatch = |what: &str, given: &str, actual: &str| {
        ServiceError::BadRequest(format!(
            "The request names {what} '{given}' but the package's upack.json says '{actual}'."
        ))
    };
    if let Some(name) = &hints.name {
        if !PackageName::parse(name)?
            .lower()
            .eq(&manifest.id.name.lower())
        {
            return Err(mismatch("name", name, manifest.id.name.as_str()));
        }
    }
    if let Some(group) = &hints.group {
        if GroupName::parse(group)?.lower() != manifest.id.group.lower() {
            return Err(mismatch("group", group, manifest.id.group.as_str()));
        }
    }
    if let Some(version) = &hints.version {
        if Version::parse(version)? != manifest.version {
            return Err(mismatch("version", version, &manifest.version.to_string()));
        }
    }
    let segments = &hints.path_segments;
    if segments.is_empty() {
        return Ok(());
    }
    let id_matches = |segs: &[String]| {
        segs.last()
            .is_some_and(|n| n.eq_ignore_ascii_case(manifest.id.name.as_str()))
            && segs[..segs.len() - 1]
                .join("/")
                .eq_ignore_ascii_case(manifest.id.group.as_str())
    };
    let with_version = segments.len() >= 2
        && Version::parse(&segments[segments.len() - 1]).is_ok_and(|v| v == manifest.version)
        && id_matches(&segments[..segments.len() - 1]);
    if id_matches(segments) || with_version {
        Ok(())
    } else {
        Err(mismatch(
            "package",
            &segments.join("/"),
            &format!("{}/{}", manifest.id, manifest.version),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(br#"{"group":"a/b","name":"Pkg","version":"1.0.0+x"}"#).unwrap()
    }

    fn segs(path: &str) -> UploadHints {
        UploadHints {
            path_segments: path.split('/').map(str::to_owned).collect(),
            ..UploadHints::default()
        }
    }

    #[test]
    fn path_hints_must_agree_with_the_manifest() {
        assert!(check_hints(&manifest(), &segs("a/b/pkg")).is_ok());
        assert!(check_hints(&manifest(), &segs("A/b/Pkg/1.0.0")).is_ok());
        assert!(check_hints(&manifest(), &segs("a/b/pkg/2.0.0")).is_err());
        assert!(check_hints(&manifest(), &segs("other")).is_err());
        let query = UploadHints {
            name: Some("other".into()),
            ..UploadHints::default()
        };
        let err = check_hints(&manifest(), &query).unwrap_err().to_string();
        assert!(err.contains("name 'other'"), "{err}");
    }
}
