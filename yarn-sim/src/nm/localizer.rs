//! ResourceLocalizationService: puts a container's local resources into its working directory,
//! each under its link name. Two kinds of source:
//! - a path in the shared store (our own clients upload there): copied at once;
//! - a `file:` URL of the NodeManager's machine (`file:/abs/path`, what a Java client's
//!   LocalResource names when `fs.defaultFS` is `file:///`): checked as YARN's FSDownload does
//!   (it exists, its modification time is the resource's timestamp, a PUBLIC one is world
//!   readable), then copied — or, for an ARCHIVE, unpacked — by the driver off the node
//!   ([`engine::LocalCopy`]) into the application's file cache on this node, which the
//!   container's launch script links under the link name; the container stays LOCALIZING until
//!   every copy it needs has ended (see `ContainerManager`).

use std::collections::BTreeMap;

use engine::{CopyKind, Cx};

use crate::records::{LocalResource, LocalResourceType, LocalResourceVisibility};

/// FSDownload's permissions on what it localizes: PUBLIC 0555/0755, others 0500/0700.
const PUBLIC_FILE_MODE: u32 = 0o555;
const PUBLIC_DIR_MODE: u32 = 0o755;
const PRIVATE_FILE_MODE: u32 = 0o500;
const PRIVATE_DIR_MODE: u32 = 0o700;

/// A link name must stay inside the working dir, as YARN refuses link names with `..`.
fn check_link_name(key: &str) -> Result<(), String> {
    if key.is_empty() || key.starts_with('/') || key.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err(format!(
            "Invalid local resource link name '{key}': it must be a relative path inside the container's working directory"
        ));
    }
    Ok(())
}

/// Where a resource comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A shared-store path (relative, optionally `file://`-prefixed).
    Store(String),
    /// An absolute path on the NodeManager's machine, from `file:/p` or `file:///p`.
    Local(String),
    /// A URL of a file system this NodeManager cannot read (`hdfs://...`).
    Unsupported(String),
}

/// Reads a LocalResource's `resource` (YARN's URL, as `<scheme>:<path>` text).
pub fn source(resource: &str) -> Source {
    if let Some(rest) = resource.strip_prefix("file:") {
        if let Some(p) = rest.strip_prefix("//") {
            // `file:///abs` is local; `file://rel` is the harness's store form.
            return if p.starts_with('/') { Source::Local(p.to_string()) } else { Source::Store(resource.to_string()) };
        }
        if rest.starts_with('/') {
            return Source::Local(rest.to_string());
        }
        return Source::Store(resource.to_string());
    }
    match resource.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
            Source::Unsupported(scheme.to_string())
        }
        _ => Source::Store(resource.to_string()),
    }
}

/// How an ARCHIVE is unpacked, by its file name as FSDownload.unpack decides; None: "Cannot
/// unpack", and YARN keeps the file as it is under the link name.
fn archive_kind(path: &str) -> Option<CopyKind> {
    let lower = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if lower.ends_with(".jar") {
        Some(CopyKind::Jar)
    } else if lower.ends_with(".zip") {
        Some(CopyKind::Zip)
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Some(CopyKind::TarGz)
    } else if lower.ends_with(".tar") {
        Some(CopyKind::Tar)
    } else {
        None
    }
}

/// FSDownload.isPublic: the file (every file, for a directory) readable by others, and every
/// ancestor directory searchable by others.
fn is_public(cx: &mut Cx, path: &str, is_dir: bool, mode: u32) -> bool {
    if is_dir {
        if mode & 0o005 != 0o005 {
            return false;
        }
        for f in cx.local_list(path) {
            if cx.local_stat(&f).is_none_or(|s| s.mode & 0o004 == 0) {
                return false;
            }
        }
    } else if mode & 0o004 == 0 {
        return false;
    }
    let mut dir = path.trim_end_matches('/');
    while let Some((parent, _)) = dir.rsplit_once('/') {
        let p = if parent.is_empty() { "/" } else { parent };
        if cx.local_stat(p).is_none_or(|s| s.mode & 0o001 == 0) {
            return false;
        }
        dir = parent;
    }
    true
}

/// A `file:` resource that passed FSDownload's checks: what to copy (or unpack) into the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPlan {
    pub src: String,
    /// The resource's timestamp: with `src` and `kind`, what names one cached copy.
    pub timestamp: i64,
    pub kind: CopyKind,
    pub public: bool,
    /// Permission bits of what lands (FSDownload: files 0500/0555, dirs 0700/0755).
    pub file_mode: u32,
    pub dir_mode: u32,
}

