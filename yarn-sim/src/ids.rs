//! YARN's identifiers, formatted and parsed exactly as YARN does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `application_<clusterTimestamp>_<sequence, 4+ digits>`
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ApplicationId {
    pub cluster_timestamp: u64,
    pub id: u32,
}

/// `appattempt_<clusterTimestamp>_<app sequence>_<attempt, 6 digits>`
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ApplicationAttemptId {
    pub app: ApplicationId,
    pub attempt: u32,
}

/// `container_<clusterTimestamp>_<app sequence>_<attempt, 2 digits>_<container, 6 digits>`, or
/// `container_e<epoch>_...` once a recovered ResourceManager has an epoch: as in YARN, `seq`
/// holds the RM epoch above bit 40 ([`ContainerId::EPOCH_SHIFT`]) and the per-attempt counter
/// below, so containers allocated after an RM restart never reuse an id from before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ContainerId {
    pub attempt: ApplicationAttemptId,
    pub seq: u64,
}

/// A NodeManager's id: `host:port` of its RPC address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId {
    pub host: String,
    pub port: u16,
}

impl ApplicationId {
    pub fn new(cluster_timestamp: u64, id: u32) -> Self {
        ApplicationId { cluster_timestamp, id }
    }
}

impl ApplicationAttemptId {
    pub fn new(app: ApplicationId, attempt: u32) -> Self {
        ApplicationAttemptId { app, attempt }
    }
}

impl ContainerId {
    pub fn new(attempt: ApplicationAttemptId, seq: u64) -> Self {
        ContainerId { attempt, seq }
    }
    pub fn app(&self) -> ApplicationId {
        self.attempt.app
    }
    /// `ContainerId.CONTAINER_ID_BITMASK`'s width: the epoch lives above it.
    pub const EPOCH_SHIFT: u32 = 40;
    /// The RM epoch the container was allocated in (0 before any recovery).
    pub fn epoch(&self) -> u64 {
        self.seq >> Self::EPOCH_SHIFT
    }
    /// The per-attempt sequence number without the epoch.
    pub fn sequence(&self) -> u64 {
        self.seq & ((1u64 << Self::EPOCH_SHIFT) - 1)
    }
}

impl NodeId {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        NodeId { host: host.into(), port }
    }
    pub fn from_addr(a: engine::Addr) -> Self {
        NodeId { host: a.ip().to_string(), port: a.port() }
    }
    /// The NodeManager's RPC address, when the host is an IPv4 literal (always, here).
    pub fn addr(&self) -> Option<engine::Addr> {
        Some(engine::Addr::new(self.host.parse().ok()?, self.port))
    }
}

impl fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "application_{}_{:04}", self.cluster_timestamp, self.id)
    }
}

impl fmt::Display for ApplicationAttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "appattempt_{}_{:04}_{:06}", self.app.cluster_timestamp, self.app.id, self.attempt)
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.attempt;
        // ContainerId.toString: the epoch, when non-zero, as `e` and at least two digits.
        if self.epoch() > 0 {
            write!(f, "container_e{:02}_", self.epoch())?;
        } else {
            f.write_str("container_")?;
        }
        write!(f, "{}_{:04}_{:02}_{:06}", a.app.cluster_timestamp, a.app.id, a.attempt, self.sequence())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

fn num<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for ApplicationId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("Invalid ApplicationId: {s}");
        let rest = s.strip_prefix("application_").ok_or_else(bad)?;
        let (ts, id) = rest.split_once('_').ok_or_else(bad)?;
        Ok(ApplicationId { cluster_timestamp: num(ts).ok_or_else(bad)?, id: num(id).ok_or_else(bad)? })
    }
}

impl FromStr for ApplicationAttemptId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("Invalid AppAttemptId: {s}");
        let rest = s.strip_prefix("appattempt_").ok_or_else(bad)?;
        let p: Vec<&str> = rest.split('_').collect();
        if p.len() != 3 {
            return Err(bad());
        }
        Ok(ApplicationAttemptId {
            app: ApplicationId { cluster_timestamp: num(p[0]).ok_or_else(bad)?, id: num(p[1]).ok_or_else(bad)? },
            attempt: num(p[2]).ok_or_else(bad)?,
        })
    }
}

impl FromStr for ContainerId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("Invalid ContainerId: {s}");
        let rest = s.strip_prefix("container_").ok_or_else(bad)?;
        // container_e<epoch>_... carries the RM epoch of a recovered ResourceManager.
        let (epoch, rest) = match rest.strip_prefix('e') {
            Some(r) => {
                let (e, r) = r.split_once('_').ok_or_else(bad)?;
                (num::<u64>(e).filter(|e| *e < (1 << (64 - Self::EPOCH_SHIFT))).ok_or_else(bad)?, r)
            }
            None => (0, rest),
        };
        let p: Vec<&str> = rest.split('_').collect();
        if p.len() != 4 {
            return Err(bad());
        }
        Ok(ContainerId {
            attempt: ApplicationAttemptId {
                app: ApplicationId { cluster_timestamp: num(p[0]).ok_or_else(bad)?, id: num(p[1]).ok_or_else(bad)? },
                attempt: num(p[2]).ok_or_else(bad)?,
            },
            seq: num::<u64>(p[3]).filter(|s| *s < (1 << Self::EPOCH_SHIFT)).ok_or_else(bad)? | (epoch << Self::EPOCH_SHIFT),
        })
    }
}

impl FromStr for NodeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("Invalid NodeId [{s}]. Expected host:port");
        let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
        if h.is_empty() {
            return Err(bad());
        }
        Ok(NodeId { host: h.to_string(), port: num(p).ok_or_else(bad)? })
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(ApplicationId);
string_serde!(ApplicationAttemptId);
string_serde!(ContainerId);
string_serde!(NodeId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_yarn() {
        let app = ApplicationId::new(1326815542473, 1);
        let att = ApplicationAttemptId::new(app, 1);
        let c = ContainerId::new(att, 1);
        assert_eq!(app.to_string(), "application_1326815542473_0001");
        assert_eq!(att.to_string(), "appattempt_1326815542473_0001_000001");
        assert_eq!(c.to_string(), "container_1326815542473_0001_01_000001");
        assert_eq!(ApplicationId::new(1, 12345).to_string(), "application_1_12345");
    }

    #[test]
    fn parse_round_trips_and_rejects_junk() {
        for s in ["application_1326815542473_0001", "application_1_12345"] {
            assert_eq!(s.parse::<ApplicationId>().unwrap().to_string(), s);
        }
        let c: ContainerId = "container_e17_1326815542473_0001_01_000002".parse().unwrap();
        assert_eq!(c.to_string(), "container_e17_1326815542473_0001_01_000002");
        assert_eq!((c.epoch(), c.sequence()), (17, 2));
        assert_eq!(c.seq, (17 << 40) | 2);
        assert_eq!("container_1_0001_01_000002".parse::<ContainerId>().unwrap().epoch(), 0);
        assert_eq!("appattempt_1_0002_000003".parse::<ApplicationAttemptId>().unwrap().attempt, 3);
        for bad in ["application_x_1", "app_1_1", "application_1", "application_1_-1", ""] {
            assert_eq!(bad.parse::<ApplicationId>().unwrap_err(), format!("Invalid ApplicationId: {bad}"));
        }
        assert!("h:99999".parse::<NodeId>().is_err());
        assert_eq!("127.0.0.1:8041".parse::<NodeId>().unwrap().port, 8041);
    }
}
