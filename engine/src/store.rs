//! The shared store (the cluster's "DFS"): staged application files, checkpoints, HA data.
//!
//! Paths are relative, `/`-separated and may not escape the root: `..`, absolute paths and
//! empty segments are refused. Live: a directory. Sim: a map in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The path is absolute, contains `..` or is otherwise outside the store.
    Escapes(String),
    NotFound(String),
    Io(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Escapes(p) => write!(f, "path '{p}' is outside the shared store"),
            StoreError::NotFound(p) => write!(f, "File {p} does not exist"),
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Checks a user-supplied store path and returns its normalized form (no leading `./`).
pub fn check_path(path: &str) -> Result<String, StoreError> {
    let p = path.strip_prefix("file://").unwrap_or(path);
    if p.is_empty() || p.starts_with('/') || p.contains('\\') || p.contains('\0') {
        return Err(StoreError::Escapes(path.to_string()));
    }
    let mut parts = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(StoreError::Escapes(path.to_string())),
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(StoreError::Escapes(path.to_string()));
    }
    Ok(parts.join("/"))
}

pub trait Store: Send {
    fn read(&self, path: &str) -> Result<Vec<u8>, StoreError>;
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), StoreError>;
    /// Writes the concatenation of `parts` as one file, as [`Store::write`] does. A store on
    /// disk writes them one after the other, without first copying them into one buffer (a
    /// state file is a small header and its key groups' bytes, hundreds of MB).
    fn write_parts(&mut self, path: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
        self.write(path, &parts.concat())
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError>;
    fn delete(&mut self, path: &str) -> Result<(), StoreError>;
    /// Paths under `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    fn exists(&self, path: &str) -> bool {
        self.read(path).is_ok()
    }
    /// Where a path lives on the local disk, if the store is a directory (live only): the
    /// NodeManager localizes by copying from there.
    fn local_path(&self, _path: &str) -> Option<PathBuf> {
        None
    }
}

#[derive(Default, Debug, Clone)]
pub struct MemStore {
    files: BTreeMap<String, Vec<u8>>,
}

impl Store for MemStore {
    fn read(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        let p = check_path(path)?;
        self.files.get(&p).cloned().ok_or(StoreError::NotFound(p))
    }
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let p = check_path(path)?;
        self.files.insert(p, data.to_vec());
        Ok(())
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        let (f, t) = (check_path(from)?, check_path(to)?);
        let data = self.files.remove(&f).ok_or(StoreError::NotFound(f))?;
        self.files.insert(t, data);
        Ok(())
    }
    fn delete(&mut self, path: &str) -> Result<(), StoreError> {
        let p = check_path(path)?;
        let dir = format!("{p}/");
        self.files.retain(|k, _| k != &p && !k.starts_with(&dir));
        Ok(())
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let p = check_path(prefix)?;
        let dir = format!("{p}/");
        Ok(self.files.keys().filter(|k| k.starts_with(&dir) || **k == p).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_escape_are_refused() {
        for bad in ["../x", "a/../../b", "/etc/passwd", "", "a/..", "file:///etc/passwd"] {
            assert!(matches!(check_path(bad), Err(StoreError::Escapes(_))), "{bad}");
        }
        assert_eq!(check_path("./.flink/app_1/conf.yaml").unwrap(), ".flink/app_1/conf.yaml");
        assert_eq!(check_path("file://a//b").unwrap(), "a/b");
    }

    #[test]
    fn mem_store_round_trip_and_prefix_delete() {
        let mut s = MemStore::default();
        s.write("a/b/c", b"1").unwrap();
        s.write("a/bb", b"2").unwrap();
        s.rename("a/bb", "a/b/d").unwrap();
        assert_eq!(s.list("a/b").unwrap(), vec!["a/b/c", "a/b/d"]);
        s.delete("a/b").unwrap();
        assert!(s.list("a").unwrap().is_empty());
        assert!(matches!(s.read("a/b/c"), Err(StoreError::NotFound(_))));
    }
}
