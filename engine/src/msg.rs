//! Messages between nodes.
//!
//! Each protocol family (YARN's, Flink's, ...) is one serde enum implementing [`Wire`]. In the
//! sim a [`Msg`] travels as a box and is never serialized; in live it is written as JSON with
//! its family name, and the receiving process decodes it with the [`Codecs`] it registered.
//! Families stay in the crates that own them: the engine knows none of them.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::trace::{Fnv64, HashSer};

/// A protocol family: one message enum, one name on the wire.
pub trait Wire: Any + Send + fmt::Debug + Serialize + DeserializeOwned + 'static {
    const FAMILY: &'static str;
    /// A short name for the message kind, used in traces (e.g. the enum variant).
    fn kind(&self) -> &'static str;
}

trait Payload: Send + fmt::Debug {
    fn family(&self) -> &'static str;
    fn kind(&self) -> &'static str;
    fn to_raw(&self) -> Box<RawValue>;
    fn hash_contents(&self, h: &mut Fnv64);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Wire> Payload for T {
    fn family(&self) -> &'static str {
        T::FAMILY
    }
    fn kind(&self) -> &'static str {
        Wire::kind(self)
    }
    fn to_raw(&self) -> Box<RawValue> {
        // Straight to JSON text: a serde_json::Value tree per message cost more than the send.
        serde_json::value::to_raw_value(self).expect("wire messages serialize")
    }
    fn hash_contents(&self, h: &mut Fnv64) {
        self.serialize(&mut HashSer(h)).expect("wire messages serialize");
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
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
    /// The message as JSON text (what the live driver puts on the wire).
    pub fn to_raw(&self) -> Box<RawValue> {
        self.0.to_raw()
    }
    /// Feeds the message's contents into `h` (the sim's trace hashes every message this
    /// way, without formatting it).
    pub fn hash_contents(&self, h: &mut Fnv64) {
        self.0.hash_contents(h)
    }
}

type Decoder = fn(&RawValue) -> Result<Msg, String>;

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
        self.decoders.insert(T::FAMILY, |v| serde_json::from_str::<T>(v.get()).map(Msg::new).map_err(|e| e.to_string()));
        self
    }
    pub fn decode(&self, family: &str, body: &RawValue) -> Result<Msg, String> {
        match self.decoders.get(family) {
            Some(d) => d(body),
            None => Err(format!("unknown message family '{family}'")),
        }
    }
}
