//! Hadoop tokens (`org.apache.hadoop.security.token.Token`), their passwords, and the token
//! storage file (`Credentials`, what `HADOOP_TOKEN_FILE_LOCATION` and a container launch
//! context's `tokens` hold). Reference §3.
//!
//! Decoding is total: any byte string gives a value or an error, never a panic, and no
//! length or count read from the input allocates more than the input still holds.

use std::fmt;

use hmac::{KeyInit, Mac};

use crate::proto::{self, CredentialsKvProto, CredentialsProto, TokenProto};

/// `AMRMTokenIdentifier.KIND_NAME`.
pub const KIND_AM_RM_TOKEN: &str = "YARN_AM_RM_TOKEN";
/// `NMTokenIdentifier.KIND`.
pub const KIND_NM_TOKEN: &str = "NMToken";
/// `ContainerTokenIdentifier.KIND`.
pub const KIND_CONTAINER_TOKEN: &str = "ContainerToken";

/// The magic at the start of a token storage file (`Credentials.TOKEN_STORAGE_MAGIC`).
pub const TOKEN_STORAGE_MAGIC: &[u8; 4] = b"HDTS";
/// Format byte: Writable serialization (what `writeTokenStorageToStream` writes).
pub const FORMAT_WRITABLE: u8 = 0;
/// Format byte: a delimited `CredentialsProto`.
pub const FORMAT_PROTOBUF: u8 = 1;

/// A token: an identifier (the raw bytes of an identifier proto), its password, and what it
/// is for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Token {
    pub identifier: Vec<u8>,
    pub password: Vec<u8>,
    /// e.g. [`KIND_AM_RM_TOKEN`].
    pub kind: String,
    /// `ip:port` of the server the token is for (may be empty).
    pub service: String,
}

impl Token {
    /// A token whose password is [`password`]`(master_key, identifier)`.
    pub fn mint(master_key: &[u8], identifier: Vec<u8>, kind: &str, service: &str) -> Token {
        let password = password(master_key, &identifier);
        Token { identifier, password, kind: kind.to_string(), service: service.to_string() }
    }

    pub fn to_proto(&self) -> TokenProto {
        TokenProto {
            identifier: self.identifier.clone(),
            password: self.password.clone(),
            kind: self.kind.clone(),
            service: self.service.clone(),
        }
    }

    pub fn from_proto(p: &TokenProto) -> Token {
        Token { identifier: p.identifier.clone(), password: p.password.clone(), kind: p.kind.clone(), service: p.service.clone() }
    }
}

impl From<TokenProto> for Token {
    fn from(p: TokenProto) -> Token {
        Token { identifier: p.identifier, password: p.password, kind: p.kind, service: p.service }
    }
}

impl From<Token> for TokenProto {
    fn from(t: Token) -> TokenProto {
        TokenProto { identifier: t.identifier, password: t.password, kind: t.kind, service: t.service }
    }
}

/// `SecretManager.createPassword(identifier, key)`: HmacSHA1 of the identifier bytes.
pub fn password(master_key: &[u8], identifier: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(master_key).expect("HMAC accepts any key length");
    mac.update(identifier);
    mac.finalize().into_bytes().to_vec()
}

/// Why a token storage blob or a Writable field could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

// ---- Hadoop Writable primitives (WritableUtils, Text) ----

/// `WritableUtils.writeVLong`: −112…127 in one byte; otherwise a length byte (−113…−120 for
/// positive values, −121…−128 for negative ones, whose bits are inverted) and the value's
/// significant bytes, big-endian.
pub fn write_vlong(out: &mut Vec<u8>, value: i64) {
    if (-112..=127).contains(&value) {
        out.push(value as i8 as u8);
        return;
    }
    let (v, mut len) = if value < 0 { (!value, -120i32) } else { (value, -112i32) };
    let mut tmp = v;
    while tmp != 0 {
        tmp >>= 8;
        len -= 1;
    }
    out.push(len as i8 as u8);
    let count = if len < -120 { -(len + 120) } else { -(len + 112) };
    let bytes = v.to_be_bytes();
    out.extend_from_slice(&bytes[8 - count as usize..]);
}

/// `WritableUtils.writeVInt`.
pub fn write_vint(out: &mut Vec<u8>, value: i32) {
    write_vlong(out, i64::from(value));
}

