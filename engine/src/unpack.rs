//! Archive unpacking for a [`crate::LocalCopy`], shared by both drivers: the archive is read
//! from any reader and every entry is handed to a sink (live: real files; sim: the machine's
//! file map). Entries whose names would land outside the destination are refused with the
//! words of Hadoop's `FileUtil.unZip` / `unTar`.

use std::io::{self, Read, Seek};

/// Where unpacked entries go. Paths are relative to the destination, `/`-separated, with no
/// `.`, `..` or empty segments.
pub trait UnpackSink {
    fn dir(&mut self, rel: &str) -> io::Result<()>;
    /// A regular file; `mode` is the entry's permission bits if the archive has them.
    fn file(&mut self, rel: &str, mode: Option<u32>, data: &mut dyn Read) -> io::Result<()>;
    fn symlink(&mut self, rel: &str, target: &str) -> io::Result<()>;
}

/// An entry name as a path inside the destination, or None if it would leave it.
fn inside(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    if name.starts_with('/') || name.contains('\0') || name.contains('\\') {
        return None;
    }
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// A zip (or jar) archive: every entry, directories created as named, files written.
pub fn unzip<R: Read + Seek>(reader: R, dest: &str, sink: &mut dyn UnpackSink) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| format!("Cannot read zip archive: {e}"))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("Cannot read zip entry {i}: {e}"))?;
        let name = entry.name().map_err(|e| format!("Cannot read zip entry {i}: {e}"))?.to_string();
        let Some(rel) = inside(&name) else {
            return Err(format!("expanding {name} would create file outside of {dest}"));
        };
        if rel.is_empty() {
            continue;
        }
        let r = if entry.is_dir() {
            sink.dir(&rel)
        } else {
            let mode = entry.unix_mode().map(|m| m & 0o7777);
            sink.file(&rel, mode, &mut entry)
        };
        r.map_err(|e| format!("Cannot unpack {name} into {dest}: {e}"))?;
    }
    Ok(())
}

/// A tar archive, gzipped or not: directories, regular files and symbolic links.
pub fn untar<R: Read>(reader: R, gzipped: bool, dest: &str, sink: &mut dyn UnpackSink) -> Result<(), String> {
    let reader: Box<dyn Read + '_> = if gzipped { Box::new(flate2::read::GzDecoder::new(reader)) } else { Box::new(reader) };
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| format!("Cannot read tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("Cannot read tar archive: {e}"))?;
        let name = entry.path().map_err(|e| format!("Cannot read tar entry name: {e}"))?.to_string_lossy().into_owned();
        let Some(rel) = inside(&name) else {
            return Err(format!("expanding {name} would create entry outside of {dest}"));
        };
        if rel.is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let r = match kind {
            tar::EntryType::Directory => sink.dir(&rel),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().ok().map(|m| m & 0o7777);
                sink.file(&rel, mode, &mut entry)
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().ok().flatten().map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                sink.symlink(&rel, &target)
            }
            // PAX/GNU headers are consumed by the reader; anything else (hard links, devices,
            // fifos) has no place in a localized archive.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => Ok(()),
            other => Err(io::Error::other(format!("unsupported tar entry type {other:?}"))),
        };
        r.map_err(|e| format!("Cannot unpack {name} into {dest}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::{Cursor, Write};

    #[derive(Default)]
    struct Mem(BTreeMap<String, String>);
    impl UnpackSink for Mem {
        fn dir(&mut self, rel: &str) -> io::Result<()> {
            self.0.insert(format!("{rel}/"), String::new());
            Ok(())
        }
        fn file(&mut self, rel: &str, mode: Option<u32>, data: &mut dyn Read) -> io::Result<()> {
            let mut s = String::new();
            data.read_to_string(&mut s)?;
            self.0.insert(rel.to_string(), format!("{s} {}", mode.map(|m| format!("{m:o}")).unwrap_or_default()));
            Ok(())
        }
        fn symlink(&mut self, rel: &str, target: &str) -> io::Result<()> {
            self.0.insert(rel.to_string(), format!("-> {target}"));
            Ok(())
        }
    }

    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o640);
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(body.as_bytes()).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zip_entries_land_under_their_names() {
        let z = zip_of(&[("META-INF/", ""), ("META-INF/MANIFEST.MF", "Manifest-Version: 1.0"), ("a/./b.txt", "b")]);
        let mut m = Mem::default();
        unzip(Cursor::new(z), "/d", &mut m).unwrap();
        let got: Vec<_> = m.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["META-INF/=", "META-INF/MANIFEST.MF=Manifest-Version: 1.0 640", "a/b.txt=b 640"]);
    }

    #[test]
    fn entries_outside_the_destination_are_refused() {
        let z = zip_of(&[("ok", "1"), ("../evil", "2")]);
        let e = unzip(Cursor::new(z), "/d/x", &mut Mem::default()).unwrap_err();
        assert_eq!(e, "expanding ../evil would create file outside of /d/x");
        assert_eq!(inside("a/../b"), Some("b".into()));
        assert_eq!(inside("a/../../b"), None);
        assert_eq!(inside("/etc/passwd"), None);
        let e = unzip(Cursor::new(b"not a zip".to_vec()), "/d", &mut Mem::default()).unwrap_err();
        assert!(e.starts_with("Cannot read zip archive"), "{e}");
    }

    fn tar_of(gz: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "conf/", io::empty()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o750);
        h.set_size(5);
        b.append_data(&mut h, "conf/x.sh", &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "conf/link", "x.sh").unwrap();
        let raw = b.into_inner().unwrap();
        if !gz {
            return raw;
        }
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(&raw).unwrap();
        g.finish().unwrap()
    }

    #[test]
    fn tar_and_tgz_unpack_files_dirs_and_links() {
        for gz in [false, true] {
            let mut m = Mem::default();
            untar(Cursor::new(tar_of(gz)), gz, "/d", &mut m).unwrap();
            let got: Vec<_> = m.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
            assert_eq!(got, ["conf/=", "conf/link=-> x.sh", "conf/x.sh=hello 750"], "gz {gz}");
        }
        // A gzipped stream read as plain tar (or the reverse) is an error, not garbage.
        assert!(untar(Cursor::new(tar_of(false)), true, "/d", &mut Mem::default()).is_err());
    }
}
