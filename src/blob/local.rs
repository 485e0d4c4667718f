//! The local backend's own file operations: placing a spooled upload by
//! hard link, and hashing a file.

use std::path::Path;

use super::PutOutcome;

/// SHA-1, SHA-256 and size of a file, read in blocks (blocking).
pub fn digest_file(path: &Path) -> std::io::Result<([u8; 20], [u8; 32], u64)> {
    use sha1::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let (mut sha1, mut sha256, mut size) = (sha1::Sha1::new(), sha2::Sha256::new(), 0u64);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        sha1.update(&buffer[..read]);
        sha256.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((sha1.finalize().into(), sha256.finalize().into(), size))
}

/// Links the file at `source` at `target` (not yet durable: the caller
/// flushes). A hard link is atomic and fails with `AlreadyExists` when
/// another writer won, which is success for content-addressed data. The
/// source file stays where it is.
pub(super) fn link_into_place(source: &Path, target: &Path) -> std::io::Result<PutOutcome> {
    let linked = match std::fs::hard_link(source, target) {
        // The first blob under a two-level prefix creates its folders.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = target.parent().ok_or(e)?;
            std::fs::create_dir_all(parent)?;
            std::fs::hard_link(source, target)
        }
        linked => linked,
    };
    match linked {
        Ok(()) => Ok(PutOutcome::Created),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(PutOutcome::AlreadyPresent),
        Err(e) => Err(e),
    }
}
