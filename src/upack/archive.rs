//! Writing archives: assembling a virtual package into a `.upack`, and
//! re-archiving a package's `package/` content as zip or tgz.
//!
//! Blocking code, called through `spawn_blocking`. Output goes to a file
//! (the zip format needs to seek back to write its central directory); the
//! caller streams that file. Compressed entries are copied raw, never
//! inflated and deflated again.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::PackageError;

/// One piece of an assembled package.
#[derive(Debug, Clone)]
pub enum AssemblyPart {
    /// Entries of a referenced package archive under `from_prefix` (matched
    /// ignoring case and separator), placed under `to_prefix`.
    Archive {
        path: PathBuf,
        from_prefix: String,
        to_prefix: String,
    },
    /// One file, placed at `to`.
    File { path: PathBuf, to: String },
}

/// Writes a `.upack` to `output`: `manifest` as `upack.json`, then each part
/// in order. When two parts write the same path, the first one wins.
pub fn assemble(
    output: &Path,
    manifest: &[u8],
    parts: &[AssemblyPart],
) -> Result<(), PackageError> {
    let mut writer = package_writer(output, manifest)?;
    let mut written: HashSet<String> = HashSet::from(["upack.json".to_owned()]);
    for part in parts {
        match part {
            AssemblyPart::Archive {
                path,
                from_prefix,
                to_prefix,
            } => {
                let mut archive = open(path)?;
                for index in 0..archive.len() {
                    let entry = archive.by_index_raw(index).map_err(zip_error)?;
                    if entry.is_dir() {
                        continue;
                    }
                    let name = entry.name().replace('\\', "/");
                    let Some(relative) = strip_prefix_ignoring_case(&name, from_prefix) else {
                        continue;
                    };
                    let target = format!("{to_prefix}{relative}");
                    if relative.is_empty() || !written.insert(target.clone()) {
                        continue;
                    }
                    writer
                        .raw_copy_file_rename(entry, target)
                        .map_err(zip_error)?;
                }
            }
            AssemblyPart::File { path, to } => {
                if !written.insert(to.clone()) {
                    continue;
                }
                writer
                    .start_file(to.as_str(), deflated())
                    .map_err(zip_error)?;
                io::copy(&mut File::open(path)?, &mut writer)?;
            }
        }
    }
    writer.finish().map_err(zip_error)?.flush()?;
    Ok(())
}

/// Copies the zip at `source` to `output` with `manifest` as its
/// `upack.json`; every other entry is copied raw, in order.
pub fn replace_manifest(source: &Path, output: &Path, manifest: &[u8]) -> Result<(), PackageError> {
    let mut archive = open(source)?;
    let mut writer = package_writer(output, manifest)?;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_error)?;
        if entry.name() != "upack.json" {
            writer.raw_copy_file(entry).map_err(zip_error)?;
        }
    }
    writer.finish().map_err(zip_error)?.flush()?;
    Ok(())
}

/// Turns a plain zip (no `upack.json`) at `source` into a package at
/// `output`: `manifest` as `upack.json`, every file entry moved under
/// `package/` (copied raw).
pub fn convert_plain_zip(
    source: &Path,
    output: &Path,
    manifest: &[u8],
) -> Result<(), PackageError> {
    let mut archive = open(source)?;
    let mut writer = package_writer(output, manifest)?;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_error)?;
        if entry.is_dir() {
            continue;
        }
        let name = format!(
            "package/{}",
            entry.name().replace('\\', "/").trim_start_matches('/')
        );
        writer
            .raw_copy_file_rename(entry, name)
            .map_err(zip_error)?;
    }
    writer.finish().map_err(zip_error)?.flush()?;
    Ok(())
}

/// Whether the zip at `path` has a root `upack.json`.
pub fn has_manifest(path: &Path) -> Result<bool, PackageError> {
    Ok(open(path)?.file_names().any(|n| n == "upack.json"))
}

/// Whether the zip held in `bytes` has a root `upack.json`.
pub fn has_manifest_in(bytes: &[u8]) -> Result<bool, PackageError> {
    let archive = zip::ZipArchive::new(io::Cursor::new(bytes))
        .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
    Ok(archive.file_names().any(|n| n == "upack.json"))
}

/// Reads the root `upack.json` of the zip at `path`, at most `max_bytes`.
pub fn read_manifest(path: &Path, max_bytes: u64) -> Result<Vec<u8>, PackageError> {
    let mut archive = open(path)?;
    let entry = archive
        .by_name("upack.json")
        .map_err(|_| PackageError::NoManifest)?;
    let mut bytes = Vec::new();
    entry.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(PackageError::ManifestTooLarge { max: max_bytes });
    }
    Ok(bytes)
}

/// The format of a content-only download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentFormat {
    /// A zip archive.
    Zip,
    /// A gzipped tar archive.
    Tgz,
}

impl ContentFormat {
    /// Parses a `contentOnly` value: `zip` (or `true`) means zip; `tgz` tgz.
    /// A bare or empty `contentOnly` is no value at all: the whole package.
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "zip" | "true" => Some(Self::Zip),
            "tgz" => Some(Self::Tgz),
            _ => None,
        }
    }

    /// Media type, as `ProGet` sends it.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Zip => "application/zip",
            Self::Tgz => "application/x-compressed",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::Tgz => "tgz",
        }
    }
}

