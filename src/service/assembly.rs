//! Assembling a virtual package into a regular `.upack` on download.
//!
//! Every reference is resolved in the virtual package's own feed (one it
//! lacks comes through the feed's connectors, as for a download) and its
//! SHA-1 checked when the manifest gives one. The result is cached under a
//! key computed from database lookups alone (the manifest's blob, each
//! referenced package's blob, and each URL source's address and expected
//! SHA-1), so a download whose assembly is cached opens no blob and fetches
//! nothing, and a replaced package reference is a new key, never a stale hit.
//! A URL source is therefore fetched once per assembly, not per download: its
//! content is whatever the URL served when the assembly was built (give a
//! SHA-1 in the manifest to pin it). Concurrent first downloads of one
//! assembly build it once. Archive work runs off the reactor.

use std::path::PathBuf;

use futures_util::StreamExt;
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::model::Feed;
use crate::blob::BlobKey;
use crate::db::{self, assemblies::AssemblyRow};
use crate::domain::{ContentItem, ContentSource, VirtualContents};
use crate::error::{OrInternal, ServiceError};
use crate::telemetry::spawn_blocking_in_span;
use crate::upack::{self, AssemblyPart};

use super::Wharf;
use super::blob_bytes::{self, BytesSource};
use super::connectors::upstream;
use super::resolve::VersionSelector;
use crate::db::packages::VersionRow;

/// Bumped when the assembly format or its key changes, so old entries miss.
const ASSEMBLY_FORMAT: &[u8] = b"wharf-assembly-v2\0";

/// A stored, assembled package.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// Where its bytes are.
    pub blob_sha256: String,
    /// SHA-1 of its bytes.
    pub sha1: String,
    /// Its size.
    pub size_bytes: i64,
}

impl From<AssemblyRow> for Assembled {
    fn from(row: AssemblyRow) -> Self {
        Self {
            blob_sha256: row.blob_sha256,
            sha1: row.sha1,
            size_bytes: row.size_bytes,
        }
    }
}

/// A reference, resolved as far as the database can: enough to compute the
/// cache key without touching any bytes.
enum Resolved {
    /// A stored package, by its blob.
    Package {
        blob_sha256: String,
        size_bytes: i64,
        package_path: String,
    },
    /// A URL to fetch, with the SHA-1 the manifest expects, if any.
    Url { url: String, sha1: Option<String> },
}

/// Serialises assemblies that share a cache key, so that concurrent first
/// downloads build once (the later ones find the cached row). Striped: two
/// different keys rarely share a stripe, and sharing one only makes them wait.
#[derive(Debug)]
pub struct AssemblyLocks([tokio::sync::Mutex<()>; 16]);

impl Default for AssemblyLocks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl AssemblyLocks {
    fn stripe(&self, cache_key: &str) -> &tokio::sync::Mutex<()> {
        let first = u8::from_str_radix(cache_key.get(..2).unwrap_or("0"), 16).unwrap_or(0);
        &self.0[usize::from(first) % self.0.len()]
    }
}

/// Returns the assembled `.upack` of the virtual package `row` in `feed`,
/// building and caching it on first use.
#[tracing::instrument(skip_all, fields(feed = %feed.name, package.name = %row.name, version = %row.version))]
pub async fn assembled(
    wharf: &Wharf,
    feed: &Feed,
    row: &VersionRow,
) -> Result<Assembled, ServiceError> {
    let manifest: Map<String, Value> =
        serde_json::from_str(&row.manifest_json).or_internal("in assembled")?;
    let contents = VirtualContents::parse(&manifest).map_err(|e| {
        ServiceError::Conflict(format!(
            "The virtual package's manifest cannot be assembled: {e}"
        ))
    })?;
    let who = format!("{} {}", row.name, row.version);

    let mut key = Sha256::new();
    key.update(ASSEMBLY_FORMAT);
    key.update(row.blob_sha256.as_bytes());
    let mut resolved = Vec::new();
    for (is_meta, item) in contents.all() {
        let reference = resolve_reference(wharf, feed, &who, item).await?;
        match &reference {
            Resolved::Package { blob_sha256, .. } => {
                key.update(b"\0package\0");
                key.update(blob_sha256.as_bytes());
            }
            Resolved::Url { url, sha1 } => {
                key.update(b"\0url\0");
                key.update(url.as_bytes());
                key.update(b"\0");
                key.update(sha1.as_deref().unwrap_or_default().as_bytes());
            }
        }
        resolved.push((is_meta, item.clone(), reference));
    }
    let cache_key = hex::encode(key.finalize());
    if let Some(hit) = db::assemblies::find(&wharf.db, &cache_key).await? {
        tracing::debug!(cache_key, "assembly cache hit");
        return Ok(hit.into());
    }
    let _building = wharf.assembly_locks.stripe(&cache_key).lock().await;
    if let Some(hit) = db::assemblies::find(&wharf.db, &cache_key).await? {
        return Ok(hit.into());
    }
    build(wharf, row, manifest, &who, cache_key, resolved).await
}

