//! `wharf import <feed> <path>...`: stores many packages at once, from the
//! machine the server runs on (moving a feed from another server, seeding a
//! test feed with a million versions).
//!
//! Each package goes through the same publish path as an upload (manifest
//! checks, limits, the 409 rule, group commit), as the operator; up to
//! [`IN_FLIGHT`] at once, so that their blobs share flushes and their rows
//! share transactions. A path is a `.upack` or `.vpack` file, a directory
//! (searched for those), or `-`: a tar stream on standard input whose
//! entries are packages (no file per package needed for a million).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};

use crate::error::ServiceError;
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, feeds};

/// Packages being stored at once.
const IN_FLIGHT: usize = 64;

/// Extra tries for a package the database was momentarily unavailable for.
const RETRIES: u32 = 3;

/// Largest tar entry read into memory (a file path streams instead).
const MAX_TAR_ENTRY_BYTES: u64 = 64 << 20;

/// One package to store: where it came from, and its bytes.
struct Item {
    origin: String,
    bytes: Bytes,
}

/// What an import did.
#[derive(Debug, Default)]
struct Tally {
    stored: u64,
    present: u64,
    failed: u64,
}

/// Imports every package named by `paths` into `feed`, printing a summary
/// (and the first failures) to standard error; fails if any package failed.
pub async fn import(wharf: &Wharf, feed: &str, paths: &[PathBuf]) -> anyhow::Result<()> {
    if paths.is_empty() {
        bail!("name the packages to import: files, directories, or - for a tar stream on stdin");
    }
    // One sentence for a missing feed, not one per package.
    feeds::find(wharf, feed).await?;
    let caller = Caller::operator();
    let mut tally = Tally::default();
    let mut results = items(paths)?
        .map(|item| {
            let caller = &caller;
            async move {
                let item = item?;
                let outcome = publish_retrying(wharf, caller, feed, &item.bytes).await;
                Ok::<_, anyhow::Error>((item.origin, outcome))
            }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(result) = results.next().await {
        let (origin, outcome) = result?;
        match outcome {
            Ok(_) => tally.stored += 1,
            Err(ServiceError::Conflict(_)) => tally.present += 1,
            Err(error) => {
                tally.failed += 1;
                if tally.failed <= 10 {
                    eprintln!("{origin}: {error}");
                }
            }
        }
    }
    eprintln!(
        "imported {} packages into '{feed}'; {} were already there, {} failed",
        tally.stored, tally.present, tally.failed
    );
    if tally.failed > 0 {
        bail!("{} packages could not be imported", tally.failed);
    }
    Ok(())
}

/// Publishes one package; a database that is momentarily unavailable (a
/// pool exhausted by a long import on a busy machine) gets three more
/// tries, a second apart, before the package counts as failed.
async fn publish_retrying(
    wharf: &Wharf,
    caller: &Caller,
    feed: &str,
    bytes: &Bytes,
) -> Result<publish::Published, ServiceError> {
    let mut tries = 0;
    loop {
        let body = stream::iter([Ok::<_, std::io::Error>(bytes.clone())]);
        match publish::publish(wharf, caller, feed, body, UploadHints::default()).await {
            Err(ServiceError::Unavailable) if tries < RETRIES => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            outcome => return outcome,
        }
    }
}

/// The packages named by `paths`, in order.
fn items(paths: &[PathBuf]) -> anyhow::Result<BoxStream<'static, anyhow::Result<Item>>> {
    let mut files = Vec::new();
    let mut tar = false;
    for path in paths {
        if path.as_os_str() == "-" {
            tar = true;
        } else {
            collect_packages(path, &mut files)?;
        }
    }
    let from_files = stream::iter(files).then(|path| async move {
        let bytes = tokio::fs::read(&path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Item {
            origin: path.display().to_string(),
            bytes: bytes.into(),
        })
    });
    if !tar {
        return Ok(from_files.boxed());
    }
    Ok(from_files.chain(tar_entries()).boxed())
}

/// Files ending in `.upack` or `.vpack` at or under `path`.
fn collect_packages(path: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if metadata.is_file() {
        found.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", path.display()))?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        let package = path
            .extension()
            .is_some_and(|e| e == "upack" || e == "vpack");
        if path.is_dir() || package {
            collect_packages(&path, found)?;
        }
    }
    Ok(())
}

/// The regular entries of the tar stream on standard input, read on a
/// thread of their own a few packages ahead of the importer.
fn tar_entries() -> BoxStream<'static, anyhow::Result<Item>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(IN_FLIGHT * 2);
    std::thread::spawn(move || {
        let send = |item| sender.blocking_send(item).is_ok();
        let mut archive = tar::Archive::new(std::io::stdin().lock());
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => {
                send(Err(anyhow::anyhow!(
                    "standard input is not a tar stream: {e}"
                )));
                return;
            }
        };
        for entry in entries {
            let sent = match read_entry(entry) {
                Ok(None) => continue,
                Ok(Some(item)) => send(Ok(item)),
                Err(error) => send(Err(error)),
            };
            if !sent {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver).boxed()
}

fn read_entry<R: std::io::Read>(
    entry: std::io::Result<tar::Entry<'_, R>>,
) -> anyhow::Result<Option<Item>> {
    let mut entry = entry.context("the tar stream on standard input is damaged")?;
    if !entry.header().entry_type().is_file() {
        return Ok(None);
    }
    let origin = format!("-:{}", entry.path()?.display());
    let size = entry.size();
    if size > MAX_TAR_ENTRY_BYTES {
        bail!(
            "{origin} is {size} bytes, over the 64 MiB a tar entry may have; import the file itself"
        );
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::io::Read::read_to_end(&mut entry, &mut bytes)
        .with_context(|| format!("cannot read {origin}"))?;
    Ok(Some(Item {
        origin,
        bytes: bytes.into(),
    }))
}
