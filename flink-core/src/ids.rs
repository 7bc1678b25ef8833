//! Flink's ids: 32 lowercase hex digits (JobID, JobVertexID, ExecutionAttemptID,
//! AllocationID), drawn from the node's seeded RNG so simulated runs replay.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! hex_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(pub u128);

        impl $name {
            pub fn random(cx: &mut engine::Cx) -> Self {
                use rand::Rng as _;
                $name(cx.rng().random())
            }
            /// A fixed id from a seed-like number (tests, derived ids).
            pub fn from_u128(v: u128) -> Self {
                $name(v)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("Cannot parse {} '{}': it must be 32 hexadecimal characters.", $what, s));
                }
                u128::from_str_radix(s, 16).map($name).map_err(|e| e.to_string())
            }
        }

        // JSON and the REST API get the 32 hex digits; a serializer that is not
        // human-readable (the sim's trace hash, which hashes every delivered message) gets
        // the number itself: the whole id, without formatting it to text only to hash the text.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_u128(self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if !d.is_human_readable() {
                    return u128::deserialize(d).map($name);
                }
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A job.
    JobId, "JobID"
);
hex_id!(
    /// A vertex of a JobGraph (an operator chain).
    JobVertexId, "JobVertexID"
);
hex_id!(
    /// One execution attempt of one subtask.
    ExecutionAttemptId, "ExecutionAttemptID"
);
hex_id!(
    /// A slot allocation (JobMaster <- ResourceManager <- TaskExecutor).
    AllocationId, "AllocationID"
);

hex_id!(
    /// The fencing token of a JobMaster (Flink's `JobMasterId`): the leader session id of the
    /// job's leader with HA (one election per JobManager process, so every JobMaster of a
    /// leader shares it), a random id per JobMaster without. Every JobMaster -> TaskExecutor
    /// message carries it and every TaskExecutor -> JobMaster message carries the id the
    /// TaskExecutor knows; a mismatch is dropped on either side.
    JobMasterId, "JobMasterId"
);
hex_id!(
    /// The fencing token of the ResourceManager (Flink's `ResourceManagerId`): the leader
    /// session id with HA, a random id per start without.
    ResourceManagerId, "ResourceManagerId"
);

/// A leader session id as published in ZooKeeper (a UUID, `8-4-4-4-12` hex digits) as the
/// 128 bits Flink's `JobMasterId.fromUuidOrNull` / `ResourceManagerId.fromUuid` wrap.
pub fn leader_session_bits(session_id: &str) -> Option<u128> {
    let hex: String = session_id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

impl JobMasterId {
    pub fn from_leader_session_id(session_id: &str) -> Option<JobMasterId> {
        leader_session_bits(session_id).map(JobMasterId)
    }
}

impl ResourceManagerId {
    pub fn from_leader_session_id(session_id: &str) -> Option<ResourceManagerId> {
        leader_session_bits(session_id).map(ResourceManagerId)
    }
}

/// A TaskExecutor's id. On YARN it is the container id (`container_..._000002`).
pub type ResourceId = String;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_parse_back() {
        let j = JobId(0xabc);
        assert_eq!(j.to_string(), "00000000000000000000000000000abc");
        assert_eq!(j.to_string().parse::<JobId>().unwrap(), j);
        assert!("xyz".parse::<JobId>().unwrap_err().contains("32 hexadecimal"));
    }

    /// JSON (REST, the wire) keeps the hex text; the sim's trace hash gets the number, and
    /// still tells every bit of it apart.
    #[test]
    fn ids_hash_as_numbers_and_print_as_hex() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Carrier(ExecutionAttemptId);
        impl engine::Wire for Carrier {
            const FAMILY: &'static str = "ids-test";
            fn kind(&self) -> &'static str {
                "carrier"
            }
        }
        let digest = |v: u128| engine::trace::message_digest(&engine::Msg::new(Carrier(ExecutionAttemptId(v))));
        assert_eq!(serde_json::to_string(&Carrier(ExecutionAttemptId(0xab))).unwrap(), "\"000000000000000000000000000000ab\"");
        let back: Carrier = serde_json::from_str("\"000000000000000000000000000000ab\"").unwrap();
        assert_eq!(back.0, ExecutionAttemptId(0xab));
        let base = digest(0xab);
        assert_eq!(base, digest(0xab));
        for bit in [0, 1, 63, 64, 100, 127] {
            assert_ne!(digest(0xab ^ (1u128 << bit)), base, "bit {bit}");
        }
    }

    #[test]
    fn fencing_tokens_wrap_the_leader_session_uuid() {
        let id = "9f3175f0-9807-6291-f809-5be45eee44b3";
        assert_eq!(ResourceManagerId::from_leader_session_id(id).unwrap().to_string(), "9f3175f098076291f8095be45eee44b3");
        assert_eq!(JobMasterId::from_leader_session_id(id).unwrap().0, ResourceManagerId::from_leader_session_id(id).unwrap().0);
        assert_eq!(JobMasterId::from_leader_session_id("not-a-uuid"), None);
    }
}
