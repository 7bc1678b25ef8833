//! ACLs as YARN checks them: `AccessControlList` (Hadoop's "users groups" syntax),
//! `ApplicationACLsManager` (per-application VIEW_APP / MODIFY_APP from the submission context,
//! `yarn.acl.enable`, `yarn.admin.acl`) and the CapacityScheduler's queue ACLs
//! (`acl_submit_applications`, `acl_administer_queue`, inherited from the parent queues).
//!
//! Users come from the callers (simple auth: REST's `user.name`, the CLIs' `$HADOOP_USER_NAME`
//! / `$USER`). Groups come from `hadoop.user.group.static.mapping.overrides`
//! (`user1=group1,group2;user2=;`): a node has no `/etc/group` to read, and a static mapping is
//! one of Hadoop's own group sources.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::conf::Configuration;

pub const ACL_ENABLE: &str = "yarn.acl.enable";
pub const ADMIN_ACL: &str = "yarn.admin.acl";
pub const STATIC_GROUPS: &str = "hadoop.user.group.static.mapping.overrides";
/// The user an anonymous web request runs as (`hadoop.http.staticuser.user`).
pub const STATIC_USER: &str = "hadoop.http.staticuser.user";
pub const DEFAULT_STATIC_USER: &str = "dr.who";

/// `ApplicationAccessType`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum ApplicationAccessType {
    #[serde(rename = "VIEW_APP")]
    ViewApp,
    #[serde(rename = "MODIFY_APP")]
    ModifyApp,
}

impl ApplicationAccessType {
    pub fn name(self) -> &'static str {
        match self {
            ApplicationAccessType::ViewApp => "VIEW_APP",
            ApplicationAccessType::ModifyApp => "MODIFY_APP",
        }
    }
}

impl std::str::FromStr for ApplicationAccessType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "VIEW_APP" => Ok(ApplicationAccessType::ViewApp),
            "MODIFY_APP" => Ok(ApplicationAccessType::ModifyApp),
            o => Err(format!("Invalid application access type {o}: it should be VIEW_APP or MODIFY_APP")),
        }
    }
}

/// `QueueACL`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QueueACL {
    SubmitApplications,
    AdministerQueue,
}

impl QueueACL {
    /// The capacity-scheduler.xml key suffix.
    pub fn key(self) -> &'static str {
        match self {
            QueueACL::SubmitApplications => "acl_submit_applications",
            QueueACL::AdministerQueue => "acl_administer_queue",
        }
    }
}

/// Hadoop's `AccessControlList`: `*` is everyone; otherwise comma-separated users, a space,
/// then comma-separated groups; a lone space (or nothing) is no one.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AccessControlList {
    all: bool,
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl AccessControlList {
    pub fn parse(s: &str) -> AccessControlList {
        if s.trim() == "*" {
            return AccessControlList { all: true, ..Default::default() };
        }
        // Leading spaces matter: " admins" is the group "admins" and no users.
        let (users, groups) = s.split_once(' ').unwrap_or((s, ""));
        let set = |p: &str| p.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect::<BTreeSet<_>>();
        AccessControlList { all: false, users: set(users), groups: set(groups) }
    }

    pub fn everyone() -> AccessControlList {
        AccessControlList { all: true, ..Default::default() }
    }

    pub fn is_all_allowed(&self) -> bool {
        self.all
    }

    pub fn add_user(&mut self, user: &str) {
        if !user.is_empty() {
            self.users.insert(user.to_string());
        }
    }

    pub fn is_user_allowed(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        self.all || self.users.contains(user) || self.groups.iter().any(|g| groups.contains(g))
    }

    /// Hadoop's `getAclString()`.
    pub fn acl_string(&self) -> String {
        if self.all {
            return "*".into();
        }
        let users: Vec<&str> = self.users.iter().map(String::as_str).collect();
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        if groups.is_empty() {
            if users.is_empty() {
                " ".into()
            } else {
                users.join(",")
            }
        } else {
            format!("{} {}", users.join(","), groups.join(","))
        }
    }
}

/// The cluster-wide ACL settings (`yarn.acl.enable`, `yarn.admin.acl`, group mapping).
#[derive(Clone, Debug)]
pub struct AclConfig {
    /// `yarn.acl.enable`; YARN's default is false, this harness's true (README).
    pub enabled: bool,
    /// `yarn.admin.acl` plus the daemon's own user (AdminACLsManager adds the RM's owner).
    pub admin: AccessControlList,
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// `hadoop.http.staticuser.user`: who an anonymous REST request is.
    pub static_user: String,
}

