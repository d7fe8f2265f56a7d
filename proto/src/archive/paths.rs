//! The paths an archive writes, checked for clashes: an extractor writes
//! every member in turn, so a path that comes twice (or as a file and as a
//! directory) leaves only the last one on disk, whatever we hashed first.
//! Paths are compared as extractors resolve them (`./a`, `a` and `a//.//`
//! are one path) and without case, since on macOS and Windows `App` and `app`
//! are one file too (Go's module zips refuse the same clashes).

use super::ArchiveError;
use std::collections::HashSet;

/// `name`'s components without empty and `.` ones, joined by `/`.
pub(super) fn normalize(name: &str) -> String {
    name.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The files and directories an archive has written so far (case-folded).
#[derive(Default)]
pub(super) struct PathSet {
    files: HashSet<String>,
    dirs: HashSet<String>,
}

impl PathSet {
    /// Records a regular file; `shown` is its path as reported.
    pub(super) fn file(&mut self, raw: &str, shown: &str) -> Result<(), ArchiveError> {
        let key = normalize(raw).to_lowercase();
        if self.files.contains(&key) {
            return Err(ArchiveError::refused(format!(
                "it holds {shown:?} twice (or in two spellings or cases); extractors keep only the last"
            )));
        }
        if self.dirs.contains(&key) {
            return Err(clash(shown));
        }
        self.parents(&key, shown)?;
        self.files.insert(key);
        Ok(())
    }

    /// Records a directory.
    pub(super) fn dir(&mut self, raw: &str, shown: &str) -> Result<(), ArchiveError> {
        let key = normalize(raw).to_lowercase();
        if self.files.contains(&key) {
            return Err(clash(shown));
        }
        self.parents(&key, shown)?;
        self.dirs.insert(key);
        Ok(())
    }

    /// Records `key`'s parent directories, refused where one is a file.
    fn parents(&mut self, key: &str, shown: &str) -> Result<(), ArchiveError> {
        let mut end = 0;
        while let Some(i) = key[end..].find('/') {
            let parent = &key[..end + i];
            if self.files.contains(parent) {
                return Err(clash(shown));
            }
            self.dirs.insert(parent.to_string());
            end += i + 1;
        }
        Ok(())
    }
}

fn clash(shown: &str) -> ArchiveError {
    ArchiveError::refused(format!(
        "{shown:?} is both a file and a directory (or inside a file); extractors disagree on what is left"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_cases_of_one_path_clash() {
        let mut set = PathSet::default();
        set.file("./bin/app", "bin/app").unwrap();
        for again in ["bin/app", "bin//./app", "BIN/App"] {
            assert!(set.file(again, again).is_err(), "{again}");
        }
        assert!(set.dir("bin/app/", "bin/app").is_err());
        assert!(set.file("bin/app/x", "bin/app/x").is_err());
        set.dir("bin/", "bin").unwrap();
        set.dir("./bin", "bin").unwrap();
        set.file("bin/other", "bin/other").unwrap();
        assert!(set.file("bin", "bin").is_err(), "a directory already");
    }
}
