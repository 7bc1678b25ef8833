//! The live driver's [`LocalCopy`]: a file copied, or an archive unpacked, on the real disk,
//! on a blocking thread (see `LiveNode::apply`), with FSDownload's permissions on what lands.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::node::{CopyKind, LocalCopy, LocalStat};
use crate::unpack::{self, UnpackSink};

/// `stat` of a local path (symbolic links followed).
pub fn stat(path: &str) -> Option<LocalStat> {
    let m = fs::metadata(path).ok()?;
    let mtime_ms = match m.modified().ok()?.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    };
    Some(LocalStat { is_dir: m.is_dir(), len: m.len(), mtime_ms, mode: m.mode() & 0o7777 })
}

struct DirSink {
    root: PathBuf,
    /// Everything created, for the permissions pass once the archive is in.
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl DirSink {
    fn parent(&mut self, p: &Path) -> io::Result<()> {
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        Ok(())
    }
}

impl UnpackSink for DirSink {
    fn dir(&mut self, rel: &str) -> io::Result<()> {
        let p = self.root.join(rel);
        fs::create_dir_all(&p)?;
        self.dirs.push(p);
        Ok(())
    }
    fn file(&mut self, rel: &str, _mode: Option<u32>, data: &mut dyn Read) -> io::Result<()> {
        let p = self.root.join(rel);
        self.parent(&p)?;
        let mut f = fs::File::create(&p)?;
        io::copy(data, &mut f)?;
        self.files.push(p);
        Ok(())
    }
    fn symlink(&mut self, rel: &str, target: &str) -> io::Result<()> {
        let p = self.root.join(rel);
        self.parent(&p)?;
        symlink(target, &p)
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(|e| format!("{}: {e}", p.display()))
}

/// Carries out one copy. Errors name the path that failed.
pub fn run(c: &LocalCopy) -> Result<(), String> {
    let dest = Path::new(&c.dest);
    if let Some(d) = dest.parent() {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    if c.kind == CopyKind::File {
        fs::copy(&c.src, dest).map_err(|e| format!("Cannot copy {} to {}: {e}", c.src, c.dest))?;
        return set_mode(dest, c.file_mode);
    }
    fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let open = || fs::File::open(&c.src).map(io::BufReader::new).map_err(|e| format!("{}: {e}", c.src));
    let mut sink = DirSink { root: dest.to_path_buf(), files: Vec::new(), dirs: vec![dest.to_path_buf()] };
    match c.kind {
        CopyKind::Zip | CopyKind::Jar => unpack::unzip(open()?, &c.dest, &mut sink)?,
        CopyKind::Tar => unpack::untar(open()?, false, &c.dest, &mut sink)?,
        CopyKind::TarGz => unpack::untar(open()?, true, &c.dest, &mut sink)?,
        CopyKind::File => unreachable!("handled above"),
    }
    if c.kind == CopyKind::Jar {
        let name = Path::new(&c.src).file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("job.jar"));
        let saved = dest.join(name);
        fs::copy(&c.src, &saved).map_err(|e| format!("Cannot copy {} to {}: {e}", c.src, saved.display()))?;
        sink.files.push(saved);
    }
    for f in &sink.files {
        set_mode(f, c.file_mode)?;
    }
    // Deepest first is not needed: the owner keeps write and execute on directories.
    for d in &sink.dirs {
        set_mode(d, c.dir_mode)?;
    }
    Ok(())
}
