//! Finding the files of a pattern: the directory is listed at each poll and each name is
//! matched against the glob (no inotify: polling works on every file system, NFS included).

use std::io;
use std::path::{Path, PathBuf};

use crate::glob::{Glob, has_wildcards};
use crate::identity::FileId;

/// Compressed files are never read (the Agent skips `.gz`, `.bz2` and `.zip`).
const COMPRESSED: [&str; 5] = [".gz", ".bz2", ".zip", ".xz", ".zst"];

/// A `filePattern`: a directory without wildcards and a file-name glob.
#[derive(Clone, Debug)]
pub(crate) struct SourcePattern {
    pub(crate) dir: PathBuf,
    glob: Glob,
}

/// A regular file found in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) id: FileId,
    pub(crate) size: u64,
}

impl SourcePattern {
    /// Splits and checks `pattern`; the error says why it cannot be used.
    pub(crate) fn parse(pattern: &str) -> Result<SourcePattern, String> {
        if pattern.is_empty() || pattern.ends_with('/') {
            return Err("the file name part is empty".into());
        }
        let (dir, name) = match pattern.rfind('/') {
            Some(0) => ("/", pattern.get(1..).unwrap_or_default()),
            Some(i) => (
                pattern.get(..i).unwrap_or("."),
                pattern.get(i + 1..).unwrap_or_default(),
            ),
            None => (".", pattern),
        };
        if has_wildcards(dir) {
            return Err("wildcards are allowed in the file name only, not in the directory".into());
        }
        Ok(SourcePattern {
            dir: PathBuf::from(dir),
            glob: Glob::new(name)?,
        })
    }

    /// Whether a file name matches (compressed names never do).
    pub(crate) fn matches(&self, name: &str) -> bool {
        !COMPRESSED
            .iter()
            .any(|ext| name.to_ascii_lowercase().ends_with(ext))
            && self.glob.matches(name)
    }

    /// The regular files that match now, by path. A missing directory has none.
    pub(crate) fn list(&self) -> io::Result<Vec<Found>> {
        let mut found = list_dir(&self.dir, |name| self.matches(name))?;
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }
}

/// The regular files of `dir` whose names pass `keep` (symbolic links followed); files
/// that vanish while listing are left out.
pub(crate) fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> io::Result<Vec<Found>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !keep(&name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => out.push(Found {
                path,
                id: FileId::of(&m),
                size: m.len(),
            }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_split_into_directory_and_glob() {
        let p = SourcePattern::parse("/var/log/app/*.log").unwrap();
        assert_eq!(p.dir, PathBuf::from("/var/log/app"));
        assert!(p.matches("x.log"));
        assert!(!p.matches("x.log.gz"));
        assert_eq!(
            SourcePattern::parse("app.log").unwrap().dir,
            PathBuf::from(".")
        );
        assert_eq!(
            SourcePattern::parse("/app.log").unwrap().dir,
            PathBuf::from("/")
        );
        assert!(SourcePattern::parse("/var/*/app.log").is_err());
        assert!(SourcePattern::parse("/var/log/").is_err());
        assert!(SourcePattern::parse("").is_err());
        assert!(SourcePattern::parse("/var/log/[x").is_err());
    }

    #[test]
    fn listing_keeps_matching_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "b.log.1", "c.log.gz"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let pattern = SourcePattern::parse(&format!("{}/*.log*", dir.path().display())).unwrap();
        let names: Vec<String> = pattern
            .list()
            .unwrap()
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log", "b.log.1"]);
        let missing = SourcePattern::parse("/no/such/dir/*.log").unwrap();
        assert!(missing.list().unwrap().is_empty());
    }
}