impl LocalPlan {
    /// The source's file name: the cached copy's (or unpacked directory's) name.
    pub fn name(&self) -> &str {
        self.src.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("resource")
    }
}

/// The checks FSDownload makes before it copies a `file:` resource (`verifyAndCopy`). Errors
/// are YARN's words.
pub fn plan_local(cx: &mut Cx, path: &str, r: &LocalResource) -> Result<LocalPlan, String> {
    let url = format!("file:{path}");
    let Some(st) = cx.local_stat(path) else {
        return Err(format!("java.io.FileNotFoundException: File {url} does not exist"));
    };
    if st.mtime_ms != r.timestamp {
        return Err(format!(
            "java.io.IOException: Resource {url} changed on src filesystem - expected: \"{}\", was: \"{}\", current time: \"{}\"",
            crate::times::format_iso8601(r.timestamp),
            crate::times::format_iso8601(st.mtime_ms),
            crate::times::format_iso8601((cx.now().as_micros() / 1000) as i64)
        ));
    }
    let public = r.visibility == LocalResourceVisibility::Public;
    if public && !is_public(cx, path, st.is_dir, st.mode) {
        return Err(format!(
            "java.io.IOException: Resource {url} is not publicly accessible and as such cannot be part of the public cache."
        ));
    }
    let kind = match r.kind {
        LocalResourceType::File => CopyKind::File,
        // PATTERN unpacks like ARCHIVE (the pattern only selects what a jar unpacks; the jar
        // itself is kept whole either way).
        LocalResourceType::Archive | LocalResourceType::Pattern => archive_kind(path).unwrap_or(CopyKind::File),
    };
    if st.is_dir {
        return Err(format!("java.io.IOException: Cannot localize {url}: directories are not supported as resources here"));
    }
    let (file_mode, dir_mode) = if public { (PUBLIC_FILE_MODE, PUBLIC_DIR_MODE) } else { (PRIVATE_FILE_MODE, PRIVATE_DIR_MODE) };
    Ok(LocalPlan { src: path.to_string(), timestamp: r.timestamp, kind, public, file_mode, dir_mode })
}

