//! The Universal Package file format: reading and checking `.upack` archives and
//! `.vpack` manifests from a file on disk.
//!
//! Everything here is blocking code (the `zip` crate needs `Read + Seek`) and is
//! called through `spawn_blocking`. Inspection checks the central directory
//! against [`Limits`] first, from declared sizes alone, so a zip bomb is refused
//! before anything is inflated; then it streams every entry once, never more
//! than its declared size, to check that its data matches its declared size
//! and CRC-32 (a package that would be served cut short is refused at upload).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use serde::Serialize;

mod archive;
mod inspect;

pub use inspect::{inspect, inspect_bytes};

pub use archive::{
    AssemblyPart, ContentFormat, assemble, convert_plain_zip, has_manifest, has_manifest_in,
    read_manifest, replace_manifest, write_content,
};

pub use crate::domain::Container;
use crate::domain::{DomainError, Manifest};

/// Bounds applied to every package, named so that configuration and error
/// messages can quote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries an archive may hold.
    pub max_entries: usize,
    /// Largest total of the entries' declared uncompressed sizes.
    pub max_inflated_bytes: u64,
    /// Largest `upack.json` (or JSON virtual manifest).
    pub max_manifest_bytes: u64,
    /// Largest uncompressed/compressed ratio for an entry over 1 MiB.
    pub max_compression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 50_000,
            max_inflated_bytes: 64 * 1024 * 1024 * 1024,
            max_manifest_bytes: 1024 * 1024,
            max_compression_ratio: 1_000,
        }
    }
}

/// One content file of a package, as listed by `includeFileList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// Path relative to `package/`, with `/` separators.
    pub name: String,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Last-modified time from the archive, ISO 8601, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// What inspecting a package found.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// The validated manifest.
    pub manifest: Manifest,
    /// Zip or bare JSON.
    pub container: Container,
    /// The files under `package/`.
    pub files: Vec<FileEntry>,
}

/// Why a package was refused. Each message is one sentence for the client.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("The request body is empty; send a .upack file or a virtual package manifest.")]
    Empty,
    #[error("The body is neither a zip archive (.upack) nor a JSON virtual package manifest.")]
    NotAPackage,
    #[error("The package is not a readable zip archive ({0}).")]
    CorruptZip(String),
    #[error("The package has {count} entries; at most {max} are allowed (limits.max_entries).")]
    TooManyEntries { count: usize, max: usize },
    #[error(
        "The package has an entry with an unsafe path ('{0}'): entry names may not be absolute, contain '..' or a drive letter."
    )]
    UnsafeEntryName(String),
    #[error("The package has a symbolic link entry ('{0}'); links are not allowed in packages.")]
    SymlinkEntry(String),
    #[error(
        "The package has two entries named '{0}' (names that differ only in case or by './' are the same)."
    )]
    DuplicateEntry(String),
    #[error("The package has an entry name with a control character ('{0}').")]
    ControlCharacterInName(String),
    #[error("The package entry '{name}' is corrupt: {why}.")]
    CorruptEntry { name: String, why: String },
    #[error(
        "The package's directory lists {declared} entries but only {distinct} distinct names; entry names must be unique."
    )]
    DuplicateEntries { declared: u64, distinct: usize },
    #[error("The package inflates to more than {max} bytes (limits.max_inflated_bytes).")]
    InflatesTooLarge { max: u64 },
    #[error(
        "The package entry '{name}' compresses more than {max}:1 (limits.max_compression_ratio); it looks like a zip bomb."
    )]
    CompressionRatio { name: String, max: u64 },
    #[error("The package has no upack.json at the root of the archive.")]
    NoManifest,
    #[error("The manifest is larger than {max} bytes (limits.max_manifest_bytes).")]
    ManifestTooLarge { max: u64 },
    #[error("Invalid upack.json: {0}")]
    Manifest(#[from] DomainError),
    #[error("A JSON body must be a virtual package manifest with a 'contents' array.")]
    JsonNotVirtual,
    #[error("The package could not be read: {0}.")]
    Io(#[from] io::Error),
}

/// Where a requested path points inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryLookup {
    /// A file entry, by index, with its stored name and declared size.
    File {
        index: usize,
        name: String,
        size: u64,
    },
    /// The path names a directory.
    Directory,
    /// Nothing matches.
    Missing,
}

/// Finds `requested` (relative to the archive root) in the zip at `path`:
/// the exact name first, then with `\` read as `/`, then ignoring case, as the
/// reference client library does.
pub fn find_entry(path: &Path, requested: &str) -> Result<EntryLookup, PackageError> {
    let archive = open_zip(BufReader::new(File::open(path)?))?;
    let wanted = requested.replace('\\', "/");
    let wanted = wanted.trim_start_matches('/');
    let names: Vec<(usize, &str)> = archive.file_names().enumerate().collect();
    let exact = names.iter().find(|(_, n)| *n == requested);
    let normalized = || names.iter().find(|(_, n)| n.replace('\\', "/") == wanted);
    let folded = || {
        names
            .iter()
            .find(|(_, n)| n.replace('\\', "/").eq_ignore_ascii_case(wanted))
    };
    let found = exact
        .or_else(normalized)
        .or_else(folded)
        .map(|(i, n)| (*i, n.to_string()));
    drop(names);
    let mut archive = archive;
    if let Some((index, name)) = found {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
        if entry.is_dir() {
            return Ok(EntryLookup::Directory);
        }
        return Ok(EntryLookup::File {
            index,
            name,
            size: entry.size(),
        });
    }
    let folder = format!("{}/", wanted.trim_end_matches('/')).to_ascii_lowercase();
    let is_folder = !wanted.is_empty()
        && archive.file_names().any(|n| {
            n.replace('\\', "/")
                .to_ascii_lowercase()
                .starts_with(&folder)
        });
    Ok(if is_folder {
        EntryLookup::Directory
    } else {
        EntryLookup::Missing
    })
}

/// Inflates entry `index` of the zip at `path` into `sink`, never writing more
/// than its declared size (a lying header cannot inflate further).
pub fn copy_entry(path: &Path, index: usize, sink: &mut impl Write) -> Result<u64, PackageError> {
    let mut archive = open_zip(BufReader::new(File::open(path)?))?;
    let entry = archive
        .by_index(index)
        .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
    let declared = entry.size();
    Ok(io::copy(&mut entry.take(declared), sink)?)
}

/// Opens a zip for reading entries (a file wrapped in a `BufReader`, or bytes
/// in a `Cursor`).
fn open_zip<R: io::Read + io::Seek>(reader: R) -> Result<zip::ZipArchive<R>, PackageError> {
    zip::ZipArchive::new(reader).map_err(|e| PackageError::CorruptZip(e.to_string()))
}
