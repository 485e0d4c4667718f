//! Assembling a virtual package into a regular `.upack` on download.
//!
//! Every reference is resolved in the virtual package's own feed and its
//! SHA-1 checked when the manifest gives one. The result is cached under a
//! key computed from everything that went into it (the manifest's blob and
//! each referenced blob, in order), so a second download costs the reference
//! lookups and one cache lookup, and a replaced reference can never be served
//! from a stale assembly. Archive work runs off the reactor.

use std::path::PathBuf;

use futures_util::StreamExt;
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blob::{BlobKey, SeekableBlob};
use crate::db::{self, assemblies::AssemblyRow, feeds::FeedRow};
use crate::domain::{ContentSource, VirtualContents};
use crate::error::ServiceError;
use crate::telemetry::spawn_blocking_in_span;
use crate::upack::{self, AssemblyPart};

use super::Wharf;
use super::packages::{self, VersionRow, VersionSelector};

/// Bumped when the assembly format changes, so old cache entries miss.
const ASSEMBLY_FORMAT: &[u8] = b"wharf-assembly-v1\0";

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

/// What a reference resolved to, kept alive until assembly is done.
enum Input {
    Archive(SeekableBlob, String),
    File(tempfile::TempPath, String),
}

/// Returns the assembled `.upack` of the virtual package `row` in `feed`,
/// building and caching it on first use.
#[tracing::instrument(skip_all, fields(feed = %feed.name, package.name = %row.name, version = %row.version))]
pub async fn assembled(
    wharf: &Wharf,
    feed: &FeedRow,
    row: &VersionRow,
) -> Result<Assembled, ServiceError> {
    let manifest: Map<String, Value> =
        serde_json::from_str(&row.manifest_json).map_err(ServiceError::internal)?;
    let contents = VirtualContents::parse(&manifest).map_err(|e| {
        ServiceError::Conflict(format!(
            "The virtual package's manifest cannot be assembled: {e}"
        ))
    })?;
    let who = format!("{} {}", row.name, row.version);

    let mut key = Sha256::new();
    key.update(ASSEMBLY_FORMAT);
    key.update(row.blob_sha256.as_bytes());
    let mut inputs = Vec::new();
    for (is_meta, item) in contents.all() {
        let input = match &item.source {
            ContentSource::Package {
                id,
                version,
                sha1,
                package_path,
            } => {
                let selector = VersionSelector::Exact(version.clone());
                let referenced = match packages::resolve(wharf, feed, id, &selector).await {
                    Ok(found) => found,
                    Err(ServiceError::NotFound(_)) => {
                        return Err(ServiceError::Conflict(format!(
                            "The virtual package {who} references {id}:{version}, which is not in feed '{}'.",
                            feed.name
                        )));
                    }
                    Err(other) => return Err(other),
                };
                if let Some(expected) = sha1 {
                    if *expected != referenced.sha1 {
                        return Err(ServiceError::Conflict(format!(
                            "The virtual package {who} references {id}:{version} with SHA-1 {expected}, but the stored package's SHA-1 is {}.",
                            referenced.sha1
                        )));
                    }
                }
                if referenced.is_virtual {
                    return Err(ServiceError::Conflict(format!(
                        "The virtual package {who} references {id}:{version}, which is itself virtual; nesting virtual packages is not supported."
                    )));
                }
                key.update(referenced.blob_sha256.as_bytes());
                let blob_key = BlobKey::from_hex(&referenced.blob_sha256)
                    .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("bad blob hash")))?;
                let blob = wharf
                    .blobs
                    .open_seekable(&blob_key, &wharf.temp_dir())
                    .await
                    .map_err(ServiceError::internal)?;
                Input::Archive(blob, package_path.clone())
            }
            ContentSource::Url { url, sha1 } => {
                let (file, sha256) = fetch_url(wharf, &who, url, sha1.as_deref()).await?;
                key.update(sha256.as_bytes());
                let base_name = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|b| !b.is_empty())
                    .unwrap_or("file")
                    .to_owned();
                Input::File(file, base_name)
            }
            ContentSource::Asset {
                feed: assets,
                asset,
            } => {
                return Err(ServiceError::Conflict(format!(
                    "The virtual package {who} references the asset {assets}/{asset}; asset directory sources are not supported."
                )));
            }
        };
        inputs.push((is_meta, item.clone(), input));
    }
    let cache_key = hex::encode(key.finalize());
    if let Some(hit) = db::assemblies::find(&wharf.db, &cache_key).await? {
        tracing::debug!(cache_key, "assembly cache hit");
        return Ok(Assembled {
            blob_sha256: hit.blob_sha256,
            sha1: hit.sha1,
            size_bytes: hit.size_bytes,
        });
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
    let manifest_bytes = serde_json::to_vec_pretty(&Value::Object(output_manifest))
        .map_err(ServiceError::internal)?;

    let output = tempfile::NamedTempFile::new_in(wharf.temp_dir())
        .map_err(ServiceError::internal)?
        .into_temp_path();
    let output_path: PathBuf = output.to_path_buf();
    let (sha1, sha256, size_bytes) = spawn_blocking_in_span(move || {
        upack::assemble(&output_path, &manifest_bytes, &parts)?;
        crate::blob::digest_file(&output_path).map_err(ServiceError::internal)
    })
    .await
    .map_err(ServiceError::internal)??;
    drop(inputs);
    let blob_key = BlobKey::from_digest(sha256);
    wharf
        .blobs
        .put_file(&blob_key, output)
        .await
        .map_err(ServiceError::internal)?;
    let assembly = AssemblyRow {
        cache_key,
        blob_sha256: blob_key.to_hex(),
        sha1: hex::encode(sha1),
        size_bytes: i64::try_from(size_bytes).map_err(ServiceError::internal)?,
    };
    db::assemblies::insert(&wharf.db, &assembly, &row.blob_sha256).await?;
    tracing::info!(size_bytes, "virtual package assembled");
    Ok(Assembled {
        blob_sha256: assembly.blob_sha256,
        sha1: assembly.sha1,
        size_bytes: assembly.size_bytes,
    })
}

