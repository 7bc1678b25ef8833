//! YARN's identifiers, formatted and parsed exactly as YARN does.

use std::cmp::Ordering;
use std::fmt;
use std::net::Ipv4Addr;
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
///
/// Ordered as YARN orders the strings (host text, then port).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId {
    pub host: Host,
    pub port: u16,
}

/// The host part of a [`NodeId`]. NodeManagers register with their IPv4 address, which is
/// kept as an address rather than text: every heartbeat carries the NodeId, and a copy of
/// four bytes costs nothing where a `String` costs an allocation, a copy and a free per
/// heartbeat (and the RM's lookup a comparison of cold strings). Any other host name is kept
/// as text. A canonical IPv4 literal is always `Ip`, so equality is equality of the text.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Host {
    Ip(Ipv4Addr),
    Name(Box<str>),
}

impl Host {
    /// The host text into `buf` (an IPv4 literal is at most 15 bytes).
    fn text<'a>(&'a self, buf: &'a mut IdBuf) -> &'a [u8] {
        match self {
            Host::Ip(ip) => {
                buf.ip(*ip);
                buf.as_bytes()
            }
            Host::Name(n) => n.as_bytes(),
        }
    }
}

impl From<&str> for Host {
    fn from(s: &str) -> Host {
        match s.parse::<Ipv4Addr>() {
            // Only the canonical form: "010.0.0.1" stays text, as it would compare as text.
            Ok(ip) if IdBuf::of_ip(ip).as_bytes() == s.as_bytes() => Host::Ip(ip),
            _ => Host::Name(s.into()),
        }
    }
}

impl From<String> for Host {
    fn from(s: String) -> Host {
        Host::from(s.as_str())
    }
}

impl From<Ipv4Addr> for Host {
    fn from(ip: Ipv4Addr) -> Host {
        Host::Ip(ip)
    }
}

