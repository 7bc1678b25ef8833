//! Hadoop common's protobuf messages (package `hadoop.common`: RpcHeader.proto,
//! IpcConnectionContext.proto, ProtobufRpcEngine2.proto, Security.proto) as prost derives,
//! written from the field tables in `../shared/reference/hadoop-rpc.md` §1–§3.
//!
//! Fields Hadoop marks `required` are prost `required` (always encoded, as Java does) where
//! we only ever write them; on messages the server must validate (the request header) they
//! are `optional` so a missing field is seen and refused instead of read as a default.
//! Unknown fields (trace info, caller context, state ids…) are skipped by prost.

use std::fmt;

/// `RpcKindProto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RpcKindProto {
    RpcBuiltin = 0,
    RpcWritable = 1,
    RpcProtocolBuffer = 2,
}

/// `RpcRequestHeaderProto.OperationProto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OperationProto {
    RpcFinalPacket = 0,
    RpcContinuationPacket = 1,
    RpcCloseConnection = 2,
}

impl RpcKindProto {
    /// The Java enum constant's name.
    pub fn as_str_name(self) -> &'static str {
        match self {
            RpcKindProto::RpcBuiltin => "RPC_BUILTIN",
            RpcKindProto::RpcWritable => "RPC_WRITABLE",
            RpcKindProto::RpcProtocolBuffer => "RPC_PROTOCOL_BUFFER",
        }
    }
}

impl OperationProto {
    /// The Java enum constant's name.
    pub fn as_str_name(self) -> &'static str {
        match self {
            OperationProto::RpcFinalPacket => "RPC_FINAL_PACKET",
            OperationProto::RpcContinuationPacket => "RPC_CONTINUATION_PACKET",
            OperationProto::RpcCloseConnection => "RPC_CLOSE_CONNECTION",
        }
    }
}

/// `RpcRequestHeaderProto` (client → server, before every packet's payload).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcRequestHeaderProto {
    #[prost(enumeration = "RpcKindProto", optional, tag = "1")]
    pub rpc_kind: Option<i32>,
    #[prost(enumeration = "OperationProto", optional, tag = "2")]
    pub rpc_op: Option<i32>,
    /// Required by Hadoop; zigzag (`sint32`) on requests.
    #[prost(sint32, optional, tag = "3")]
    pub call_id: Option<i32>,
    /// Required by Hadoop; 16 bytes per Java `Client`, empty on SASL packets.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub client_id: Option<Vec<u8>>,
    #[prost(sint32, optional, tag = "5", default = "-1")]
    pub retry_count: Option<i32>,
}

/// `RpcResponseHeaderProto.RpcStatusProto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RpcStatusProto {
    /// The call succeeded; a delimited response message follows.
    Success = 0,
    /// The call failed; the connection stays open.
    Error = 1,
    /// The connection failed; the server closes it.
    Fatal = 2,
}

/// `RpcResponseHeaderProto.RpcErrorCodeProto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RpcErrorCodeProto {
    ErrorApplication = 1,
    ErrorNoSuchMethod = 2,
    ErrorNoSuchProtocol = 3,
    ErrorRpcServer = 4,
    ErrorSerializingResponse = 5,
    ErrorRpcVersionMismatch = 6,
    FatalUnknown = 10,
    FatalUnsupportedSerialization = 11,
    FatalInvalidRpcHeader = 12,
    FatalDeserializingRequest = 13,
    FatalVersionMismatch = 14,
    FatalUnauthorized = 15,
}

/// `RpcResponseHeaderProto` (server → client).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcResponseHeaderProto {
    /// `uint32` on responses: negative ids travel as 32-bit two's complement.
    #[prost(uint32, required, tag = "1")]
    pub call_id: u32,
    #[prost(enumeration = "RpcStatusProto", required, tag = "2")]
    pub status: i32,
    #[prost(uint32, optional, tag = "3")]
    pub server_ipc_version_num: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub exception_class_name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub error_msg: Option<String>,
    #[prost(enumeration = "RpcErrorCodeProto", optional, tag = "6")]
    pub error_detail: Option<i32>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub client_id: Option<Vec<u8>>,
    #[prost(sint32, optional, tag = "8", default = "-1")]
    pub retry_count: Option<i32>,
}

