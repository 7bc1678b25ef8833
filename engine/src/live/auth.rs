//! The cluster secret that authenticates node-to-node messages, as YARN's tokens do.
//!
//! `yarn-sim start` draws 32 random bytes, writes them hex-encoded to `<work>/conf/cluster-secret`
//! (mode 0600) and hands the file to the ResourceManager and NodeManagers; a NodeManager puts
//! the secret into every container's environment ([`SECRET_ENV`]), so ApplicationMasters and
//! TaskManagers have it too. A node proves it knows the secret without ever sending it:
//!
//! - a frame stream opens with a challenge-response ([`super::net`]): the connecting side sends
//!   a fresh nonce, the accepting side answers with its own nonce and
//!   `HMAC-SHA256(secret, "server" | Nc | Ns)`, the connecting side checks that and answers
//!   `HMAC-SHA256(secret, "client" | Nc | Ns)`; only then are frames read. Both sides choose a
//!   nonce, so a recorded handshake cannot be replayed, and a process that took over a dead
//!   node's port learns nothing it could use (it never sees the secret and cannot answer);
//! - `POST /_rpc` (one HTTP request, no room for a challenge) carries
//!   `HMAC-SHA256(secret, "rpc" | body)` in the [`RPC_AUTH_HEADER`] header.
//!
//! HMAC rather than the secret itself: a node may connect to an address that is no longer the
//! node it was (a restarted TaskManager's port reused by someone else); that must not leak the
//! secret.
//!
//! A node without a secret is *open*: its frame streams use the empty key (anyone can complete
//! the handshake) and `/_rpc` needs no header. Open nodes exist for tests that host nodes in one
//! process; every binary refuses to start without a secret, so a daemon never runs open by
//! accident, and an open node and a secured node cannot talk to each other.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The environment variable a NodeManager sets in every container.
pub const SECRET_ENV: &str = "YARN_SIM_CLUSTER_SECRET";
/// The file `yarn-sim start` writes in the cluster's conf dir.
pub const SECRET_FILE: &str = "cluster-secret";
/// The header of `POST /_rpc` that carries the body's HMAC (hex).
pub const RPC_AUTH_HEADER: &str = "x-yarn-sim-auth";
/// The header of `POST /_fault` (the scenario runner's fault layer control route): the hex of
/// `HMAC-SHA256(secret, "fault" | body)`. A node without a secret refuses every fault.
pub const FAULT_AUTH_HEADER: &str = "x-yarn-sim-fault-auth";
/// Bytes of a handshake nonce and of a proof (an HMAC-SHA256 tag).
pub const NONCE_LEN: usize = 32;
pub const PROOF_LEN: usize = 32;
/// Secrets shorter than this are refused (a typo, not a secret).
const MIN_SECRET_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A cluster secret, or none (open). Its `Debug` never shows the bytes.
#[derive(Clone, Default)]
pub struct ClusterSecret(Option<Arc<[u8]>>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_open() { "ClusterSecret(open)" } else { "ClusterSecret(..)" })
    }
}

/// `n` bytes from the OS's random source (start-up and handshakes, never node code).
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() & 1 != 0 {
        return None;
    }
    s.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()).collect()
}

impl ClusterSecret {
    /// No secret: see the module docs.
    pub fn open() -> ClusterSecret {
        ClusterSecret(None)
    }

    pub fn is_open(&self) -> bool {
        self.0.is_none()
    }

    /// 32 fresh bytes from the OS.
    pub fn generate() -> Result<ClusterSecret, String> {
        let b = random_bytes(32).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
        Ok(ClusterSecret(Some(b.into())))
    }