impl PartialOrd for Host {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By text, as the `String` it stands for would order.
impl Ord for Host {
    fn cmp(&self, other: &Self) -> Ordering {
        if let (Host::Ip(a), Host::Ip(b)) = (self, other) {
            // Dotted decimals part at the first octet that differs, and there the shorter
            // decimal that is a prefix of the other sorts first: what follows it is '.' or the
            // end, both below any digit. So octets compare as decimal text, without building
            // the strings (the RM and AMs keep nodes in ordered maps).
            for (x, y) in a.octets().into_iter().zip(b.octets()) {
                if x != y {
                    let (mut dx, mut dy) = (IdBuf::new(), IdBuf::new());
                    dx.num(x as u64, 1);
                    dy.num(y as u64, 1);
                    return dx.as_bytes().cmp(dy.as_bytes());
                }
            }
            return Ordering::Equal;
        }
        let (mut a, mut b) = (IdBuf::new(), IdBuf::new());
        self.text(&mut a).cmp(other.text(&mut b))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => f.write_str(IdBuf::of_ip(*ip).as_str()),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// Formats ids without `core::fmt`'s machinery (width, padding and one call per piece):
/// ids are formatted into every trace hash and JSON message, millions of times a run.
struct IdBuf {
    b: [u8; 96],
    n: usize,
}

impl IdBuf {
    fn new() -> IdBuf {
        IdBuf { b: [0; 96], n: 0 }
    }
    fn of_ip(ip: Ipv4Addr) -> IdBuf {
        let mut b = IdBuf::new();
        b.ip(ip);
        b
    }
    fn push(&mut self, s: &[u8]) {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
    /// `v` in decimal, zero-padded to at least `width` digits (as `{:0width$}`).
    fn num(&mut self, mut v: u64, width: usize) {
        // Two digits per division, from a table (as itoa does).
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let mut d = [b'0'; 20];
        let mut i = d.len();
        while v >= 100 {
            let r = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            d[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
        }
        if v >= 10 {
            let r = v as usize * 2;
            i -= 2;
            d[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
        } else {
            i -= 1;
            d[i] = b'0' + v as u8;
        }
        let start = i.min(d.len() - width.min(d.len()));
        self.push(&d[start..]);
    }
    fn ip(&mut self, ip: Ipv4Addr) {
        for (i, o) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b".");
            }
            self.num(o as u64, 1);
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
    fn as_str(&self) -> &str {
        // Only ASCII digits, letters and punctuation are pushed.
        std::str::from_utf8(self.as_bytes()).expect("ASCII")
    }
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
    pub fn new(host: impl Into<Host>, port: u16) -> Self {
        NodeId { host: host.into(), port }
    }
    pub fn from_addr(a: engine::Addr) -> Self {
        NodeId { host: Host::Ip(*a.ip()), port: a.port() }
    }
    /// The NodeManager's RPC address, when the host is an IPv4 literal (always, here).
    pub fn addr(&self) -> Option<engine::Addr> {
        match &self.host {
            Host::Ip(ip) => Some(engine::Addr::new(*ip, self.port)),
            Host::Name(_) => None,
        }
    }
}

impl ApplicationId {
    fn buf(&self) -> IdBuf {
        // application_<ts>_<id, 4+ digits>
        let mut b = IdBuf::new();
        b.push(b"application_");
        b.num(self.cluster_timestamp, 1);
        b.push(b"_");
        b.num(self.id as u64, 4);
        b
    }
}

impl ApplicationAttemptId {
    fn buf(&self) -> IdBuf {
        // appattempt_<ts>_<app, 4+ digits>_<attempt, 6+ digits>
        let mut b = IdBuf::new();
        b.push(b"appattempt_");
        b.num(self.app.cluster_timestamp, 1);
        b.push(b"_");
        b.num(self.app.id as u64, 4);
        b.push(b"_");
        b.num(self.attempt as u64, 6);
        b
    }
}

impl ContainerId {
    fn buf(&self) -> IdBuf {
        let a = &self.attempt;
        let mut b = IdBuf::new();
        // ContainerId.toString: the epoch, when non-zero, as `e` and at least two digits.
        if self.epoch() > 0 {
            b.push(b"container_e");
            b.num(self.epoch(), 2);
            b.push(b"_");
        } else {
            b.push(b"container_");
        }
        // <ts>_<app, 4+ digits>_<attempt, 2+ digits>_<container, 6+ digits>
        b.num(a.app.cluster_timestamp, 1);
        b.push(b"_");
        b.num(a.app.id as u64, 4);
        b.push(b"_");
        b.num(a.attempt as u64, 2);
        b.push(b"_");
        b.num(self.sequence(), 6);
        b
    }
}

macro_rules! display_by_buf {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.buf().as_str())
            }
        }
    )*};
}
display_by_buf!(ApplicationId, ApplicationAttemptId, ContainerId);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = IdBuf::new();
        match &self.host {
            Host::Ip(ip) => b.ip(*ip),
            // A name may be long: written as it is.
            Host::Name(n) => f.write_str(n)?,
        }
        b.push(b":");
        b.num(self.port as u64, 1);
        f.write_str(b.as_str())
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
        Ok(NodeId { host: Host::from(h), port: num(p).ok_or_else(bad)? })
    }
}

