//! Inspecting a stored upload: the container, the limits on the central
//! directory (from declared sizes alone, before anything is inflated), entry
//! names, then every entry's data against its declared size and CRC-32, and
//! the manifest.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use crate::domain::Manifest;

use super::{Container, FileEntry, Inspected, Limits, PackageError, open_zip};

/// Reads and checks the package stored at `path`.
pub fn inspect(path: &Path, limits: &Limits) -> Result<Inspected, PackageError> {
    let file = File::open(path)?;
    let length = file.metadata()?.len();
    inspect_reader(BufReader::new(file), length, limits)
}

/// Reads and checks a package held in memory (a small upload): the same
/// checks as [`inspect`], without a file to open and seek in.
pub fn inspect_bytes(bytes: &[u8], limits: &Limits) -> Result<Inspected, PackageError> {
    inspect_reader(io::Cursor::new(bytes), bytes.len() as u64, limits)
}

fn inspect_reader<R: Read + Seek>(
    mut file: R,
    length: u64,
    limits: &Limits,
) -> Result<Inspected, PackageError> {
    if length == 0 {
        return Err(PackageError::Empty);
    }
    let mut head = [0u8; 4];
    let read = file.read(&mut head)?;
    file.rewind()?;
    if read >= 4 && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06") {
        return inspect_zip(file, limits);
    }
    let first_json_byte = head[..read]
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && ![0xEF, 0xBB, 0xBF].contains(b));
    if first_json_byte == Some(b'{') {
        if length > limits.max_manifest_bytes {
            return Err(PackageError::ManifestTooLarge {
                max: limits.max_manifest_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        let manifest = Manifest::parse(&bytes)?;
        if !manifest.is_virtual {
            return Err(PackageError::JsonNotVirtual);
        }
        return Ok(Inspected {
            manifest,
            container: Container::Json,
            files: Vec::new(),
        });
    }
    Err(PackageError::NotAPackage)
}

fn inspect_zip<R: Read + Seek>(mut file: R, limits: &Limits) -> Result<Inspected, PackageError> {
    let declared = declared_entry_count(&mut file)?;
    let mut archive = open_zip(file)?;
    // The zip reader keys entries by name, so duplicates would silently
    // collapse into one; the count the archive declares gives them away.
    if let Some(declared) = declared.filter(|d| *d != archive.len() as u64) {
        return Err(PackageError::DuplicateEntries {
            declared,
            distinct: archive.len(),
        });
    }
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }
    let mut seen = HashSet::with_capacity(archive.len());
    let mut inflated_bytes: u64 = 0;
    let mut manifest_index = None;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
        let name = entry.name().to_owned();
        check_entry_name(&name)?;
        if entry
            .unix_mode()
            .is_some_and(|mode| mode & 0o170_000 == 0o120_000)
        {
            return Err(PackageError::SymlinkEntry(name));
        }
        if !seen.insert(identity_of(&name)) {
            return Err(PackageError::DuplicateEntry(
                name.escape_debug().to_string(),
            ));
        }
        inflated_bytes = inflated_bytes.saturating_add(entry.size());
        if inflated_bytes > limits.max_inflated_bytes {
            return Err(PackageError::InflatesTooLarge {
                max: limits.max_inflated_bytes,
            });
        }
        if entry.size() > 1024 * 1024
            && entry.size() / entry.compressed_size().max(1) > limits.max_compression_ratio
        {
            return Err(PackageError::CompressionRatio {
                name,
                max: limits.max_compression_ratio,
            });
        }
        if name == "upack.json" {
            manifest_index = Some(index);
        } else if let Some(relative) = content_path(&name)
            && !entry.is_dir()
            && !relative.is_empty()
        {
            files.push(FileEntry {
                name: relative,
                size: entry.size(),
                date: entry.last_modified().map(iso_date),
            });
        }
    }
    let index = manifest_index.ok_or(PackageError::NoManifest)?;
    for index in 0..archive.len() {
        verify_entry(&mut archive, index)?;
    }
    let entry = archive
        .by_index(index)
        .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
    if entry.size() > limits.max_manifest_bytes {
        return Err(PackageError::ManifestTooLarge {
            max: limits.max_manifest_bytes,
        });
    }
    let mut bytes = Vec::new();
    entry
        .take(limits.max_manifest_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
    if bytes.len() as u64 > limits.max_manifest_bytes {
        return Err(PackageError::ManifestTooLarge {
            max: limits.max_manifest_bytes,
        });
    }
    Ok(Inspected {
        manifest: Manifest::parse(&bytes)?,
        container: Container::Zip,
        files,
    })
}

/// The number of entries the archive's end-of-central-directory record
/// declares (its zip64 form when the classic field overflows), if found.
fn declared_entry_count(file: &mut (impl Seek + Read)) -> Result<Option<u64>, PackageError> {
    use std::io::SeekFrom;
    let length = file.seek(SeekFrom::End(0))?;
    let tail_length = length.min(22 + 65_535);
    file.seek(SeekFrom::Start(length - tail_length))?;
    let mut tail = vec![0u8; usize::try_from(tail_length).unwrap_or(0)];
    file.read_exact(&mut tail)?;
    file.rewind()?;
    let Some(eocd) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else {
        return Ok(None);
    };
    let Some(count) = tail.get(eocd + 10..eocd + 12) else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([count[0], count[1]]);
    if count != u16::MAX {
        return Ok(Some(u64::from(count)));
    }
    // Zip64: the locator just before the record points at the zip64 record.
    let Some(locator) = eocd.checked_sub(20).and_then(|at| tail.get(at..at + 20)) else {
        return Ok(None);
    };
    if &locator[..4] != b"PK\x06\x07" {
        return Ok(None);
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&locator[8..16]);
    let mut record = [0u8; 40];
    if file
        .seek(SeekFrom::Start(u64::from_le_bytes(offset)))
        .is_err()
        || file.read_exact(&mut record).is_err()
    {
        file.rewind()?;
        return Ok(None);
    }
    file.rewind()?;
    if &record[..4] != b"PK\x06\x06" {
        return Ok(None);
    }
    let mut total = [0u8; 8];
    total.copy_from_slice(&record[32..40]);
    Ok(Some(u64::from_le_bytes(total)))
}

/// Reads entry `index` to its end, at most one byte past its declared size,
/// and checks that the data has the declared size and CRC-32 (the zip reader
/// checks the CRC when it reaches the end).
fn verify_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<(), PackageError> {
    let entry = archive
        .by_index(index)
        .map_err(|e| PackageError::CorruptZip(e.to_string()))?;
    let name = entry.name().escape_debug().to_string();
    let declared = entry.size();
    let corrupt = |why: String| PackageError::CorruptEntry {
        name: name.clone(),
        why,
    };
    let read = io::copy(&mut entry.take(declared.saturating_add(1)), &mut io::sink()).map_err(
        |e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::Other => {
                corrupt(format!(
                    "its data does not match its CRC-32 or cannot be inflated ({e})"
                ))
            }
            _ => PackageError::Io(e),
        },
    )?;
    if read != declared {
        return Err(corrupt(format!(
            "it declares {declared} bytes but its data holds {}",
            if read > declared {
                "more".to_owned()
            } else {
                read.to_string()
            }
        )));
    }
    Ok(())
}

