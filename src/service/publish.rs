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
//! Before step 2, other upload forms are brought to a package file: a JSON or
//! form body carrying `content-b64` (a zip) and metadata, a plain zip plus
//! `name`/`version` (query, path or form) converted into a package, and a
//! `.upack` plus extra metadata merged into its `upack.json`.
//!
//! A failure at any step leaves nothing visible: the spool file is removed on
//! drop (one left by a killed process is swept by `wharf gc`), and a blob
//! written for a transaction that then lost stays unreferenced until `wharf
//! gc` (deleting it inline could race with another upload of the same bytes
//! that found it present).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::blob::BlobKey;
use crate::db::{self, TxError, packages::NewVersion, packages::StoreOutcome};
use crate::domain::{GroupName, Manifest, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::telemetry::spawn_blocking_in_span;
use crate::upack::{self, Container};
use serde_json::{Map, Value};

use super::blob_bytes::{self, BytesSource};
use super::{Caller, Wharf, access};

/// Metadata the request gave besides the package itself (path tail, query
/// string, or the fields of a JSON or form body). Identity given here must
/// agree with the package's manifest; other properties are merged into it.
#[derive(Debug, Clone, Default)]
pub struct UploadHints {
    /// Decoded path segments after `/upload`.
    pub path_segments: Vec<String>,
    /// `group`.
    pub group: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// Other manifest properties (`title`, `description`, `dependencies`, ...).
    pub properties: Map<String, Value>,
    /// The body was declared as form fields (`application/x-www-form-urlencoded`).
    pub form_body: bool,
    /// The body's declared `Content-Length`: a body that ends before it is an
    /// incomplete message (RFC 9112 section 6.3), never a package.
    pub declared_length: Option<u64>,
}

/// Largest JSON or form body (they are parsed in memory, `content-b64` and all).
pub const MAX_FIELDS_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Query and form keys that are not manifest properties.
const CONTROL_KEYS: [&str; 7] = [
    "key",
    "group",
    "name",
    "version",
    "content-b64",
    "content-url",
    "api_key",
];

impl UploadHints {
    /// Adds request fields (query string or body), refusing a field given
    /// twice with different values.
    pub fn add_fields(
        &mut self,
        fields: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<(), ServiceError> {
        for (key, value) in fields {
            let lower = key.to_ascii_lowercase();
            let text = || match &value {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ServiceError::BadRequest(format!("{key} must be a string."))),
            };
            let slot = match lower.as_str() {
                "group" => Some(&mut self.group),
                "name" => Some(&mut self.name),
                "version" => Some(&mut self.version),
                _ => None,
            };
            if let Some(slot) = slot {
                let given = text()?;
                if slot.as_ref().is_some_and(|old| *old != given) {
                    return Err(ServiceError::BadRequest(format!(
                        "{key} is given twice with different values."
                    )));
                }
                *slot = Some(given);
                continue;
            }
            if CONTROL_KEYS.contains(&lower.as_str()) {
                continue;
            }
            let value = if lower == "dependencies" {
                match value {
                    Value::String(list) => Value::Array(
                        list.split(',')
                            .map(str::trim)
                            .filter(|d| !d.is_empty())
                            .map(|d| Value::String(d.to_owned()))
                            .collect(),
                    ),
                    other => other,
                }
            } else {
                value
            };
            if self.properties.get(&key).is_some_and(|old| *old != value) {
                return Err(ServiceError::BadRequest(format!(
                    "{key} is given twice with different values."
                )));
            }
            self.properties.insert(key, value);
        }
        Ok(())
    }

    /// Identity read from the path of a plain-zip upload:
    /// `<group...>/<name>/<version>` or `<group...>/<name>`.
    fn identity_from_path(&self) -> Result<UploadHints, ServiceError> {
        let mut from_path = UploadHints::default();
        let segments = &self.path_segments;
        if let Some((last, rest)) = segments.split_last() {
            let fields: Vec<(String, Value)> = match rest.split_last() {
                Some((name, group)) if Version::parse(last).is_ok() => vec![
                    ("group".into(), Value::String(group.join("/"))),
                    ("name".into(), Value::String(name.clone())),
                    ("version".into(), Value::String(last.clone())),
                ],
                _ => vec![
                    ("group".into(), Value::String(rest.join("/"))),
                    ("name".into(), Value::String(last.clone())),
                ],
            };
            from_path.add_fields(fields)?;
        }
        Ok(from_path)
    }
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
    let spooled = spool(wharf, body, hints.declared_length).await?;
    let temp_dir = wharf.temp_dir();
    let max_manifest_bytes = wharf.settings.limits.package.max_manifest_bytes;
    let (spooled, hints) =
        spawn_blocking_in_span(move || prepare(spooled, hints, &temp_dir, max_manifest_bytes))
            .await
            .map_err(ServiceError::internal)??;

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
    // Written (and made durable) before the transaction, so that the common
    // case holds no database lock while the bytes move; written again inside
    // it only if gc took them meanwhile (see `db::blobs`).
    wharf
        .blobs
        .put_file(&key, &spooled.path)
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
        search_text: &manifest.search_text(),
        blob_sha256: &sha256,
        blob_sha1: &sha1,
        blob_size_bytes: i64::try_from(size_bytes).map_err(ServiceError::internal)?,
    };
    let stored = db::packages::store_version(&wharf.db, &new, may_overwrite, None, || {
        blob_bytes::ensure(wharf, &key, BytesSource::File(&spooled.path))
    })
    .await;
    match stored {
        Ok(StoreOutcome::Stored) => {}
        Ok(StoreOutcome::AlreadyExists) => return Err(already_exists(manifest, &feed.name)),
        Err(TxError::Db(e)) if db::is_unique_violation(&e) => {
            return Err(already_exists(manifest, &feed.name));
        }
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
///
/// The reactor only gathers the body into batches of [`SPOOL_BATCH_BYTES`];
/// each batch is written and hashed on the blocking pool (SHA-1 and SHA-256
/// on two threads, the write on a third) while the next batch arrives. At
/// most two batches are in memory, whatever the package size.
async fn spool<S, E>(
    wharf: &Wharf,
    mut body: S,
    declared_length: Option<u64>,
) -> Result<Spooled, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let max_bytes = wharf.settings.limits.max_upload_bytes;
    let idle = std::time::Duration::from_secs(wharf.settings.limits.upload_idle_seconds);
    let temp = tempfile::NamedTempFile::new_in(wharf.temp_dir()).map_err(ServiceError::internal)?;
    let (file, path) = temp.into_parts();
    let mut writer = SpoolWriter::new(file);
    let mut batch: Vec<Bytes> = Vec::new();
    let (mut batch_bytes, mut size_bytes) = (0usize, 0u64);
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
        batch_bytes += chunk.len();
        batch.push(chunk);
        if batch_bytes >= SPOOL_BATCH_BYTES {
            writer.write(std::mem::take(&mut batch)).await?;
            batch_bytes = 0;
        }
    }
    if let Some(declared) = declared_length.filter(|declared| *declared != size_bytes) {
        return Err(ServiceError::BadRequest(format!(
            "The body ended after {size_bytes} of the {declared} bytes its Content-Length declared; the upload is incomplete."
        )));
    }
    writer.write(batch).await?;
    let (sha1, sha256) = writer.finish().await?;
    Ok(Spooled {
        path,
        sha1,
        sha256,
        size_bytes,
    })
}