/// `WritableUtils.readVLong` off the front of `buf`.
pub fn read_vlong(buf: &mut &[u8]) -> Result<i64, FormatError> {
    let Some((&first, rest)) = buf.split_first() else {
        return err("unexpected end of input reading a VInt");
    };
    let first = first as i8;
    // decodeVIntSize
    let size: usize = if first >= -112 {
        1
    } else if first < -120 {
        (-119 - i32::from(first)) as usize
    } else {
        (-111 - i32::from(first)) as usize
    };
    if size == 1 {
        *buf = rest;
        return Ok(i64::from(first));
    }
    let n = size - 1;
    if rest.len() < n {
        return err("unexpected end of input reading a VInt");
    }
    let mut v: i64 = 0;
    for &b in &rest[..n] {
        v = (v << 8) | i64::from(b);
    }
    *buf = &rest[n..];
    // isNegativeVInt
    let negative = first < -120 || (-112..0).contains(&first);
    Ok(if negative { !v } else { v })
}

/// `WritableUtils.readVInt`: a VLong that must fit in 32 bits.
pub fn read_vint(buf: &mut &[u8]) -> Result<i32, FormatError> {
    let v = read_vlong(buf)?;
    i32::try_from(v).map_err(|_| FormatError("value too long to fit in integer".to_string()))
}

/// A VInt length or count: non-negative and at most `left` (each counted item is at least one
/// byte, so a count beyond the bytes left cannot be honest).
fn read_len(buf: &mut &[u8], what: &str) -> Result<usize, FormatError> {
    let n = read_vint(buf)?;
    if n < 0 {
        return err(format!("negative {what}: {n}"));
    }
    let n = n as usize;
    if n > buf.len() {
        return err(format!("{what} {n} exceeds the {} bytes left", buf.len()));
    }
    Ok(n)
}

fn read_bytes<'a>(buf: &mut &'a [u8], what: &str) -> Result<&'a [u8], FormatError> {
    let n = read_len(buf, what)?;
    let (b, rest) = buf.split_at(n);
    *buf = rest;
    Ok(b)
}

/// `Text.writeString`: VInt byte length + UTF-8.
pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_bytes(out, s.as_bytes());
}

/// VInt length + bytes (`Token`'s identifier and password, a secret).
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // A blob over 2 GiB cannot be written by Java either; lengths here are tokens and secrets.
    write_vint(out, i32::try_from(b.len()).unwrap_or(i32::MAX));
    out.extend_from_slice(b);
}

/// `Text.readString`.
pub fn read_text(buf: &mut &[u8]) -> Result<String, FormatError> {
    let b = read_bytes(buf, "text length")?;
    String::from_utf8(b.to_vec()).map_err(|_| FormatError("text is not UTF-8".to_string()))
}

impl Token {
    /// `Token.write`: VInt idLen, id, VInt pwLen, pw, Text kind, Text service.
    pub fn write_writable(&self, out: &mut Vec<u8>) {
        write_bytes(out, &self.identifier);
        write_bytes(out, &self.password);
        write_text(out, &self.kind);
        write_text(out, &self.service);
    }

    /// `Token.readFields`.
    pub fn read_writable(buf: &mut &[u8]) -> Result<Token, FormatError> {
        let identifier = read_bytes(buf, "identifier length")?.to_vec();
        let password = read_bytes(buf, "password length")?.to_vec();
        let kind = read_text(buf)?;
        let service = read_text(buf)?;
        Ok(Token { identifier, password, kind, service })
    }
}

/// `org.apache.hadoop.security.Credentials`: tokens and secret keys by alias. Java keeps them
/// in hash maps; here they keep insertion order, and a repeated alias replaces the earlier
/// entry as `Map.put` does.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Credentials {
    pub tokens: Vec<(String, Token)>,
    pub secrets: Vec<(String, Vec<u8>)>,
}

