//! Files are written atomically: a temporary file in the same directory, then a rename, so
//! a reader (or a CI step) never sees half a result.

use std::io::Write;
use std::path::Path;

use super::ResultsError;

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    let err = |e: std::io::Error| ResultsError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        // create_new (O_EXCL) never follows a symlink planted at the temporary name; a stale
        // file of ours (same pid after a crash) is removed first, the link itself if it is one.
        let _stale = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temp file may not exist if creation failed.
        let _removed = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}