/// Size of the batches an upload body is written and hashed in.
const SPOOL_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The file and digests of a spool, owned by at most one blocking job at a time.
struct SpoolState {
    file: std::fs::File,
    sha1: Sha1,
    sha256: Sha256,
}

/// Writes and hashes batches on the blocking pool, one batch in flight.
struct SpoolWriter {
    idle: Option<SpoolState>,
    in_flight: Option<tokio::task::JoinHandle<std::io::Result<SpoolState>>>,
}

impl SpoolWriter {
    fn new(file: std::fs::File) -> Self {
        Self {
            idle: Some(SpoolState {
                file,
                sha1: Sha1::new(),
                sha256: Sha256::new(),
            }),
            in_flight: None,
        }
    }

    /// Waits for the batch in flight, if any, and takes the state back.
    async fn settle(&mut self) -> Result<SpoolState, ServiceError> {
        if let Some(job) = self.in_flight.take() {
            return job
                .await
                .map_err(ServiceError::internal)?
                .map_err(ServiceError::internal);
        }
        self.idle
            .take()
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("spool state lost")))
    }

    /// Hands `batch` to the blocking pool once the previous batch is done.
    async fn write(&mut self, batch: Vec<Bytes>) -> Result<(), ServiceError> {
        let mut state = self.settle().await?;
        if batch.is_empty() {
            self.idle = Some(state);
            return Ok(());
        }
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let SpoolState { file, sha1, sha256 } = &mut state;
            std::thread::scope(|scope| {
                scope.spawn(|| batch.iter().for_each(|chunk| sha1.update(chunk)));
                scope.spawn(|| batch.iter().for_each(|chunk| sha256.update(chunk)));
                batch
                    .iter()
                    .try_for_each(|chunk| std::io::Write::write_all(file, chunk))
            })?;
            Ok(state)
        }));
        Ok(())
    }

    /// Waits for the last batch and returns the digests.
    async fn finish(mut self) -> Result<([u8; 20], [u8; 32]), ServiceError> {
        let state = self.settle().await?;
        Ok((state.sha1.finalize().into(), state.sha256.finalize().into()))
    }
}