/// `RpcSaslProto.SaslState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SaslState {
    Success = 0,
    Negotiate = 1,
    Initiate = 2,
    Challenge = 3,
    Response = 4,
    Wrap = 5,
}

impl SaslState {
    /// The Java enum constant's name.
    pub fn as_str_name(self) -> &'static str {
        match self {
            SaslState::Success => "SUCCESS",
            SaslState::Negotiate => "NEGOTIATE",
            SaslState::Initiate => "INITIATE",
            SaslState::Challenge => "CHALLENGE",
            SaslState::Response => "RESPONSE",
            SaslState::Wrap => "WRAP",
        }
    }
}

/// `RpcSaslProto.SaslAuth`: one offered (server) or chosen (client) method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SaslAuth {
    /// `SIMPLE`, `TOKEN`, `KERBEROS`.
    #[prost(string, required, tag = "1")]
    pub method: String,
    /// `""` for SIMPLE, `DIGEST-MD5` for TOKEN.
    #[prost(string, required, tag = "2")]
    pub mechanism: String,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub server_id: Option<String>,
    /// The server's pre-computed first challenge.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub challenge: Option<Vec<u8>>,
}

/// `RpcSaslProto` (call id −33, both directions).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcSaslProto {
    #[prost(uint32, optional, tag = "1")]
    pub version: Option<u32>,
    #[prost(enumeration = "SaslState", required, tag = "2")]
    pub state: i32,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub token: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "4")]
    pub auths: Vec<SaslAuth>,
}

/// `UserInformationProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserInformationProto {
    #[prost(string, optional, tag = "1")]
    pub effective_user: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub real_user: Option<String>,
}

/// `IpcConnectionContextProto` (call id −3, once per connection).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcConnectionContextProto {
    #[prost(message, optional, tag = "2")]
    pub user_info: Option<UserInformationProto>,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
}

/// `RequestHeaderProto` (ProtobufRpcEngine2.proto): which method a call invokes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestHeaderProto {
    #[prost(string, required, tag = "1")]
    pub method_name: String,
    #[prost(string, required, tag = "2")]
    pub declaring_class_protocol_name: String,
    #[prost(uint64, required, tag = "3")]
    pub client_protocol_version: u64,
}

/// `TokenProto` (Security.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenProto {
    #[prost(bytes = "vec", required, tag = "1")]
    pub identifier: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "2")]
    pub password: Vec<u8>,
    #[prost(string, required, tag = "3")]
    pub kind: String,
    #[prost(string, required, tag = "4")]
    pub service: String,
}

/// `CredentialsKVProto` (Security.proto): a token or a secret under an alias.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsKvProto {
    #[prost(string, required, tag = "1")]
    pub alias: String,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub secret: Option<Vec<u8>>,
}

/// `CredentialsProto` (Security.proto): the body of a PROTOBUF-format token storage file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsProto {
    #[prost(message, repeated, tag = "1")]
    pub tokens: Vec<CredentialsKvProto>,
    #[prost(message, repeated, tag = "2")]
    pub secrets: Vec<CredentialsKvProto>,
}

/// A delimited message that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DelimitedError {
    /// The varint prefix is cut off or longer than 5 bytes / 32 bits.
    BadLength,
    /// The prefix names more bytes than are left.
    Truncated { wanted: u64, left: usize },
    /// The bytes are not the message.
    Decode(String),
}

