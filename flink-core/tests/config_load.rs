//! `FlinkConfig::load` against real files (kept out of src/: node code does no file IO).
// Tests read and write fixture files: the determinism lint is for node code.
#![allow(clippy::disallowed_methods)]

use flink_core::config::{keys, FlinkConfig, CONFIG_FILE, LEGACY_CONFIG_FILE};

#[test]
fn load_prefers_config_yaml_then_legacy() {
    let dir = std::env::temp_dir().join(format!("flink-core-config-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(FlinkConfig::load(&dir).unwrap_err().starts_with("No config.yaml"));
    std::fs::write(dir.join(LEGACY_CONFIG_FILE), "taskmanager.numberOfTaskSlots: 4\n").unwrap();
    assert_eq!(FlinkConfig::load(&dir).unwrap().u32(keys::NUM_TASK_SLOTS, 1).unwrap(), 4);
    std::fs::write(dir.join(CONFIG_FILE), "taskmanager:\n  numberOfTaskSlots: 5\n").unwrap();
    assert_eq!(FlinkConfig::load(&dir).unwrap().u32(keys::NUM_TASK_SLOTS, 1).unwrap(), 5);
    std::fs::write(dir.join(CONFIG_FILE), "a:\nb c\n").unwrap();
    let e = FlinkConfig::load(&dir).unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
