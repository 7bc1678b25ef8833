//! The live shared store: a directory on the local disk (`fs.defaultFS=file:///...`).

use std::path::PathBuf;

use crate::store::{check_path, Store, StoreError};

/// The live store: a directory on the local disk (`fs.defaultFS=file:///...`).
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: impl Into<PathBuf>) -> DirStore {
        DirStore { root: root.into() }
    }
    fn full(&self, path: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join(check_path(path)?))
    }
}

fn io(e: std::io::Error, p: &std::path::Path) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound(p.display().to_string())
    } else {
        StoreError::Io(format!("{}: {e}", p.display()))
    }
}

impl Store for DirStore {
    fn read(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        let f = self.full(path)?;
        std::fs::read(&f).map_err(|e| io(e, &f))
    }
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        self.write_parts(path, &[data])
    }
    fn write_parts(&mut self, path: &str, parts: &[&[u8]]) -> Result<(), StoreError> {
        let f = self.full(path)?;
        if let Some(d) = f.parent() {
            std::fs::create_dir_all(d).map_err(|e| io(e, d))?;
        }
        // Written beside the target and renamed over it, so a process killed mid-write (a
        // `kill -9` of the RM while it saves its state, of a TaskManager writing a checkpoint)
        // leaves the old file or the new one, never a truncated one. The pid keeps writers in
        // different processes apart; within a process, writes running at once (a TaskManager's
        // checkpoint writes, `StoreWrite`) go to different paths, so their names differ too.
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = f.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut out| {
            use std::io::Write;
            parts.iter().try_for_each(|p| out.write_all(p))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e, &f));
        }
        std::fs::rename(&tmp, &f).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e, &f)
        })
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        let (f, t) = (self.full(from)?, self.full(to)?);
        if let Some(d) = t.parent() {
            std::fs::create_dir_all(d).map_err(|e| io(e, d))?;
        }
        std::fs::rename(&f, &t).map_err(|e| io(e, &f))
    }
    fn delete(&mut self, path: &str) -> Result<(), StoreError> {
        let f = self.full(path)?;
        let r = if f.is_dir() { std::fs::remove_dir_all(&f) } else { std::fs::remove_file(&f) };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e, &f)),
            _ => Ok(()),
        }
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = check_path(prefix)?;
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(rel) = stack.pop() {
            let full = self.root.join(&rel);
            if full.is_file() {
                out.push(rel);
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&full) else { continue };
            for e in rd.flatten() {
                stack.push(format!("{rel}/{}", e.file_name().to_string_lossy()));
            }
        }
        out.sort();
        Ok(out)
    }
    fn local_path(&self, path: &str) -> Option<PathBuf> {
        self.full(path).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_written_as_one_file_and_nothing_is_left_beside_it() {
        let root = std::env::temp_dir().join(format!("dirstore-parts-{}", std::process::id()));
        let mut s = DirStore::new(&root);
        s.write_parts("chk-1/state", &[b"head", b"", b"er-and-body"]).unwrap();
        assert_eq!(s.read("chk-1/state").unwrap(), b"header-and-body");
        s.write("chk-1/state", b"again").unwrap();
        assert_eq!(s.read("chk-1/state").unwrap(), b"again");
        let names: Vec<String> =
            std::fs::read_dir(root.join("chk-1")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["state".to_string()], "no temporary file is left");
        assert!(s.write_parts("../escape", &[b"x"]).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