/// Fetches a URL source into a temporary file, if its host is allowed, and
/// checks its SHA-1. Returns the file and its SHA-256 (hex).
async fn fetch_url(
    wharf: &Wharf,
    who: &str,
    url: &str,
    expected_sha1: Option<&str>,
) -> Result<(tempfile::TempPath, String), ServiceError> {
    let refuse = |why: String| {
        ServiceError::Conflict(format!(
            "The virtual package {who} references {url}: {why}."
        ))
    };
    let parsed =
        reqwest::Url::parse(url).map_err(|_| refuse("it is not a valid URL".to_owned()))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = wharf
        .settings
        .vpack
        .url_allowlist
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host));
    if !allowed {
        return Err(refuse(format!(
            "the host '{host}' is not on vpack.url_allowlist (WHARF_VPACK_URL_ALLOWLIST)"
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ServiceError::internal)?;
    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| refuse(format!("fetching it failed ({e})")))?;
    if !response.status().is_success() {
        return Err(refuse(format!("the server answered {}", response.status())));
    }
    let temp = tempfile::NamedTempFile::new_in(wharf.temp_dir()).map_err(ServiceError::internal)?;
    let (file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let (mut sha1, mut sha256, mut size) = (Sha1::new(), Sha256::new(), 0u64);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| refuse(format!("fetching it failed ({e})")))?;
        size += chunk.len() as u64;
        if size > wharf.settings.limits.max_upload_bytes {
            return Err(refuse("it is larger than the upload limit".to_owned()));
        }
        sha1.update(&chunk);
        sha256.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(ServiceError::internal)?;
    }
    file.flush().await.map_err(ServiceError::internal)?;
    let actual = hex::encode(sha1.finalize());
    if let Some(expected) = expected_sha1 {
        if expected != actual {
            return Err(refuse(format!(
                "its SHA-1 is {actual}, not the expected {expected}"
            )));
        }
    }
    Ok((path, hex::encode(sha256.finalize())))
}
