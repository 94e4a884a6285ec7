//! Verification stamps: after a full (hashing) verification, a small JSON sidecar records the
//! size and modification time of each verified file. A later quick check trusts a file whose
//! size and mtime still match its stamp, so `embed` runs do not re-hash 334 MB every time.
//! Anything that rewrites a file changes its mtime (or size) and forces a full verification.

use crate::PullError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileStamp {
    /// Path relative to the stamp's root.
    path: String,
    size: u64,
    mtime_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    /// What the files were verified against (e.g. the manifest's hash); a different value
    /// means the stamp is stale.
    verified_against: String,
    files: Vec<FileStamp>,
}

fn file_stamp(root: &Path, rel: &str) -> Option<FileStamp> {
    let md = std::fs::metadata(root.join(rel)).ok()?;
    let mtime_ns = md
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos() as u64;
    Some(FileStamp {
        path: rel.to_string(),
        size: md.len(),
        mtime_ns,
    })
}

/// Records `rels` (relative to `root`) as verified against `against`.
pub fn write(
    stamp_path: &Path,
    root: &Path,
    rels: &[String],
    against: &str,
) -> Result<(), PullError> {
    let files = rels
        .iter()
        .map(|r| {
            file_stamp(root, r).ok_or_else(|| PullError::Io {
                path: root.join(r),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "vanished while stamping",
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stamp = Stamp {
        verified_against: against.to_string(),
        files,
    };
    let json = serde_json::to_vec_pretty(&stamp).expect("stamp serializes");
    let tmp = stamp_path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(PullError::io(&tmp))?;
    std::fs::rename(&tmp, stamp_path).map_err(PullError::io(stamp_path))
}

/// True when the stamp exists, was made against `against`, and every file it lists still has
/// the recorded size and mtime.
pub fn is_valid(stamp_path: &Path, root: &Path, against: &str) -> bool {
    let Ok(bytes) = std::fs::read(stamp_path) else {
        return false;
    };
    let Ok(stamp) = serde_json::from_slice::<Stamp>(&bytes) else {
        return false;
    };
    stamp.verified_against == against
        && !stamp.files.is_empty()
        && stamp
            .files
            .iter()
            .all(|f| file_stamp(root, &f.path).as_ref() == Some(f))
}

/// Removes a stamp (ignoring a missing one).
pub fn remove(stamp_path: &Path) {
    let _ = std::fs::remove_file(stamp_path);
}
