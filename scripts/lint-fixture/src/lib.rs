//! Node code as it must not be written. scripts/lint-determinism.sh expects clippy to report
//! every item below; if one goes unreported, the lint no longer protects the node crates.

use std::collections::HashMap as Table; // an alias does not hide the type
use std::time::Instant;

pub type Set = std::collections::HashSet<u32>;

pub fn unordered() -> Table<u32, u32> {
    Table::new()
}

pub fn wall_clock() -> Instant {
    let _ = std::time::SystemTime::now();
    Instant::now()
}

pub fn thread() {
    let _ = std::thread::spawn(|| ());
}

pub fn io() -> Option<Vec<u8>> {
    let _ = std::env::var("HOME");
    std::fs::read("/etc/hostname").ok()
}
