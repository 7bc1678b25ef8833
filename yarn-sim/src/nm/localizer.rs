//! ResourceLocalizationService: copies a container's local resources from the shared store into
//! its working directory, each under its link name.

use std::collections::BTreeMap;

use engine::Cx;

use crate::records::LocalResource;

/// A link name must stay inside the working dir, as YARN refuses link names with `..`.
fn check_link_name(key: &str) -> Result<(), String> {
    if key.is_empty() || key.starts_with('/') || key.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err(format!(
            "Invalid local resource link name '{key}': it must be a relative path inside the container's working directory"
        ));
    }
    Ok(())
}

/// Localizes every resource or stops at the first failure, returning YARN-style diagnostics
/// that name the resource.
pub fn localize(cx: &mut Cx, work_dir: &str, resources: &BTreeMap<String, LocalResource>) -> Result<(), String> {
    for (key, r) in resources {
        check_link_name(key)?;
        let data = cx.store().read(&r.resource).map_err(|e| format!("Failed to localize resource {key}: {e}"))?;
        let dest = format!("{work_dir}/{key}");
        cx.local_write(&dest, &data).map_err(|e| format!("Failed to localize resource {key} to {dest}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_link_name;

    #[test]
    fn link_names_stay_inside() {
        assert!(check_link_name("app.jar").is_ok());
        assert!(check_link_name("lib/x.jar").is_ok());
        for bad in ["../x", "/etc/passwd", "a//b", "a/../../b", ""] {
            assert!(check_link_name(bad).is_err(), "{bad}");
        }
    }
}