impl AclConfig {
    pub fn from_conf(conf: &Configuration) -> Result<AclConfig, String> {
        let enabled = conf.get_bool(ACL_ENABLE, true)?;
        let admin = AccessControlList::parse(&conf.get_or(ADMIN_ACL, "*"));
        let mut groups = BTreeMap::new();
        for entry in conf.get_or(STATIC_GROUPS, "dr.who=;").split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (user, gs) =
                entry.split_once('=').ok_or_else(|| format!("Invalid {STATIC_GROUPS} entry '{entry}': expected user=group1,group2"))?;
            groups.insert(user.trim().to_string(), gs.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect());
        }
        Ok(AclConfig { enabled, admin, groups, static_user: conf.get_or(STATIC_USER, DEFAULT_STATIC_USER) })
    }

    pub fn groups_of(&self, user: &str) -> BTreeSet<String> {
        self.groups.get(user).cloned().unwrap_or_default()
    }

    /// `AdminACLsManager.isAdmin`.
    pub fn is_admin(&self, user: &str) -> bool {
        self.admin.is_user_allowed(user, &self.groups_of(user))
    }
}

/// Application ACLs as the submission context carries them (`application-acls`), each value an
/// ACL string; a type not given is "no one but the owner and admins" (YARN's DEFAULT_YARN_APP_ACL).
pub type ApplicationAcls = BTreeMap<ApplicationAccessType, String>;

/// `ApplicationACLsManager.checkAccess`: ACLs off, an admin, the owner, or in the app's ACL.
pub fn check_app_access(conf: &AclConfig, caller: &str, access: ApplicationAccessType, owner: &str, acls: &ApplicationAcls) -> bool {
    if !conf.enabled || conf.is_admin(caller) || caller == owner {
        return true;
    }
    acls.get(&access).map(|a| AccessControlList::parse(a).is_user_allowed(caller, &conf.groups_of(caller))).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_strings_follow_hadoop() {
        let none = BTreeSet::new();
        let admins: BTreeSet<String> = ["admins".to_string()].into();
        assert!(AccessControlList::parse("*").is_user_allowed("anyone", &none));
        assert!(!AccessControlList::parse(" ").is_user_allowed("alice", &none));
        assert!(!AccessControlList::parse("").is_user_allowed("alice", &none));
        let a = AccessControlList::parse("alice,bob admins");
        assert!(a.is_user_allowed("bob", &none));
        assert!(a.is_user_allowed("carol", &admins));
        assert!(!a.is_user_allowed("carol", &none));
        let g = AccessControlList::parse(" admins");
        assert!(!g.is_user_allowed("admins", &none), "a leading space makes it a group");
        assert!(g.is_user_allowed("dave", &admins));
        assert_eq!(a.acl_string(), "alice,bob admins");
        assert_eq!(AccessControlList::parse(" ").acl_string(), " ");
    }

    #[test]
    fn app_access_owner_admin_and_acl() {
        let mut conf = Configuration::new();
        conf.set(ADMIN_ACL, "root");
        conf.set(STATIC_GROUPS, "carol=ops;dr.who=;");
        let c = AclConfig::from_conf(&conf).unwrap();
        let mut acls = ApplicationAcls::new();
        acls.insert(ApplicationAccessType::ViewApp, "bob  ops".into());
        let view = ApplicationAccessType::ViewApp;
        let modify = ApplicationAccessType::ModifyApp;
        assert!(check_app_access(&c, "alice", modify, "alice", &acls), "the owner");
        assert!(check_app_access(&c, "root", modify, "alice", &acls), "an admin");
        assert!(check_app_access(&c, "bob", view, "alice", &acls));
        assert!(check_app_access(&c, "carol", view, "alice", &acls), "by group");
        assert!(!check_app_access(&c, "bob", modify, "alice", &acls), "no MODIFY_APP given: owner and admins only");
        assert!(!check_app_access(&c, "dr.who", view, "alice", &acls));
        let mut off = conf.clone();
        off.set(ACL_ENABLE, false);
        assert!(check_app_access(&AclConfig::from_conf(&off).unwrap(), "dr.who", modify, "alice", &acls));
    }
}
