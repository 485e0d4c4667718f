//! Each process's own folder for temporary files (spooled uploads, converted
//! packages, assemblies being written, copies of remote blobs).
//!
//! A process works in `<data-dir>/tmp/<random>/` and holds an exclusive lock
//! on `.lock` inside it for as long as it runs. Its temporary files remove
//! themselves when dropped and the folder goes when the process ends cleanly;
//! a killed process leaves both behind, and its lock is free. So `wharf gc`
//! removes exactly the folders whose lock it can take, and never a file that a
//! live process (an upload about to store its bytes again, say) still needs,
//! whatever the grace period.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = ".lock";

/// This process's scratch folder; removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    _lock: File,
}

impl ScratchDir {
    /// Creates and locks a new folder under `root`.
    pub fn create(root: &Path) -> io::Result<Self> {
        let path = root.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&path)?;
        let lock = File::create(path.join(LOCK_FILE))?;
        lock.lock()?;
        Ok(Self { path, _lock: lock })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes what dead processes left under `root`: folders whose lock is free,
/// and loose files (an older layout) not modified for `grace`. Returns how many
/// files were removed.
pub fn sweep(root: &Path, grace: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !abandoned(&path) {
                continue;
            }
            let files = std::fs::read_dir(&path).map_or(0, |e| {
                e.flatten().filter(|f| f.file_name() != LOCK_FILE).count()
            });
            if std::fs::remove_dir_all(&path).is_ok() {
                removed += files;
            }
        } else {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified.elapsed().unwrap_or_default() >= grace);
            if old && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Whether no live process holds the folder's lock.
fn abandoned(folder: &Path) -> bool {
    match File::open(folder.join(LOCK_FILE)) {
        Ok(lock) => lock.try_lock().is_ok(),
        // No lock file: a folder being created right now, or not ours.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_folder_is_kept_and_an_abandoned_one_swept() {
        let root = tempfile::tempdir().unwrap();
        let live = ScratchDir::create(root.path()).unwrap();
        std::fs::write(live.path().join("spool"), b"in use").unwrap();
        let dead = root.path().join("dead");
        std::fs::create_dir(&dead).unwrap();
        File::create(dead.join(LOCK_FILE)).unwrap();
        std::fs::write(dead.join("spool"), b"left behind").unwrap();

        assert_eq!(sweep(root.path(), std::time::Duration::ZERO), 1);
        assert!(live.path().join("spool").exists());
        assert!(!dead.exists());
        let path = live.path().to_owned();
        drop(live);
        assert!(!path.exists());
    }
}
