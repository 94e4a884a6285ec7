//! An exclusive lock on the cache directory (`<cache>/.pull.lock`, an OS file lock), so two
//! concurrent pulls never write the same files. The OS releases it when the process exits,
//! however it exits, so a killed pull never leaves a stale lock behind.

use crate::PullError;
use convert::Progress;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Held while a pull writes into the cache; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

pub const LOCK_FILE: &str = ".pull.lock";

/// Takes the cache lock, waiting (with a note) while another process holds it.
pub fn lock_cache(cache: &Path, progress: &dyn Progress) -> Result<CacheLock, PullError> {
    std::fs::create_dir_all(cache).map_err(PullError::io(cache))?;
    let path = cache.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(PullError::io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            progress.note(&format!(
                "waiting for another ggufembed pull to finish (lock {})",
                path.display()
            ));
            file.lock().map_err(PullError::io(&path))?;
        }
        Err(TryLockError::Error(e)) => return Err(PullError::io(&path)(e)),
    }
    Ok(CacheLock { _file: file })
}
