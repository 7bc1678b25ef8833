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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            // Localized files and dirs are read-only for their owner: give write back first.
            let _ = std::process::Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.0).status();
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temp(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("engine-localcopy-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn copy(src: &Path, dest: &Path, kind: CopyKind) -> LocalCopy {
        LocalCopy { id: 1, src: src.display().to_string(), dest: dest.display().to_string(), kind, file_mode: 0o500, dir_mode: 0o700 }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    /// stat reports what Java's FileStatus would: length and the modification time in ms.
    #[test]
    fn stat_reports_length_mtime_and_mode() {
        let t = temp("stat");
        let f = t.0.join("a.jar");
        fs::write(&f, b"12345").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let st = stat(&f.display().to_string()).unwrap();
        let want = fs::metadata(&f).unwrap().modified().unwrap().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        assert_eq!(st, LocalStat { is_dir: false, len: 5, mtime_ms: want, mode: 0o640 });
        assert!(stat(&t.0.display().to_string()).unwrap().is_dir);
        assert!(stat(&t.0.join("nope").display().to_string()).is_none());
    }

    #[test]
    fn a_file_is_copied_and_made_read_only() {
        let t = temp("file");
        let src = t.0.join("flink-dist.jar");
        fs::write(&src, b"DIST").unwrap();
        let dest = t.0.join("work/sub/flink-dist.jar");
        run(&copy(&src, &dest, CopyKind::File)).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"DIST");
        assert_eq!(mode(&dest), 0o500);
        let e = run(&copy(&t.0.join("missing"), &t.0.join("x"), CopyKind::File)).unwrap_err();
        assert!(e.starts_with("Cannot copy ") && e.contains("No such file"), "{e}");
    }

    /// A jar ARCHIVE: its entries unpacked under the link dir, the jar itself kept there, every
    /// file 0500 and every dir 0700 (FSDownload's private permissions); a tgz likewise, with
    /// its symbolic links.
    #[test]
    fn archives_are_unpacked_with_fsdownload_s_permissions() {
        let t = temp("archive");
        let jar = t.0.join("udf.jar");
        let mut w = zip::ZipWriter::new(fs::File::create(&jar).unwrap());
        w.add_directory("com/", zip::write::SimpleFileOptions::default()).unwrap();
        w.start_file("com/Udf.class", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(b"CAFE").unwrap();
        w.finish().unwrap();
        let dest = t.0.join("work/udf");
        run(&copy(&jar, &dest, CopyKind::Jar)).unwrap();
        assert_eq!(fs::read(dest.join("com/Udf.class")).unwrap(), b"CAFE");
        assert_eq!(fs::read(dest.join("udf.jar")).unwrap(), fs::read(&jar).unwrap());
        assert_eq!((mode(&dest), mode(&dest.join("com")), mode(&dest.join("com/Udf.class"))), (0o700, 0o700, 0o500));

        let tgz = t.0.join("conf.tgz");
        let gz = flate2::write::GzEncoder::new(fs::File::create(&tgz).unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, "conf/a.yaml", &b"a: 1"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "conf/b.yaml", "a.yaml").unwrap();
        b.into_inner().unwrap().finish().unwrap();
        let dest = t.0.join("work/conf");
        run(&copy(&tgz, &dest, CopyKind::TarGz)).unwrap();
        assert_eq!(fs::read(dest.join("conf/a.yaml")).unwrap(), b"a: 1");
        assert_eq!(fs::read(dest.join("conf/b.yaml")).unwrap(), b"a: 1", "the link resolves inside");
        assert_eq!(mode(&dest.join("conf/a.yaml")), 0o500);
        // Not an archive of that kind: a clear error.
        let e = run(&copy(&jar, &t.0.join("work/bad"), CopyKind::TarGz)).unwrap_err();
        assert!(e.starts_with("Cannot read tar archive"), "{e}");
    }
}