/// Localizes every resource or stops at the first failure, returning YARN-style diagnostics
/// that name the resource. Store resources are copied into the working dir now; the `file:`
/// ones come back checked, by link name, for the caller to fetch into its cache.
pub fn localize(cx: &mut Cx, work_dir: &str, resources: &BTreeMap<String, LocalResource>) -> Result<Vec<(String, LocalPlan)>, String> {
    let mut plans = Vec::new();
    for (key, r) in resources {
        check_link_name(key)?;
        match source(&r.resource) {
            Source::Store(p) => {
                let data = cx.store().read(&p).map_err(|e| format!("Failed to localize resource {key}: {e}"))?;
                let dest = format!("{work_dir}/{key}");
                cx.local_write(&dest, &data).map_err(|e| format!("Failed to localize resource {key} to {dest}: {e}"))?;
            }
            Source::Local(p) => plans.push((key.clone(), plan_local(cx, &p, r)?)),
            Source::Unsupported(scheme) => {
                return Err(format!("org.apache.hadoop.fs.UnsupportedFileSystemException: No FileSystem for scheme \"{scheme}\""))
            }
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_stay_inside() {
        assert!(check_link_name("app.jar").is_ok());
        assert!(check_link_name("lib/x.jar").is_ok());
        for bad in ["../x", "/etc/passwd", "a//b", "a/../../b", ""] {
            assert!(check_link_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_name_store_paths_or_local_files() {
        assert_eq!(source("file:/opt/app/x.jar"), Source::Local("/opt/app/x.jar".into()));
        assert_eq!(source("file:///opt/app/x.jar"), Source::Local("/opt/app/x.jar".into()));
        assert_eq!(source("file://.flink/app_1/x.jar"), Source::Store("file://.flink/app_1/x.jar".into()));
        assert_eq!(source(".flink/app_1/x.jar"), Source::Store(".flink/app_1/x.jar".into()));
        assert_eq!(source("hdfs://nn:8020/x.jar"), Source::Unsupported("hdfs".into()));
    }

    /// A disk of stats only: what `plan_local` looks at.
    struct Disk(BTreeMap<String, engine::LocalStat>);
    impl engine::Sys for Disk {
        fn store(&mut self) -> &mut dyn engine::Store {
            unreachable!("not used by plan_local")
        }
        fn usage(&mut self, _pid: engine::ProcId) -> Option<engine::ProcUsage> {
            None
        }
        fn stdout(&mut self, _bytes: &[u8]) {}
        fn local_write(&mut self, _path: &str, _data: &[u8]) -> Result<(), String> {
            Ok(())
        }
        fn local_read(&mut self, _path: &str) -> Option<Vec<u8>> {
            None
        }
        fn local_list(&mut self, dir: &str) -> Vec<String> {
            let prefix = format!("{dir}/");
            self.0.iter().filter(|(p, s)| p.starts_with(&prefix) && !s.is_dir).map(|(p, _)| p.clone()).collect()
        }
        fn local_mkdir(&mut self, _dir: &str) -> Result<(), String> {
            Ok(())
        }
        fn local_remove(&mut self, _path: &str) {}
        fn local_stat(&mut self, path: &str) -> Option<engine::LocalStat> {
            self.0.get(path).copied()
        }
    }

    fn plan(disk: &mut Disk, path: &str, visibility: LocalResourceVisibility, kind: LocalResourceType) -> Result<LocalPlan, String> {
        let (mut rng, mut effects) = (<engine::Rng as rand::SeedableRng>::seed_from_u64(1), Vec::new());
        let mut cx = Cx::new(engine::Time::from_millis(1_800_000_000_000), "127.0.0.2:1".parse().unwrap(), &mut rng, &mut effects, disk);
        let r = LocalResource { resource: format!("file:{path}"), kind, visibility, size: 0, timestamp: 42 };
        plan_local(&mut cx, path, &r)
    }

    /// FSDownload.isPublic: a PUBLIC resource must be readable by others (every file of a
    /// directory) and every ancestor searchable by others; APPLICATION ones need not be.
    #[test]
    fn public_resources_must_be_world_readable() {
        let st = |is_dir: bool, mode: u32| engine::LocalStat { is_dir, len: 3, mtime_ms: 42, mode };
        let mut disk = Disk(
            [
                ("/", st(true, 0o755)),
                ("/opt", st(true, 0o755)),
                ("/opt/pub.jar", st(false, 0o644)),
                ("/opt/own.jar", st(false, 0o600)),
                ("/home", st(true, 0o755)),
                ("/home/alice", st(true, 0o700)),
                ("/home/alice/pub.jar", st(false, 0o644)),
            ]
            .into_iter()
            .map(|(p, s)| (p.to_string(), s))
            .collect(),
        );
        use LocalResourceType::{Archive, File};
        use LocalResourceVisibility::{Application, Public};
        let c = plan(&mut disk, "/opt/pub.jar", Public, File).unwrap();
        assert_eq!(
            c,
            LocalPlan { src: "/opt/pub.jar".into(), timestamp: 42, kind: CopyKind::File, public: true, file_mode: 0o555, dir_mode: 0o755 }
        );
        assert_eq!(c.name(), "pub.jar");
        let not_public = |p: &str| {
            format!("java.io.IOException: Resource file:{p} is not publicly accessible and as such cannot be part of the public cache.")
        };
        assert_eq!(plan(&mut disk, "/opt/own.jar", Public, File).unwrap_err(), not_public("/opt/own.jar"));
        assert_eq!(plan(&mut disk, "/home/alice/pub.jar", Public, File).unwrap_err(), not_public("/home/alice/pub.jar"));
        let c = plan(&mut disk, "/home/alice/pub.jar", Application, Archive).unwrap();
        assert_eq!((c.kind, c.file_mode, c.dir_mode), (CopyKind::Jar, 0o500, 0o700));
        // Checked against the clock of the input (cx.now()).
        disk.0.get_mut("/opt/pub.jar").unwrap().mtime_ms = 43;
        assert_eq!(
            plan(&mut disk, "/opt/pub.jar", Public, File).unwrap_err(),
            "java.io.IOException: Resource file:/opt/pub.jar changed on src filesystem - expected: \"1970-01-01T00:00:00.042+0000\", was: \"1970-01-01T00:00:00.043+0000\", current time: \"2027-01-15T08:00:00.000+0000\""
        );
    }

    #[test]
    fn archives_unpack_by_their_names() {
        assert_eq!(archive_kind("/a/flink-dist.JAR"), Some(CopyKind::Jar));
        assert_eq!(archive_kind("/a/x.zip"), Some(CopyKind::Zip));
        assert_eq!(archive_kind("/a/x.tar.gz"), Some(CopyKind::TarGz));
        assert_eq!(archive_kind("/a/x.tgz"), Some(CopyKind::TarGz));
        assert_eq!(archive_kind("/a/x.tar"), Some(CopyKind::Tar));
        assert_eq!(archive_kind("/a/x.txt"), None);
    }
}