impl fmt::Display for DelimitedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelimitedError::BadLength => write!(f, "malformed varint length prefix"),
            DelimitedError::Truncated { wanted, left } => {
                write!(f, "delimited message of {wanted} bytes but only {left} left")
            }
            DelimitedError::Decode(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for DelimitedError {}

/// Reads a protobuf varint of at most 32 bits (a delimited length) from the front of `buf`
/// and advances it. Java's `CodedInputStream.readRawVarint32` accepts up to 10 bytes but only
/// keeps 32 bits; a length beyond `i32::MAX` is refused by Java anyway, so 5 bytes suffice.
pub fn read_varint32(buf: &mut &[u8]) -> Result<u32, DelimitedError> {
    let mut value: u64 = 0;
    for i in 0..5 {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(DelimitedError::BadLength);
        };
        *buf = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).map_err(|_| DelimitedError::BadLength);
        }
    }
    Err(DelimitedError::BadLength)
}

/// Splits a delimited record (varint length + bytes) off the front of `buf`, never reading
/// or allocating beyond what `buf` holds.
pub fn read_delimited_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DelimitedError> {
    let len = read_varint32(buf)?;
    let left = buf.len();
    if u64::from(len) > left as u64 {
        return Err(DelimitedError::Truncated { wanted: u64::from(len), left });
    }
    let (body, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(body)
}

/// Reads a delimited message off the front of `buf` and advances it.
pub fn read_delimited<M: prost::Message + Default>(buf: &mut &[u8]) -> Result<M, DelimitedError> {
    let body = read_delimited_bytes(buf)?;
    M::decode(body).map_err(|e| DelimitedError::Decode(e.to_string()))
}

/// Appends `msg` as a delimited record.
pub fn write_delimited<M: prost::Message>(msg: &M, out: &mut Vec<u8>) {
    // Encoding into a Vec cannot run out of space.
    msg.encode_length_delimited(out).expect("a Vec grows as needed");
}

/// The delimited size of `msg` (varint prefix included).
pub fn delimited_len<M: prost::Message>(msg: &M) -> usize {
    let len = msg.encoded_len();
    prost::length_delimiter_len(len) + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn request_call_id_is_zigzag_and_response_call_id_is_twos_complement() {
        let h =
            RpcRequestHeaderProto { rpc_kind: Some(2), rpc_op: Some(0), call_id: Some(-3), client_id: Some(vec![]), retry_count: Some(-1) };
        assert_eq!(h.encode_to_vec(), [0x08, 0x02, 0x10, 0x00, 0x18, 0x05, 0x22, 0x00, 0x28, 0x01]);
        let r = RpcResponseHeaderProto {
            call_id: -33i32 as u32,
            status: RpcStatusProto::Success as i32,
            server_ipc_version_num: Some(9),
            ..Default::default()
        };
        let bytes = r.encode_to_vec();
        assert_eq!(&bytes[..6], [0x08, 0xdf, 0xff, 0xff, 0xff, 0x0f]);
        // SUCCESS (0) is still written: the field is required.
        assert_eq!(&bytes[6..], [0x10, 0x00, 0x18, 0x09]);
    }

    #[test]
    fn delimited_reads_are_bounded() {
        let mut out = Vec::new();
        write_delimited(&UserInformationProto { effective_user: Some("root".into()), real_user: None }, &mut out);
        assert_eq!(out, [0x06, 0x0a, 0x04, b'r', b'o', b'o', b't']);
        let mut cut: &[u8] = &out[..5];
        assert_eq!(read_delimited::<UserInformationProto>(&mut cut), Err(DelimitedError::Truncated { wanted: 6, left: 4 }));
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(read_delimited_bytes(&mut huge).is_err());
        let mut endless: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(read_varint32(&mut endless), Err(DelimitedError::BadLength));
        let mut ok: &[u8] = &out;
        let u: UserInformationProto = read_delimited(&mut ok).unwrap();
        assert_eq!(u.effective_user.as_deref(), Some("root"));
        assert!(ok.is_empty());
    }
}