/// Resolves one `contents` item in the database, checking what can be
/// checked without its bytes.
#[tracing::instrument(level = "debug", skip_all)]
async fn resolve_reference(
    wharf: &Wharf,
    feed: &Feed,
    who: &str,
    item: &ContentItem,
) -> Result<Resolved, ServiceError> {
    match &item.source {
        ContentSource::Package {
            id,
            version,
            sha1,
            package_path,
        } => {
            let selector = VersionSelector::Exact(version.clone());
            // A component the feed lacks comes through its connectors, if any.
            let referenced = match upstream::resolve_or_fetch(wharf, feed, id, &selector).await {
                Ok(found) => found.row,
                Err(ServiceError::NotFound(_)) => {
                    return Err(ServiceError::Conflict(format!(
                        "The virtual package {who} references {id}:{version}, which is not in feed '{}'.",
                        feed.name
                    )));
                }
                Err(other) => return Err(other),
            };
            if let Some(expected) = sha1
                && *expected != referenced.sha1
            {
                return Err(ServiceError::Conflict(format!(
                    "The virtual package {who} references {id}:{version} with SHA-1 {expected}, but the stored package's SHA-1 is {}.",
                    referenced.sha1
                )));
            }
            if referenced.is_virtual {
                return Err(ServiceError::Conflict(format!(
                    "The virtual package {who} references {id}:{version}, which is itself virtual; nesting virtual packages is not supported."
                )));
            }
            Ok(Resolved::Package {
                blob_sha256: referenced.blob_sha256.clone(),
                size_bytes: referenced.size_bytes,
                package_path: package_path.clone(),
            })
        }
        ContentSource::Url { url, sha1 } => {
            allowed_url(wharf, who, url)?;
            Ok(Resolved::Url {
                url: url.clone(),
                sha1: sha1.clone(),
            })
        }
        ContentSource::Asset {
            feed: assets,
            asset,
        } => Err(ServiceError::Conflict(format!(
            "The virtual package {who} references the asset {assets}/{asset}; asset directory sources are not supported."
        ))),
    }
}

/// What a reference's bytes are, kept alive until assembly is done.
enum Input {
    Archive(crate::blob::SeekableBlob, String),
    File(tempfile::TempPath, String),
}