/// Brings the other upload forms to a package file (see the module docs).
/// Blocking. Returns the file to store and the hints left to check.
fn prepare(
    spooled: Spooled,
    mut hints: UploadHints,
    temp_dir: &std::path::Path,
    max_manifest_bytes: u64,
) -> Result<(Spooled, UploadHints), ServiceError> {
    let head = read_head(&spooled.path)?;
    let is_zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
    let first = head
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && ![0xEF, 0xBB, 0xBF].contains(b));
    let zip_file = if !is_zip
        && (first == Some(b'{') || (hints.form_body && spooled.size_bytes > 0))
    {
        if spooled.size_bytes > MAX_FIELDS_BODY_BYTES {
            return Err(ServiceError::PayloadTooLarge(format!(
                "A JSON or form upload body may be at most {MAX_FIELDS_BODY_BYTES} bytes; send the zip itself instead."
            )));
        }
        let body = std::fs::read(&spooled.path).map_err(ServiceError::internal)?;
        let fields: Vec<(String, Value)> = if first == Some(b'{') {
            match serde_json::from_slice::<Value>(&body) {
                // A virtual package manifest is a package in itself.
                Ok(Value::Object(object)) if object.contains_key("contents") => {
                    return Ok((spooled, hints));
                }
                Ok(Value::Object(object)) => object.into_iter().collect(),
                _ => return Ok((spooled, hints)),
            }
        } else {
            form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        };
        let content = fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-b64"))
            .map(|(_, v)| v.clone());
        if fields
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-url"))
        {
            return Err(ServiceError::BadRequest(
                "content-url is not supported; send the zip itself or content-b64.".to_owned(),
            ));
        }
        hints.add_fields(fields)?;
        let Some(Value::String(encoded)) = content else {
            return Err(ServiceError::BadRequest(
                "A JSON or form upload needs content-b64 (a base64 zip), or a contents array for a virtual package."
                    .to_owned(),
            ));
        };
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
                .map_err(|_| {
                    ServiceError::BadRequest("content-b64 is not valid base64.".to_owned())
                })?;
        if !decoded.starts_with(b"PK") {
            return Err(ServiceError::BadRequest(
                "content-b64 must hold a zip archive.".to_owned(),
            ));
        }
        let file = tempfile::NamedTempFile::new_in(temp_dir).map_err(ServiceError::internal)?;
        std::fs::write(file.path(), &decoded).map_err(ServiceError::internal)?;
        Some(file.into_temp_path())
    } else if is_zip {
        None
    } else {
        return Ok((spooled, hints));
    };
    let source: &std::path::Path = zip_file.as_deref().unwrap_or(&spooled.path);
    let has_manifest = upack::has_manifest(source)?;
    if has_manifest && hints.properties.is_empty() && zip_file.is_none() {
        return Ok((spooled, hints));
    }
    let output = tempfile::NamedTempFile::new_in(temp_dir)
        .map_err(ServiceError::internal)?
        .into_temp_path();
    if has_manifest {
        let Value::Object(mut manifest) =
            serde_json::from_slice(&upack::read_manifest(source, max_manifest_bytes)?).map_err(
                |e| {
                    ServiceError::BadRequest(format!(
                        "Invalid upack.json: upack.json is not valid JSON ({e})."
                    ))
                },
            )?
        else {
            return Err(ServiceError::BadRequest(
                "Invalid upack.json: upack.json must be a JSON object.".to_owned(),
            ));
        };
        manifest.extend(hints.properties.clone());
        let manifest = Manifest::from_properties(manifest)?;
        upack::replace_manifest(source, &output, &manifest_bytes(&manifest)?)?;
    } else {
        let mut identity = hints.identity_from_path()?;
        identity.add_fields(
            [
                ("group".to_owned(), hints.group.clone().map(Value::String)),
                ("name".to_owned(), hints.name.clone().map(Value::String)),
                (
                    "version".to_owned(),
                    hints.version.clone().map(Value::String),
                ),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?))),
        )?;
        let (Some(name), Some(version)) = (&identity.name, &identity.version) else {
            return Err(ServiceError::BadRequest(
                "The zip has no upack.json; give name and version (in the query, the path or the form) to make it a package."
                    .to_owned(),
            ));
        };
        let mut properties = Map::new();
        if let Some(group) = identity.group.as_ref().filter(|g| !g.is_empty()) {
            properties.insert("group".into(), Value::String(group.clone()));
        }
        properties.insert("name".into(), Value::String(name.clone()));
        properties.insert("version".into(), Value::String(version.clone()));
        properties.extend(hints.properties.clone());
        let manifest = Manifest::from_properties(properties)?;
        upack::convert_plain_zip(source, &output, &manifest_bytes(&manifest)?)?;
    }
    let (sha1, sha256, size_bytes) =
        crate::blob::digest_file(&output).map_err(ServiceError::internal)?;
    Ok((
        Spooled {
            path: output,
            sha1,
            sha256,
            size_bytes,
        },
        hints,
    ))
}

fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec_pretty(&manifest.properties).map_err(ServiceError::internal)
}

fn read_head(path: &std::path::Path) -> Result<Vec<u8>, ServiceError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .and_then(|f| f.take(8).read_to_end(&mut head))
        .map_err(ServiceError::internal)?;
    Ok(head)
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
    if let Some(name) = &hints.name
        && !PackageName::parse(name)?
            .lower()
            .eq(&manifest.id.name.lower())
    {
        return Err(mismatch("name", name, manifest.id.name.as_str()));
    }
    if let Some(group) = &hints.group
        && GroupName::parse(group)?.lower() != manifest.id.group.lower()
    {
        return Err(mismatch("group", group, manifest.id.group.as_str()));
    }
    if let Some(version) = &hints.version
        && Version::parse(version)? != manifest.version
    {
        return Err(mismatch("version", version, &manifest.version.to_string()));
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
