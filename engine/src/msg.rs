//! Messages between nodes.
//!
//! Each protocol family (YARN's, Flink's, ...) is one serde enum implementing [`Wire`]. In the
//! sim a [`Msg`] travels as a box and is never serialized; in live it is written with its
//! family name in the family's own encoding ([`Wire::encode`]: JSON unless the family brings a
//! binary one, as Flink's data plane does), and the receiving process decodes it with the
//! [`Codecs`] it registered.
//! Families stay in the crates that own them: the engine knows none of them.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::trace::{Fnv64, HashSer};

/// A protocol family: one message enum, one name on the wire.
pub trait Wire: Any + Send + fmt::Debug + Serialize + DeserializeOwned + 'static {
    const FAMILY: &'static str;
    /// A short name for the message kind, used in traces (e.g. the enum variant).
    fn kind(&self) -> &'static str;
    /// Appends the message's wire form to `out`. JSON by default; a family whose messages are
    /// bulk data (records) brings a compact binary layout instead.
    fn encode(&self, out: &mut Vec<u8>) {
        // Straight to JSON text: a serde_json::Value tree per message cost more than the send.
        serde_json::to_writer(out, self).expect("wire messages serialize")
    }
    /// Reads a message written by [`Wire::encode`]. Must reject any other input with an error
    /// (never panic): it comes off the network.
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

trait Payload: Send + fmt::Debug {
    fn family(&self) -> &'static str;
    fn kind(&self) -> &'static str;
    fn encode(&self, out: &mut Vec<u8>);
    fn hash_contents(&self, h: &mut Fnv64);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Wire> Payload for T {
    fn family(&self) -> &'static str {
        T::FAMILY
    }
    fn kind(&self) -> &'static str {
        Wire::kind(self)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Wire::encode(self, out)
    }
    fn hash_contents(&self, h: &mut Fnv64) {
        self.serialize(&mut HashSer(h)).expect("wire messages serialize");
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A message of any family.
#[derive(Debug)]
pub struct Msg(Box<dyn Payload>);

impl Msg {
    pub fn new<T: Wire>(m: T) -> Msg {
        Msg(Box::new(m))
    }
    pub fn family(&self) -> &'static str {
        self.0.family()
    }
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }
    /// Where the message's contents are, for the sim to prefetch them.
    pub(crate) fn data_ptr(&self) -> *const u8 {
        &*self.0 as *const dyn Payload as *const u8
    }
    /// Takes the message out as family `T`, or gives it back unchanged.
    pub fn downcast<T: Wire>(self) -> Result<T, Msg> {
        if self.0.family() == T::FAMILY {
            Ok(*self.0.into_any().downcast::<T>().expect("family names are unique"))
        } else {
            Err(self)
        }
    }
    /// The message as family `T`, borrowed, if it is one (e.g. for a node's prefetch hint).
    pub fn peek<T: Wire>(&self) -> Option<&T> {
        if self.0.family() == T::FAMILY {
            self.0.as_any().downcast_ref::<T>()
        } else {
            None
        }
    }
    /// The message's wire form (what the live driver puts in a frame).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.0.encode(&mut out);
        out
    }
    /// Feeds the message's contents into `h` (the sim's trace hashes every message this
    /// way, without formatting it).
    pub fn hash_contents(&self, h: &mut Fnv64) {
        self.0.hash_contents(h)
    }
}

type Decoder = fn(&[u8]) -> Result<Msg, String>;

/// The families a live process accepts, by wire name.
#[derive(Default, Clone)]
pub struct Codecs {
    decoders: BTreeMap<&'static str, Decoder>,
}

impl Codecs {
    pub fn new() -> Codecs {
        Codecs::default()
    }
    pub fn with<T: Wire>(mut self) -> Codecs {
        self.decoders.insert(T::FAMILY, |b| T::decode(b).map(Msg::new));
        self
    }
    pub fn decode(&self, family: &str, body: &[u8]) -> Result<Msg, String> {
        match self.decoders.get(family) {
            Some(d) => d(body),
            None => Err(format!("unknown message family '{family}'")),
        }
    }
}