/// The identity of an entry name for duplicate detection: either separator,
/// any case, and `./` segments ignored, as extraction on Windows or macOS
/// would see it.
pub(super) fn identity_of(name: &str) -> String {
    name.replace('\\', "/")
        .split('/')
        .filter(|segment| *segment != ".")
        .collect::<Vec<_>>()
        .join("/")
        .to_lowercase()
}

/// Refuses entry names that would escape an extraction directory: absolute
/// paths, `..` components and drive letters, with either separator; and names
/// with control characters, which no file system shows faithfully.
pub(super) fn check_entry_name(name: &str) -> Result<(), PackageError> {
    if name.chars().any(char::is_control) {
        return Err(PackageError::ControlCharacterInName(
            name.escape_debug().to_string(),
        ));
    }
    let normalized = name.replace('\\', "/");
    let unsafe_name = normalized.starts_with('/')
        || normalized.split('/').any(|part| part == "..")
        || normalized.as_bytes().get(1) == Some(&b':')
        || normalized.contains('\0');
    if unsafe_name || name.is_empty() {
        return Err(PackageError::UnsafeEntryName(
            name.escape_debug().to_string(),
        ));
    }
    Ok(())
}

/// The path relative to `package/` of a content entry (either separator, any
/// case of the folder name, as the reference clients accept), or `None`.
pub(super) fn content_path(name: &str) -> Option<String> {
    let normalized = name.replace('\\', "/");
    let prefix = normalized.get(..8)?;
    prefix
        .eq_ignore_ascii_case("package/")
        .then(|| normalized[8..].to_owned())
}

fn iso_date(date: zip::DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date.year(),
        date.month(),
        date.day(),
        date.hour(),
        date.minute(),
        date.second()
    )
}

#[cfg(test)]
mod tests {
    use super::super::PackageError;
    use super::*;

    #[test]
    fn unsafe_entry_names_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:\\x",
            "c:/x",
            "a\\..\\b",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
        for good in ["package/a..b", "package\\x.txt", "upack.json", "a/b/"] {
            assert!(check_entry_name(good).is_ok(), "{good}");
        }
        for control in [
            "package/a\rb",
            "package/a\nb",
            "a\u{1b}[31m",
            "a\u{7f}",
            "a\0b",
        ] {
            assert!(
                matches!(
                    check_entry_name(control),
                    Err(PackageError::ControlCharacterInName(_))
                ),
                "{control:?}"
            );
        }
    }

    #[test]
    fn names_differing_in_case_separator_or_dot_segments_are_one_identity() {
        assert_eq!(identity_of("package/A.txt"), identity_of("package/a.txt"));
        assert_eq!(identity_of("./upack.json"), identity_of("UPACK.JSON"));
        assert_eq!(identity_of("package\\./x"), identity_of("package/x"));
        assert_ne!(identity_of("package/a"), identity_of("package/a/"));
    }

    #[test]
    fn content_paths_accept_either_separator_and_case() {
        assert_eq!(content_path("package/a/b.txt").as_deref(), Some("a/b.txt"));
        assert_eq!(content_path("Package\\a.txt").as_deref(), Some("a.txt"));
        assert_eq!(content_path("unpack\\logs\\x"), None);
        assert_eq!(content_path("pkg"), None);
    }
}