fn put<V>(list: &mut Vec<(String, V)>, alias: String, value: V) {
    match list.iter_mut().find(|(a, _)| *a == alias) {
        Some(entry) => entry.1 = value,
        None => list.push((alias, value)),
    }
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// `Credentials.addToken`.
    pub fn add_token(&mut self, alias: &str, token: Token) {
        put(&mut self.tokens, alias.to_string(), token);
    }

    /// `Credentials.addSecretKey`.
    pub fn add_secret(&mut self, alias: &str, secret: Vec<u8>) {
        put(&mut self.secrets, alias.to_string(), secret);
    }

    pub fn token(&self, alias: &str) -> Option<&Token> {
        self.tokens.iter().find(|(a, _)| a == alias).map(|(_, t)| t)
    }

    /// The first token of a kind (what a `TokenSelector` does, minus the service match).
    pub fn token_of_kind(&self, kind: &str) -> Option<&Token> {
        self.tokens.iter().map(|(_, t)| t).find(|t| t.kind == kind)
    }

    /// `writeTokenStorageToStream`: `HDTS`, format 0, then `Credentials.write`.
    pub fn to_writable_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(TOKEN_STORAGE_MAGIC);
        out.push(FORMAT_WRITABLE);
        write_vint(&mut out, self.tokens.len() as i32);
        for (alias, token) in &self.tokens {
            write_text(&mut out, alias);
            token.write_writable(&mut out);
        }
        write_vint(&mut out, self.secrets.len() as i32);
        for (alias, secret) in &self.secrets {
            write_text(&mut out, alias);
            write_bytes(&mut out, secret);
        }
        out
    }

    /// `HDTS`, format 1, a delimited `CredentialsProto` (`writeTokenStorageToStream(out, PROTOBUF)`).
    pub fn to_protobuf_bytes(&self) -> Vec<u8> {
        let proto = CredentialsProto {
            tokens: self
                .tokens
                .iter()
                .map(|(alias, t)| CredentialsKvProto { alias: alias.clone(), token: Some(t.to_proto()), secret: None })
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|(alias, s)| CredentialsKvProto { alias: alias.clone(), token: None, secret: Some(s.clone()) })
                .collect(),
        };
        let mut out = Vec::new();
        out.extend_from_slice(TOKEN_STORAGE_MAGIC);
        out.push(FORMAT_PROTOBUF);
        proto::write_delimited(&proto, &mut out);
        out
    }

    /// `readTokenStorageStream`: either format; bytes after the credentials are ignored, as
    /// Java ignores the rest of the stream.
    pub fn from_bytes(bytes: &[u8]) -> Result<Credentials, FormatError> {
        if bytes.len() < 4 || &bytes[..4] != TOKEN_STORAGE_MAGIC {
            return err("Bad header found in token storage.");
        }
        let Some(&format) = bytes.get(4) else {
            return err("Unknown version in token storage: the file ends after the header.");
        };
        let mut buf = &bytes[5..];
        match format {
            FORMAT_WRITABLE => Credentials::read_writable(&mut buf),
            FORMAT_PROTOBUF => {
                let proto: CredentialsProto =
                    proto::read_delimited(&mut buf).map_err(|e| FormatError(format!("bad CredentialsProto: {e}")))?;
                let mut creds = Credentials::new();
                for kv in proto.tokens {
                    // Java's readProto adds a token only when the entry has one.
                    if let Some(t) = kv.token {
                        creds.add_token(&kv.alias, t.into());
                    }
                }
                for kv in proto.secrets {
                    if let Some(s) = kv.secret {
                        creds.add_secret(&kv.alias, s);
                    }
                }
                Ok(creds)
            }
            v => err(format!("Unknown version {v} in token storage.")),
        }
    }

    /// `Credentials.readFields` (the body after `HDTS` and the format byte).
    pub fn read_writable(buf: &mut &[u8]) -> Result<Credentials, FormatError> {
        let mut creds = Credentials::new();
        let tokens = read_len(buf, "token count")?;
        for _ in 0..tokens {
            let alias = read_text(buf)?;
            let token = Token::read_writable(buf)?;
            creds.add_token(&alias, token);
        }
        let secrets = read_len(buf, "secret count")?;
        for _ in 0..secrets {
            let alias = read_text(buf)?;
            let secret = read_bytes(buf, "secret length")?.to_vec();
            creds.add_secret(&alias, secret);
        }
        Ok(creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vlong(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_vlong(&mut out, v);
        out
    }

    #[test]
    fn vint_matches_writable_utils() {
        assert_eq!(vlong(0), [0x00]);
        assert_eq!(vlong(127), [0x7f]);
        assert_eq!(vlong(-112), [0x90]);
        assert_eq!(vlong(128), [0x8f, 0x80]);
        assert_eq!(vlong(200), [0x8f, 0xc8]);
        assert_eq!(vlong(300), [0x8e, 0x01, 0x2c]);
        // −113: inverted 112 in one byte, length byte −121.
        assert_eq!(vlong(-113), [0x87, 0x70]);
        assert_eq!(vlong(-1000), [0x86, 0x03, 0xe7]);
        assert_eq!(vlong(i64::MAX), [0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(vlong(i64::MIN), [0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        for v in [0, 1, -1, 127, 128, -112, -113, 200, 300, -1000, 65536, i64::from(i32::MIN), i64::MAX, i64::MIN] {
            let b = vlong(v);
            let mut s = &b[..];
            assert_eq!(read_vlong(&mut s), Ok(v), "{v}");
            assert!(s.is_empty());
        }
        let mut s: &[u8] = &[0x8e, 0x01];
        assert!(read_vlong(&mut s).is_err());
        let big = vlong(1 << 40);
        assert!(read_vint(&mut &big[..]).is_err());
    }

    #[test]
    fn password_is_hmac_sha1() {
        // RFC 2202 test case 2.
        assert_eq!(
            password(b"Jefe", b"what do ya want for nothing?"),
            [0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79]
        );
    }

    /// Reference §3.1/§3.2: the AMRM identifier of attempt 1 of application_1700000000000_0007,
    /// keyId 42, in a WRITABLE blob under alias `amrm` with an empty service.
    #[test]
    fn one_amrm_token_writable_blob_layout() {
        let id: Vec<u8> = vec![0x0a, 0x0d, 0x0a, 0x09, 0x08, 0x07, 0x10, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x10, 0x01, 0x10, 0x2a];
        assert_eq!(id.len(), 17);
        let token = Token::mint(b"master-key", id.clone(), KIND_AM_RM_TOKEN, "");
        assert_eq!(token.password.len(), 20);
        let mut creds = Credentials::new();
        creds.add_token("amrm", token.clone());
        let blob = creds.to_writable_bytes();

        let mut expected = Vec::new();
        expected.extend_from_slice(&[0x48, 0x44, 0x54, 0x53, 0x00, 0x01, 0x04]);
        expected.extend_from_slice(b"amrm");
        expected.push(0x11);
        expected.extend_from_slice(&id);
        expected.push(0x14);
        expected.extend_from_slice(&token.password);
        expected.push(0x10);
        expected.extend_from_slice(b"YARN_AM_RM_TOKEN");
        expected.extend_from_slice(&[0x00, 0x00]);
        assert_eq!(blob, expected);
        assert_eq!(Credentials::from_bytes(&blob), Ok(creds.clone()));

        // The same credentials in the PROTOBUF format read back equal.
        let pb = creds.to_protobuf_bytes();
        assert_eq!(&pb[..5], b"HDTS\x01");
        assert_eq!(Credentials::from_bytes(&pb), Ok(creds));
    }

    #[test]
    fn long_identifiers_use_multi_byte_vints_and_secrets_round_trip() {
        let mut creds = Credentials::new();
        creds.add_token("c", Token::mint(b"k", vec![7; 200], KIND_CONTAINER_TOKEN, "127.0.0.1:45454"));
        creds.add_secret("s", vec![1, 2, 3]);
        creds.add_token("c", Token::mint(b"k", vec![8; 300], KIND_CONTAINER_TOKEN, "127.0.0.1:45454"));
        assert_eq!(creds.tokens.len(), 1, "a repeated alias replaces");
        let blob = creds.to_writable_bytes();
        assert_eq!(&blob[5..9], [0x01, 0x01, b'c', 0x8e]);
        assert_eq!(Credentials::from_bytes(&blob), Ok(creds));
    }

    #[test]
    fn bad_blobs_are_errors() {
        assert!(Credentials::from_bytes(b"").is_err());
        assert!(Credentials::from_bytes(b"HDTX\x00\x00\x00").is_err());
        assert!(Credentials::from_bytes(b"HDTS").is_err());
        assert_eq!(Credentials::from_bytes(b"HDTS\x02"), err("Unknown version 2 in token storage."));
        // A count of 2^31-1 tokens with nothing behind it is refused before any allocation.
        assert!(Credentials::from_bytes(b"HDTS\x00\x8c\x7f\xff\xff\xff").is_err());
        assert!(Credentials::from_bytes(b"HDTS\x00\xff").is_err());
        assert_eq!(Credentials::from_bytes(b"HDTS\x00\x00\x00"), Ok(Credentials::new()));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200), fmt in 0u8..3) {
            let mut blob = b"HDTS".to_vec();
            blob.push(fmt);
            blob.extend_from_slice(&tail);
            let _ = Credentials::from_bytes(&blob);
        }

        #[test]
        fn vlong_round_trips(v in any::<i64>()) {
            let b = vlong(v);
            let mut s = &b[..];
            prop_assert_eq!(read_vlong(&mut s), Ok(v));
            prop_assert!(s.is_empty());
        }

        #[test]
        fn credentials_round_trip(
            tokens in proptest::collection::vec(("[a-z]{0,8}", proptest::collection::vec(any::<u8>(), 0..300),
                proptest::collection::vec(any::<u8>(), 0..30), "[A-Za-z_]{0,20}", "[0-9.:]{0,21}"), 0..4),
            secrets in proptest::collection::vec(("[a-z]{0,8}", proptest::collection::vec(any::<u8>(), 0..40)), 0..3),
        ) {
            let mut creds = Credentials::new();
            for (alias, identifier, password, kind, service) in tokens {
                creds.add_token(&alias, Token { identifier, password, kind, service });
            }
            for (alias, s) in secrets {
                creds.add_secret(&alias, s);
            }
            prop_assert_eq!(Credentials::from_bytes(&creds.to_writable_bytes()), Ok(creds.clone()));
            prop_assert_eq!(Credentials::from_bytes(&creds.to_protobuf_bytes()), Ok(creds));
        }
    }
}
