//! Bringing the other upload forms to a package file: a JSON or form body
//! carrying `content-b64` (a zip) and metadata, a plain zip plus
//! `name`/`version` (query, path or form) converted into a package, and a
//! `.upack` plus extra metadata merged into its `upack.json`. Blocking code.

use serde_json::{Map, Value};

use crate::domain::Manifest;
use crate::error::{OrInternal, ServiceError};
use crate::upack;

use super::hints::UploadHints;
use super::spool::{Spooled, SpooledBytes};

/// Largest JSON or form body (they are parsed in memory, `content-b64` and all).
pub const MAX_FIELDS_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Brings the other upload forms to a package file (see the module docs).
/// Blocking. Returns the file to store and the hints left to check.
pub(super) fn prepare(
    spooled: Spooled,
    mut hints: UploadHints,
    temp_dir: &std::path::Path,
    max_manifest_bytes: u64,
) -> Result<(Spooled, UploadHints), ServiceError> {
    let head = match &spooled.bytes {
        SpooledBytes::Memory(body) => body.iter().take(8).copied().collect(),
        SpooledBytes::File(path) => read_head(path)?,
    };
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
        let body = match &spooled.bytes {
            SpooledBytes::Memory(body) => std::borrow::Cow::Borrowed(&body[..]),
            SpooledBytes::File(path) => std::fs::read(path).or_internal("in prepare")?.into(),
        };
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
        let file = tempfile::NamedTempFile::new_in(temp_dir).or_internal("in prepare")?;
        std::fs::write(file.path(), &decoded).or_internal("in prepare")?;
        Some(file.into_temp_path())
    } else if is_zip {
        None
    } else {
        return Ok((spooled, hints));
    };
    let has_manifest = match (&zip_file, &spooled.bytes) {
        (Some(zip), _) => upack::has_manifest(zip)?,
        (None, SpooledBytes::Memory(body)) => upack::has_manifest_in(body)?,
        (None, SpooledBytes::File(path)) => upack::has_manifest(path)?,
    };
    if has_manifest && hints.properties.is_empty() && zip_file.is_none() {
        return Ok((spooled, hints));
    }
    // The conversions below read and write files.
    let source = match (zip_file, spooled.bytes) {
        (Some(zip), _) | (None, SpooledBytes::File(zip)) => zip,
        (None, SpooledBytes::Memory(body)) => {
            let file = tempfile::NamedTempFile::new_in(temp_dir).or_internal("in prepare")?;
            std::fs::write(file.path(), &body).or_internal("in prepare")?;
            file.into_temp_path()
        }
    };
    let source: &std::path::Path = &source;
    let output = tempfile::NamedTempFile::new_in(temp_dir)
        .or_internal("in prepare")?
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
    let (sha1, sha256, size_bytes) = crate::blob::digest_file(&output).or_internal("in prepare")?;
    Ok((
        Spooled {
            bytes: SpooledBytes::File(output),
            sha1,
            sha256,
            size_bytes,
        },
        hints,
    ))
}

fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec_pretty(&manifest.properties).or_internal("in manifest_bytes")
}

fn read_head(path: &std::path::Path) -> Result<Vec<u8>, ServiceError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .and_then(|f| f.take(8).read_to_end(&mut head))
        .or_internal("in read_head")?;
    Ok(head)
}
