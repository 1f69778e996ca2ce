//! Writing a configuration file safely, and keeping its earlier versions.
//!
//! A save never leaves a half-written file, even if the machine stops in the middle: the
//! new text goes to a temporary file in the same directory, which is flushed to disk and
//! then renamed over the original (a rename within one file system is atomic), and the
//! directory itself is flushed so the rename survives a crash. The version being replaced
//! is first copied to `<file>.history/<timestamp>-<n>.conf`, where the last
//! [`HISTORY_KEEP`] versions are kept so that any of them can be restored.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many earlier versions are kept.
pub const HISTORY_KEEP: usize = 50;

/// One saved earlier version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    /// The file name inside the history directory (`20250101T120000Z-7.conf`).
    pub name: String,
    pub path: PathBuf,
    /// Its sequence number (the `n` of the name); larger is newer.
    pub number: u64,
}

/// `<file>.history` beside the file.
pub fn history_dir(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".history");
    path.with_file_name(name)
}

/// The kept versions, oldest first.
pub fn versions(path: &Path) -> io::Result<Vec<Version>> {
    let dir = history_dir(path);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".conf") else {
            continue;
        };
        let Some(number) = stem
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push(Version {
            path: entry.path(),
            name,
            number,
        });
    }
    out.sort_by_key(|v| v.number);
    Ok(out)
}

/// Saves `text` as the new content of `path`, first keeping `previous` (the content being
/// replaced) in the history. Returns the history entry written, if any.
pub fn save(path: &Path, previous: Option<&[u8]>, text: &str) -> io::Result<Option<PathBuf>> {
    let kept = match previous {
        Some(old) => Some(keep_version(path, old)?),
        None => None,
    };
    write_atomically(path, text.as_bytes())?;
    Ok(kept)
}

/// Writes `bytes` to `path` through a flushed temporary file renamed over it, then
/// flushes the directory. The file keeps its permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".baton-tmp-{}", std::process::id()));
    let tmp = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Copies `old` into the history directory and drops versions beyond [`HISTORY_KEEP`].
fn keep_version(path: &Path, old: &[u8]) -> io::Result<PathBuf> {
    let dir = history_dir(path);
    fs::create_dir_all(&dir)?;
    let existing = versions(path)?;
    let number = existing.last().map_or(1, |v| v.number + 1);
    let target = dir.join(format!("{}-{number}.conf", timestamp(SystemTime::now())));
    write_atomically(&target, old)?;
    let total = existing.len() + 1;
    if total > HISTORY_KEEP {
        for v in existing.iter().take(total - HISTORY_KEEP) {
            fs::remove_file(&v.path)?;
        }
    }
    Ok(target)
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_time() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(t), "20231114T221320Z");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn saves_keep_the_last_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        fs::write(&path, "v0\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        for i in 1..=HISTORY_KEEP + 3 {
            let old = fs::read(&path).unwrap();
            save(&path, Some(&old), &format!("v{i}\n")).unwrap();
        }
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("v{}\n", HISTORY_KEEP + 3)
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let kept = versions(&path).unwrap();
        assert_eq!(kept.len(), HISTORY_KEEP);
        let newest = fs::read_to_string(&kept.last().unwrap().path).unwrap();
        assert_eq!(newest, format!("v{}\n", HISTORY_KEEP + 2));
        let oldest = fs::read_to_string(&kept[0].path).unwrap();
        assert_eq!(oldest, "v3\n");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("baton-tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