/// Writes the content of the package at `source` (entries under `package/`,
/// with paths relative to it) to `output` as zip or tgz.
pub fn write_content(
    source: &Path,
    output: &Path,
    format: ContentFormat,
) -> Result<(), PackageError> {
    let mut archive = open(source)?;
    let out = BufWriter::new(File::create(output)?);
    match format {
        ContentFormat::Zip => {
            let mut writer = zip::ZipWriter::new(out);
            for index in 0..archive.len() {
                let entry = archive.by_index_raw(index).map_err(zip_error)?;
                let name = entry.name().replace('\\', "/");
                let Some(relative) = strip_prefix_ignoring_case(&name, "package/") else {
                    continue;
                };
                if relative.is_empty() || entry.is_dir() {
                    continue;
                }
                writer
                    .raw_copy_file_rename(entry, relative)
                    .map_err(zip_error)?;
            }
            writer.finish().map_err(zip_error)?.flush()?;
        }
        ContentFormat::Tgz => {
            let gzip = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gzip);
            for index in 0..archive.len() {
                let entry = archive.by_index(index).map_err(zip_error)?;
                let name = entry.name().replace('\\', "/");
                let Some(relative) = strip_prefix_ignoring_case(&name, "package/") else {
                    continue;
                };
                if relative.is_empty() || entry.is_dir() {
                    continue;
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(entry.size());
                header.set_mode(0o644);
                header.set_mtime(0);
                let declared = entry.size();
                tar.append_data(&mut header, relative, entry.take(declared))?;
            }
            tar.into_inner()?.finish()?.flush()?;
        }
    }
    Ok(())
}

/// Opens a zip for reading.
fn open(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>, PackageError> {
    zip::ZipArchive::new(BufReader::new(File::open(path)?))
        .map_err(|e| PackageError::CorruptZip(e.to_string()))
}

/// Starts a package archive at `output` whose first entry is `manifest` as `upack.json`.
fn package_writer(
    output: &Path,
    manifest: &[u8],
) -> Result<zip::ZipWriter<BufWriter<File>>, PackageError> {
    let mut writer = zip::ZipWriter::new(BufWriter::new(File::create(output)?));
    writer
        .start_file("upack.json", deflated())
        .map_err(zip_error)?;
    writer.write_all(manifest)?;
    Ok(writer)
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

fn strip_prefix_ignoring_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

fn zip_error(error: zip::result::ZipError) -> PackageError {
    match error {
        zip::result::ZipError::Io(e) => PackageError::Io(e),
        other => PackageError::CorruptZip(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut writer = zip::ZipWriter::new(File::create(file.path()).unwrap());
        for (name, content) in entries {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap();
        file
    }

    fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut entry = archive.by_index(i).unwrap();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                (entry.name().to_owned(), bytes)
            })
            .collect()
    }

    #[test]
    fn assembly_places_parts_and_the_first_writer_wins() {
        let a = zip_with(&[
            ("upack.json", b"{}"),
            ("package/x.txt", b"from a"),
            ("package/sub/y.txt", b"y"),
        ]);
        let b = zip_with(&[
            ("upack.json", b"{}"),
            ("Package\\x.txt", b"from b"),
            ("package/z.txt", b"z"),
        ]);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"plain").unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let parts = vec![
            AssemblyPart::Archive {
                path: a.path().into(),
                from_prefix: "package/".into(),
                to_prefix: "package/".into(),
            },
            AssemblyPart::Archive {
                path: b.path().into(),
                from_prefix: "package/".into(),
                to_prefix: "package/".into(),
            },
            AssemblyPart::Archive {
                path: b.path().into(),
                from_prefix: "package/".into(),
                to_prefix: "package/lib/".into(),
            },
            AssemblyPart::File {
                path: file.path().into(),
                to: "package/x.txt".into(),
            },
            AssemblyPart::File {
                path: file.path().into(),
                to: "docs/plain.txt".into(),
            },
        ];
        assemble(out.path(), br#"{"name":"v"}"#, &parts).unwrap();
        let got = entries(out.path());
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "upack.json",
                "package/x.txt",
                "package/sub/y.txt",
                "package/z.txt",
                "package/lib/x.txt",
                "package/lib/z.txt",
                "docs/plain.txt"
            ]
        );
        assert_eq!(got[1].1, b"from a");
        assert_eq!(got[4].1, b"from b");
    }

    #[test]
    fn content_only_keeps_package_content_relative_to_it() {
        let source = zip_with(&[
            ("upack.json", b"{}"),
            ("package/a/b.txt", b"bee"),
            ("other.txt", b"no"),
        ]);
        let out = tempfile::NamedTempFile::new().unwrap();
        write_content(source.path(), out.path(), ContentFormat::Zip).unwrap();
        assert_eq!(
            entries(out.path()),
            vec![("a/b.txt".to_owned(), b"bee".to_vec())]
        );
        write_content(source.path(), out.path(), ContentFormat::Tgz).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
            File::open(out.path()).unwrap(),
        ));
        let names: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a/b.txt"]);
    }
}