/// Ids travel as their YARN strings. Serialized with `serialize_str` from a stack buffer
/// rather than `collect_str`: the same JSON, but no `core::fmt` in between.
///
/// A serializer that is not human-readable gets the id's numbers instead of its text, and a
/// deserializer that is not human-readable reads them back. The only such serializer here is
/// the sim's trace hash (`engine::trace`), which hashes every delivered message: formatting
/// each id of each heartbeat's container statuses to text, only to hash the text, was a
/// tenth of a scheduler-bound run. The numbers are the whole id, so the hash still covers it.
macro_rules! string_serde {
    ($t:ty, $compact:ty, $ser:expr, $to:expr, $from:expr) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    $ser(self, s)
                } else {
                    let c: $compact = $to(self);
                    c.serialize(s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if !d.is_human_readable() {
                    let c = <$compact>::deserialize(d)?;
                    return $from(c).map_err(serde::de::Error::custom);
                }
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(
    ApplicationId,
    (u64, u32),
    |id: &ApplicationId, s: S| s.serialize_str(id.buf().as_str()),
    |id: &ApplicationId| (id.cluster_timestamp, id.id),
    |(ts, n): (u64, u32)| Ok::<_, String>(ApplicationId::new(ts, n))
);
string_serde!(
    ApplicationAttemptId,
    (u64, u32, u32),
    |id: &ApplicationAttemptId, s: S| s.serialize_str(id.buf().as_str()),
    |id: &ApplicationAttemptId| (id.app.cluster_timestamp, id.app.id, id.attempt),
    |(ts, n, a): (u64, u32, u32)| Ok::<_, String>(ApplicationAttemptId::new(ApplicationId::new(ts, n), a))
);
string_serde!(
    ContainerId,
    (u64, u32, u32, u64),
    |id: &ContainerId, s: S| s.serialize_str(id.buf().as_str()),
    |id: &ContainerId| (id.attempt.app.cluster_timestamp, id.attempt.app.id, id.attempt.attempt, id.seq),
    |(ts, n, a, seq): (u64, u32, u32, u64)| Ok::<_, String>(ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(ts, n), a), seq))
);
// Compact: (IPv4 host as a number, "", port) or (0, host name, port).
string_serde!(
    NodeId,
    (u32, std::borrow::Cow<'_, str>, u16),
    |id: &NodeId, s: S| match &id.host {
        Host::Ip(ip) => {
            let mut b = IdBuf::new();
            b.ip(*ip);
            b.push(b":");
            b.num(id.port as u64, 1);
            s.serialize_str(b.as_str())
        }
        // A name may be longer than the buffer.
        Host::Name(_) => s.collect_str(id),
    },
    node_id_compact,
    node_id_from_compact
);

fn node_id_compact(id: &NodeId) -> (u32, std::borrow::Cow<'_, str>, u16) {
    match &id.host {
        Host::Ip(ip) => (u32::from(*ip), std::borrow::Cow::Borrowed(""), id.port),
        Host::Name(n) => (0, std::borrow::Cow::Borrowed(&**n), id.port),
    }
}

fn node_id_from_compact((ip, name, port): (u32, std::borrow::Cow<'_, str>, u16)) -> Result<NodeId, String> {
    let host = if name.is_empty() { Host::Ip(Ipv4Addr::from(ip)) } else { Host::from(&*name) };
    Ok(NodeId { host, port })
}

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

    /// The hand-rolled formatting against `format!` with YARN's patterns.
    #[test]
    fn ids_format_as_core_fmt_would() {
        let values = [0u64, 1, 7, 9, 10, 99, 100, 999, 1000, 9999, 10000, 123456, 999999, 1000000, 1326815542473, u32::MAX as u64];
        for &ts in &values {
            for &n in &values {
                let (id, attempt) = (n as u32, (n % 1000) as u32 + (n as u32 / 3));
                let app = ApplicationId::new(ts, id);
                assert_eq!(app.to_string(), format!("application_{ts}_{id:04}"));
                let att = ApplicationAttemptId::new(app, attempt);
                assert_eq!(att.to_string(), format!("appattempt_{ts}_{id:04}_{attempt:06}"));
                for epoch in [0u64, 1, 17, 123] {
                    let seq = n & ((1 << ContainerId::EPOCH_SHIFT) - 1);
                    let c = ContainerId::new(att, seq | (epoch << ContainerId::EPOCH_SHIFT));
                    let e = if epoch > 0 { format!("e{epoch:02}_") } else { String::new() };
                    assert_eq!(c.to_string(), format!("container_{e}{ts}_{id:04}_{attempt:02}_{seq:06}"));
                    assert_eq!(c.to_string().parse::<ContainerId>().unwrap(), c);
                }
            }
        }
        for ip in [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(10, 200, 3, 255), Ipv4Addr::new(0, 0, 0, 0)] {
            for port in [0u16, 8041, 65535] {
                let n = NodeId::new(ip, port);
                assert_eq!(n.to_string(), format!("{ip}:{port}"));
                assert_eq!(n.to_string().parse::<NodeId>().unwrap(), n);
            }
        }
    }

    /// Hosts compare as the text they stand for, addresses or names, so nodes list in the
    /// order YARN's string ids give.
    #[test]
    fn node_ids_order_and_compare_as_text() {
        let texts =
            ["127.0.0.10:8041", "127.0.0.2:8041", "127.0.0.1:9", "127.0.0.1:10", "host-b:1", "host-a:2", "10.0.0.1:1", "010.0.0.1:1"];
        let mut ids: Vec<NodeId> = texts.iter().map(|t| t.parse().unwrap()).collect();
        let mut strings: Vec<(String, u16)> = ids.iter().map(|n| (n.host.to_string(), n.port)).collect();
        ids.sort();
        strings.sort();
        assert_eq!(ids.iter().map(|n| (n.host.to_string(), n.port)).collect::<Vec<_>>(), strings);
        // Every pair of a spread of addresses, against the order of their text.
        let octets = [0u8, 1, 2, 9, 10, 11, 19, 20, 99, 100, 101, 199, 200, 255];
        let ips: Vec<Ipv4Addr> = octets.iter().flat_map(|&x| octets.iter().map(move |&y| Ipv4Addr::new(10, x, 7, y))).collect();
        for a in &ips {
            for b in &ips {
                assert_eq!(Host::Ip(*a).cmp(&Host::Ip(*b)), a.to_string().cmp(&b.to_string()), "{a} vs {b}");
            }
        }
        assert!(matches!(NodeId::new("127.0.0.1", 1).host, Host::Ip(_)));
        assert!(matches!(NodeId::new("010.0.0.1", 1).host, Host::Name(_)), "a non-canonical literal stays text");
        assert_eq!(NodeId::new("127.0.0.1", 1), NodeId::from_addr(engine::Addr::new(Ipv4Addr::LOCALHOST, 1)));
        assert_eq!("010.0.0.1:1".parse::<NodeId>().unwrap().to_string(), "010.0.0.1:1");
        let long = format!("{}:8041", "h".repeat(300));
        assert_eq!(long.parse::<NodeId>().unwrap().to_string(), long);
    }

    /// Ids are JSON strings of their YARN form, both ways, whatever path serializes them.
    #[test]
    fn ids_serialize_as_their_strings() {
        let app = ApplicationId::new(1326815542473, 7);
        let att = ApplicationAttemptId::new(app, 2);
        let c = ContainerId::new(att, (3 << ContainerId::EPOCH_SHIFT) | 42);
        let json = |v: String| format!("\"{v}\"");
        assert_eq!(serde_json::to_string(&app).unwrap(), json(app.to_string()));
        assert_eq!(serde_json::to_string(&att).unwrap(), json(att.to_string()));
        assert_eq!(serde_json::to_string(&c).unwrap(), json(c.to_string()));
        assert_eq!(serde_json::from_str::<ContainerId>(&serde_json::to_string(&c).unwrap()).unwrap(), c);
        for n in [NodeId::new("127.0.0.9", 8041), NodeId::new("some-host.example", 1), NodeId::new("h".repeat(200), 2)] {
            let text = serde_json::to_string(&n).unwrap();
            assert_eq!(text, json(n.to_string()));
            assert_eq!(serde_json::from_str::<NodeId>(&text).unwrap(), n);
        }
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