/// Opens and fetches the inputs, writes the assembly and stores it.
#[tracing::instrument(level = "debug", skip_all)]
async fn build(
    wharf: &Wharf,
    row: &VersionRow,
    manifest: Map<String, Value>,
    who: &str,
    cache_key: String,
    resolved: Vec<(bool, ContentItem, Resolved)>,
) -> Result<Assembled, ServiceError> {
    let mut inputs = Vec::with_capacity(resolved.len());
    for (is_meta, item, reference) in resolved {
        let input = match reference {
            Resolved::Package {
                blob_sha256,
                size_bytes,
                package_path,
            } => {
                let blob_key = BlobKey::from_hex(&blob_sha256)
                    .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))?;
                let blob = blob_bytes::open_seekable(wharf, &blob_key, size_bytes).await?;
                Input::Archive(blob, package_path)
            }
            Resolved::Url { url, sha1 } => {
                let file = fetch_url(wharf, who, &url, sha1.as_deref()).await?;
                let base_name = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|b| !b.is_empty())
                    .unwrap_or("file")
                    .to_owned();
                Input::File(file, base_name)
            }
        };
        inputs.push((is_meta, item, input));
    }

    let parts: Vec<AssemblyPart> = inputs
        .iter()
        .map(|(is_meta, item, input)| {
            let root = if *is_meta { "" } else { "package/" };
            let target = format!("{root}{}", item.virtual_path);
            let folder = if target.is_empty() || target.ends_with('/') {
                target.clone()
            } else {
                format!("{target}/")
            };
            match input {
                Input::Archive(blob, from_prefix) => AssemblyPart::Archive {
                    path: blob.path().to_owned(),
                    from_prefix: from_prefix.clone(),
                    to_prefix: folder,
                },
                Input::File(path, base_name) => AssemblyPart::File {
                    path: path.to_path_buf(),
                    to: if item.is_file && !item.virtual_path.is_empty() {
                        target
                    } else {
                        format!("{folder}{base_name}")
                    },
                },
            }
        })
        .collect();
    let mut output_manifest = manifest;
    output_manifest.remove("contents");
    output_manifest.remove("metaContents");
    let manifest_bytes =
        serde_json::to_vec_pretty(&Value::Object(output_manifest)).or_internal("in build")?;

    let output = tempfile::NamedTempFile::new_in(wharf.temp_dir())
        .or_internal("in build")?
        .into_temp_path();
    let output_path: PathBuf = output.to_path_buf();
    let (sha1, sha256, size_bytes) = spawn_blocking_in_span(move || {
        upack::assemble(&output_path, &manifest_bytes, &parts)?;
        crate::blob::digest_file(&output_path).or_internal("in build")
    })
    .await
    .or_internal("in build")??;
    drop(inputs);
    let blob_key = BlobKey::from_digest(sha256);
    wharf
        .blobs
        .put_file(&blob_key, &output)
        .await
        .or_internal("in build")?;
    let assembly = AssemblyRow {
        cache_key,
        blob_sha256: blob_key.to_hex(),
        sha1: hex::encode(sha1),
        size_bytes: i64::try_from(size_bytes).or_internal("in build")?,
    };
    db::assemblies::store(&wharf.db, &assembly, row.id, || {
        blob_bytes::ensure(wharf, &blob_key, BytesSource::File(&output))
    })
    .await?;
    tracing::info!(size_bytes, "virtual package assembled");
    Ok(assembly.into())
}

/// Refuses a URL source whose host is not on the allow-list.
fn allowed_url(wharf: &Wharf, who: &str, url: &str) -> Result<(), ServiceError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| {
        ServiceError::Conflict(format!(
            "The virtual package {who} references {url}: it is not a valid URL."
        ))
    })?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = wharf
        .settings
        .vpack
        .url_allowlist
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host));
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::Conflict(format!(
            "The virtual package {who} references {url}: the host '{host}' is not on vpack.url_allowlist (WHARF_VPACK_URL_ALLOWLIST)."
        )))
    }
}

/// Fetches an allowed URL source into a temporary file, at most
/// `vpack.max_url_source_bytes` (and never more than the upload limit), and
/// checks its SHA-1.
#[tracing::instrument(level = "debug", skip_all)]
async fn fetch_url(
    wharf: &Wharf,
    who: &str,
    url: &str,
    expected_sha1: Option<&str>,
) -> Result<tempfile::TempPath, ServiceError> {
    let refuse = |why: String| {
        ServiceError::Conflict(format!(
            "The virtual package {who} references {url}: {why}."
        ))
    };
    let max_bytes = wharf
        .settings
        .vpack
        .max_url_source_bytes
        .min(wharf.settings.limits.max_upload_bytes);
    let response = wharf
        .http_client
        .get(url)
        .send()
        .await
        .map_err(|e| refuse(format!("fetching it failed ({e})")))?;
    if !response.status().is_success() {
        return Err(refuse(format!("the server answered {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(refuse(format!(
            "it is larger than {max_bytes} bytes (vpack.max_url_source_bytes)"
        )));
    }
    let temp = tempfile::NamedTempFile::new_in(wharf.temp_dir()).or_internal("in fetch_url")?;
    let (file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let (mut sha1, mut size) = (Sha1::new(), 0u64);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| refuse(format!("fetching it failed ({e})")))?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(refuse(format!(
                "it is larger than {max_bytes} bytes (vpack.max_url_source_bytes)"
            )));
        }
        sha1.update(&chunk);
        file.write_all(&chunk).await.or_internal("in fetch_url")?;
    }
    file.flush().await.or_internal("in fetch_url")?;
    let actual = hex::encode(sha1.finalize());
    if let Some(expected) = expected_sha1
        && expected != actual
    {
        return Err(refuse(format!(
            "its SHA-1 is {actual}, not the expected {expected}"
        )));
    }
    tracing::info!(url, size, "URL source fetched");
    Ok(path)
}