    /// Hex text, as written in the file and the environment (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<ClusterSecret, String> {
        let b = unhex(text.trim()).ok_or("the cluster secret must be hex digits")?;
        if b.len() < MIN_SECRET_BYTES {
            return Err(format!("the cluster secret must be at least {MIN_SECRET_BYTES} bytes ({} hex digits)", 2 * MIN_SECRET_BYTES));
        }
        Ok(ClusterSecret(Some(b.into())))
    }

    /// The hex text (empty when open).
    pub fn to_hex(&self) -> String {
        self.0.as_deref().map(hex).unwrap_or_default()
    }

    /// The secret in [`SECRET_ENV`], if set (an empty value counts as unset).
    pub fn from_env() -> Result<Option<ClusterSecret>, String> {
        match std::env::var(SECRET_ENV) {
            Ok(v) if !v.trim().is_empty() => ClusterSecret::from_hex(&v).map(Some).map_err(|e| format!("{SECRET_ENV}: {e}")),
            _ => Ok(None),
        }
    }

    /// The secret of a process a NodeManager launched (an ApplicationMaster, a TaskManager):
    /// [`SECRET_ENV`], which must be set; a container process never runs open.
    pub fn for_container() -> Result<ClusterSecret, String> {
        ClusterSecret::from_env()?.ok_or_else(|| {
            format!("{SECRET_ENV} is not set: this process authenticates to the cluster with the secret its NodeManager puts in the container's environment")
        })
    }

    /// Reads a secret file; one that others can read is refused, as ssh refuses such keys.
    pub fn read_file(path: &Path) -> Result<ClusterSecret, String> {
        use std::os::unix::fs::PermissionsExt;
        let md = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if md.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{}: the cluster secret is readable by other users (mode {:o}); chmod 600 it",
                path.display(),
                md.permissions().mode() & 0o777
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ClusterSecret::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the hex text to `path`, readable and writable by the owner only.
    pub fn write_file(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(err)?;
        // An existing file keeps its mode on open: tighten it before writing.
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        writeln!(f, "{}", self.to_hex()).map_err(err)
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let key: &[u8] = self.0.as_deref().unwrap_or(&[]);
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        for p in parts {
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }

    /// The proof over `parts`.
    pub fn proof(&self, parts: &[&[u8]]) -> [u8; PROOF_LEN] {
        self.mac(parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the proof over `parts` (compared in constant time).
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(parts).verify_slice(tag).is_ok()
    }

    /// The [`RPC_AUTH_HEADER`] value for a `POST /_rpc` body.
    pub fn rpc_header(&self, body: &[u8]) -> String {
        hex(&self.proof(&[b"rpc", body]))
    }

    /// The [`FAULT_AUTH_HEADER`] value for a `POST /_fault` body.
    pub fn fault_header(&self, body: &[u8]) -> String {
        hex(&self.proof(&[b"fault", body]))
    }

    /// Whether a `POST /_fault` request may change the fault rules: only with a secret (an
    /// open node takes faults from nobody) and a header that proves it over this body. The
    /// "fault" domain keeps an `/_rpc` proof from being replayed here.
    pub fn check_fault(&self, header: Option<&str>, body: &[u8]) -> bool {
        !self.is_open() && header.and_then(|h| unhex(h.trim())).is_some_and(|tag| self.verify(&[b"fault", body], &tag))
    }

    /// Whether a `POST /_rpc` request may be delivered: always when open, else only with a
    /// header that proves the secret over this body.
    pub fn check_rpc(&self, header: Option<&str>, body: &[u8]) -> bool {
        if self.is_open() {
            return true;
        }
        header.and_then(|h| unhex(h.trim())).is_some_and(|tag| self.verify(&[b"rpc", body], &tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_secret_and_every_part() {
        let a = ClusterSecret::from_hex(&"ab".repeat(32)).unwrap();
        let b = ClusterSecret::from_hex(&"cd".repeat(32)).unwrap();
        let p = a.proof(&[b"client", b"n1", b"n2"]);
        assert!(a.verify(&[b"client", b"n1", b"n2"], &p));
        assert!(!b.verify(&[b"client", b"n1", b"n2"], &p));
        assert!(!a.verify(&[b"server", b"n1", b"n2"], &p));
        assert!(!a.verify(&[b"client", b"n1", b"n3"], &p));
        assert!(!a.verify(&[b"client", b"n1n", b"2"], &p));
        assert!(!ClusterSecret::open().verify(&[b"client", b"n1", b"n2"], &p));
        // /_rpc: the header proves this body and no other.
        let h = a.rpc_header(b"{}");
        assert!(a.check_rpc(Some(&h), b"{}"));
        assert!(!a.check_rpc(Some(&h), b"{ }"));
        assert!(!a.check_rpc(None, b"{}"));
        assert!(!a.check_rpc(Some("zz"), b"{}"));
        assert!(ClusterSecret::open().check_rpc(None, b"{}"));
        // /_fault: its own domain, and never on an open node.
        let f = a.fault_header(b"{}");
        assert!(a.check_fault(Some(&f), b"{}"));
        assert!(!a.check_fault(Some(&h), b"{}"), "an /_rpc proof is not a fault proof");
        assert!(!a.check_fault(Some(&f), b"{ }"));
        assert!(!a.check_fault(None, b"{}"));
        assert!(!b.check_fault(Some(&f), b"{}"));
        assert!(!ClusterSecret::open().check_fault(Some(&f), b"{}"));
    }

    #[test]
    fn hex_round_trip_and_bad_secrets() {
        let s = ClusterSecret::generate().unwrap();
        assert_eq!(s.to_hex().len(), 64);
        assert_eq!(ClusterSecret::from_hex(&format!(" {}\n", s.to_hex())).unwrap().to_hex(), s.to_hex());
        assert!(ClusterSecret::from_hex("xyz").is_err());
        assert!(ClusterSecret::from_hex("abcd").unwrap_err().contains("at least 16 bytes"));
        assert_eq!(format!("{s:?}"), "ClusterSecret(..)");
    }

    #[test]
    fn the_file_is_private_and_others_readable_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("engine-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(SECRET_FILE);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = ClusterSecret::generate().unwrap();
        s.write_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(ClusterSecret::read_file(&path).unwrap().to_hex(), s.to_hex());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(ClusterSecret::read_file(&path).unwrap_err().contains("chmod 600"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
