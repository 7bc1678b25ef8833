//! SASL DIGEST-MD5 (RFC 2831) as the JDK provider does it for Hadoop's TOKEN method
//! (reference §2.3): the server's challenge and response check, and the client's response
//! and `rspauth` check. Pure functions of their inputs: randomness (nonce, cnonce) comes from
//! the caller, so the exchange is deterministic under test and could run in the simulator.

use base64::Engine;
use md5::{Digest, Md5};

use crate::token::Token;

/// `SaslRpcServer.SASL_DEFAULT_REALM`: the realm and the server id of TOKEN.
pub const DEFAULT_REALM: &str = "default";
/// protocol (`""` for TOKEN) + "/" + serverId.
pub const DEFAULT_DIGEST_URI: &str = "/default";
/// The JDK refuses digest responses of 4096 bytes or more (RFC 2831 §2.1.2); challenges are
/// capped at the same size here.
pub const MAX_DIGEST_LEN: usize = 4096;
/// How many random bytes make a nonce or cnonce (the JDK: 30, Base64 → 40 characters).
pub const NONCE_BYTES: usize = 30;

/// `javax.security.sasl.SaslException`.
pub const SASL_EXCEPTION: &str = "javax.security.sasl.SaslException";
/// `SecretManager.InvalidToken`, as Java names the nested class.
pub const INVALID_TOKEN: &str = "org.apache.hadoop.security.token.SecretManager$InvalidToken";

/// Why a DIGEST-MD5 step failed, in the Java exception Hadoop reports to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslFailure {
    /// The token's identifier is unknown, expired or undecodable (`SecretManager$InvalidToken`).
    InvalidToken(String),
    /// The exchange itself is wrong (`javax.security.sasl.SaslException`).
    Sasl(String),
}

impl SaslFailure {
    pub fn class(&self) -> &'static str {
        match self {
            SaslFailure::InvalidToken(_) => INVALID_TOKEN,
            SaslFailure::Sasl(_) => SASL_EXCEPTION,
        }
    }
    pub fn message(&self) -> &str {
        match self {
            SaslFailure::InvalidToken(m) | SaslFailure::Sasl(m) => m,
        }
    }
}

impl std::fmt::Display for SaslFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class(), self.message())
    }
}

fn sasl<T>(msg: impl Into<String>) -> Result<T, SaslFailure> {
    Err(SaslFailure::Sasl(msg.into()))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A nonce or cnonce as the JDK makes it: Base64 of random bytes.
pub fn nonce_from(random: &[u8; NONCE_BYTES]) -> String {
    b64(random)
}

/// `SaslRpcServer.encodeIdentifier`: the DIGEST user name of a token.
pub fn encode_identifier(identifier: &[u8]) -> String {
    b64(identifier)
}

/// `SaslRpcServer.encodePassword`: the DIGEST password (as text) of a token.
pub fn encode_password(password: &[u8]) -> String {
    b64(password)
}

/// The hex `response` (with `a2_prefix` "AUTHENTICATE:") or `rspauth` (with "") of RFC 2831
/// §2.1.2.1 for qop=auth, algorithm md5-sess, no authzid.
#[allow(clippy::too_many_arguments)]
pub fn digest_value(
    username: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    nc: &str,
    qop: &str,
    digest_uri: &str,
    a2_prefix: &str,
) -> String {
    let inner = md5(&[username.as_bytes(), b":", realm.as_bytes(), b":", password.as_bytes()]);
    let ha1 = hex(&md5(&[&inner, b":", nonce.as_bytes(), b":", cnonce.as_bytes()]));
    let ha2 = hex(&md5(&[a2_prefix.as_bytes(), b":", digest_uri.as_bytes()]));
    hex(&md5(&[
        ha1.as_bytes(),
        b":",
        nonce.as_bytes(),
        b":",
        nc.as_bytes(),
        b":",
        cnonce.as_bytes(),
        b":",
        qop.as_bytes(),
        b":",
        ha2.as_bytes(),
    ]))
}

/// Parses an RFC 2831 directive list (`a=b,c="d, \"e\"",…`): keys lower-cased, values
/// unquoted and unescaped. Bounded by [`MAX_DIGEST_LEN`]; any byte string gives a list or an
/// error.
pub fn parse_directives(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    if input.len() >= MAX_DIGEST_LEN {
        return Err(format!("Invalid digest length. Got:  {} Expected < {MAX_DIGEST_LEN}", input.len()));
    }
    if std::str::from_utf8(input).is_err() {
        return Err("digest is not UTF-8".to_string());
    }
    let b = input;
    let mut i = 0;
    let mut out = Vec::new();
    let is_ws = |c: u8| c == b' ' || c == b'\t' || c == b'\r' || c == b'\n';
    loop {
        // Empty list elements are allowed ("#rule").
        while i < b.len() && (is_ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && !is_ws(b[i]) {
            i += 1;
        }
        let key = String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase();
        if key.is_empty() {
            return Err("directive without a name".to_string());
        }
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(format!("directive {key} has no value"));
        }
        i += 1;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated quoted value of {key}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&c) = b.get(i + 1) else {
                            return Err(format!("unterminated quoted value of {key}"));
                        };
                        value.push(c);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && b[i] != b',' && !is_ws(b[i]) {
                value.push(b[i]);
                i += 1;
            }
        }
        // Only ASCII quote and backslash bytes were dropped, so the rest is still UTF-8.
        let value = String::from_utf8(value).map_err(|_| "digest is not UTF-8".to_string())?;
        out.push((key, value));
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] != b',' {
            return Err("expected ',' between directives".to_string());
        }
    }
    Ok(out)
}

/// The one value of a directive; a repeated directive is a format violation.
fn single<'a>(d: &'a [(String, String)], key: &str) -> Result<Option<&'a str>, SaslFailure> {
    let mut found = None;
    for (k, v) in d {
        if k == key {
            if found.is_some() {
                return sasl(format!("DIGEST-MD5: digest response format violation. Duplicate directive: {key}"));
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// The server side of one DIGEST-MD5 exchange (JDK `DigestMD5Server` with Hadoop's
/// `SaslDigestCallbackHandler`).
#[derive(Clone, Debug)]
pub struct DigestServer {
    nonce: String,
}

/// A successful exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestSuccess {
    /// The token identifier the client authenticated with (decoded from `username`).
    pub identifier: Vec<u8>,
    /// The SUCCESS token: `rspauth=<32 hex>`.
    pub rspauth: Vec<u8>,
}

impl DigestServer {
    /// A server whose nonce is Base64 of `random` (from the caller's random source).
    pub fn new(random: &[u8; NONCE_BYTES]) -> DigestServer {
        DigestServer { nonce: nonce_from(random) }
    }

    /// A server with a given nonce (test vectors).
    pub fn with_nonce(nonce: &str) -> DigestServer {
        DigestServer { nonce: nonce.to_string() }
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The digest-challenge the JDK server sends first.
    pub fn challenge(&self) -> Vec<u8> {
        format!("realm=\"{DEFAULT_REALM}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess", self.nonce).into_bytes()
    }

    /// Checks the client's digest-response. `password_of(identifier)` is the secret
    /// manager's `retrievePassword` (Err → `InvalidToken`). On success, the identifier and the
    /// `rspauth` token.
    pub fn evaluate(
        &self,
        response: &[u8],
        password_of: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<DigestSuccess, SaslFailure> {
        const BAD: &str = "DIGEST-MD5: digest response format violation.";
        let d = parse_directives(response).map_err(|e| SaslFailure::Sasl(format!("{BAD} {e}")))?;
        if let Some(cs) = single(&d, "charset")? {
            if !cs.eq_ignore_ascii_case("utf-8") {
                return sasl(format!("{BAD} Unrecognised charset: {cs}"));
            }
        }
        if let Some(realm) = single(&d, "realm")? {
            if realm != DEFAULT_REALM {
                return sasl(format!("{BAD} Mismatched realm: {realm}"));
            }
        }
        let realm = DEFAULT_REALM;
        match single(&d, "nonce")? {
            Some(n) if n == self.nonce => {}
            _ => return sasl(format!("{BAD} Mismatched nonce.")),
        }
        let Some(cnonce) = single(&d, "cnonce")? else {
            return sasl(format!("{BAD} Missing cnonce."));
        };
        let nc = single(&d, "nc")?.unwrap_or("");
        if u32::from_str_radix(nc, 16) != Ok(1) {
            return sasl(format!("{BAD} Nonce count does not match: {nc}"));
        }
        let qop = single(&d, "qop")?.unwrap_or("auth");
        if qop != "auth" {
            // We offer only auth (hadoop.rpc.protection=authentication).
            return sasl(format!("{BAD} Invalid QOP: {qop}"));
        }
        let Some(username) = single(&d, "username")? else {
            return sasl(format!("{BAD} Missing username."));
        };
        let uri = single(&d, "digest-uri")?.unwrap_or("");
        if uri != DEFAULT_DIGEST_URI {
            return sasl(format!("{BAD} Mismatched URI: {uri}; expecting: {DEFAULT_DIGEST_URI}"));
        }
        let Some(client_response) = single(&d, "response")? else {
            return sasl(format!("{BAD} Missing response."));
        };
        if let Some(authzid) = single(&d, "authzid")? {
            // Hadoop's AuthorizeCallback: a token may not act for someone else.
            if authzid != username {
                return sasl(format!("DIGEST-MD5: {authzid} is not authorized to act as {username}"));
            }
        }
        // SaslRpcServer.decodeIdentifier, then SecretManager.retrievePassword.
        let identifier = base64::engine::general_purpose::STANDARD
            .decode(username.as_bytes())
            .map_err(|_| SaslFailure::InvalidToken("Can't de-serialize tokenIdentifier".to_string()))?;
        let password = password_of(&identifier).map_err(SaslFailure::InvalidToken)?;
        let password = encode_password(&password);
        let expected = digest_value(username, realm, &password, &self.nonce, cnonce, nc, qop, uri, "AUTHENTICATE");
        if !client_response.eq_ignore_ascii_case(&expected) {
            return sasl(format!("{BAD} Mismatched response."));
        }
        let rspauth = digest_value(username, realm, &password, &self.nonce, cnonce, nc, qop, uri, "");
        Ok(DigestSuccess { identifier, rspauth: format!("rspauth={rspauth}").into_bytes() })
    }
}

/// The client side of one DIGEST-MD5 exchange (JDK `DigestMD5Client` as Hadoop's
/// `SaslRpcClient` drives it with a token).
#[derive(Clone, Debug)]
pub struct DigestClient {
    expected_rspauth: String,
}

impl DigestClient {
    /// Answers the server's digest-challenge for `token`, with a cnonce of Base64(`random`).
    pub fn respond(challenge: &[u8], token: &Token, random: &[u8; NONCE_BYTES]) -> Result<(DigestClient, Vec<u8>), SaslFailure> {
        Self::respond_with_cnonce(challenge, token, &nonce_from(random))
    }

    /// [`DigestClient::respond`] with a given cnonce (test vectors).
    pub fn respond_with_cnonce(challenge: &[u8], token: &Token, cnonce: &str) -> Result<(DigestClient, Vec<u8>), SaslFailure> {
        const BAD: &str = "DIGEST-MD5: Digest-challenge format violation:";
        let d = parse_directives(challenge).map_err(|e| SaslFailure::Sasl(format!("{BAD} {e}")))?;
        let one = |key: &str| -> Result<Option<&str>, SaslFailure> {
            single(&d, key).map_err(|_| SaslFailure::Sasl(format!("{BAD} {key} appears more than once")))
        };
        match one("algorithm")? {
            Some(a) if a.eq_ignore_ascii_case("md5-sess") => {}
            _ => return sasl(format!("{BAD} algorithm directive missing")),
        }
        let Some(nonce) = one("nonce")? else {
            return sasl(format!("{BAD} nonce directive missing"));
        };
        if let Some(qops) = one("qop")? {
            if !qops.split(',').any(|q| q.trim() == "auth") {
                return sasl("DIGEST-MD5: No common protection layer between client and server");
            }
        }
        // Several realms may be offered; the Hadoop client takes the default (the first).
        let realm = d.iter().find(|(k, _)| k == "realm").map(|(_, v)| v.as_str()).unwrap_or(DEFAULT_REALM);
        let username = encode_identifier(&token.identifier);
        let password = encode_password(&token.password);
        let nc = "00000001";
        let response = digest_value(&username, realm, &password, nonce, cnonce, nc, "auth", DEFAULT_DIGEST_URI, "AUTHENTICATE");
        let rspauth = digest_value(&username, realm, &password, nonce, cnonce, nc, "auth", DEFAULT_DIGEST_URI, "");
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let text = format!(
            "charset=utf-8,username=\"{}\",realm=\"{}\",nonce=\"{}\",nc={nc},cnonce=\"{}\",digest-uri=\"{DEFAULT_DIGEST_URI}\",maxbuf=65536,response={response},qop=auth",
            quote(&username),
            quote(realm),
            quote(nonce),
            quote(cnonce)
        );
        Ok((DigestClient { expected_rspauth: rspauth }, text.into_bytes()))
    }

    /// Checks the server's SUCCESS token (`rspauth=…`): the server knew the password too.
    pub fn verify_rspauth(&self, success_token: &[u8]) -> Result<(), SaslFailure> {
        let d = parse_directives(success_token).map_err(SaslFailure::Sasl)?;
        match single(&d, "rspauth")? {
            Some(r) if r.eq_ignore_ascii_case(&self.expected_rspauth) => Ok(()),
            Some(_) => sasl("DIGEST-MD5: Mismatched response auth"),
            None => sasl("DIGEST-MD5: Authentication failed: rspauth missing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONCE: &str = "e8Qj6xUELkDdr5eStvPxdjZppVOY1Z1m4NHvmk4O";
    const CNONCE: &str = "yzm4D1/hGOV2XatCJgpd12Lw1UXidGexwC71MQy7";

    fn token() -> Token {
        Token { identifier: b"userid".to_vec(), password: b"password".to_vec(), kind: "k".into(), service: "".into() }
    }

    /// Reference §2.3: the JDK client+server test vector.
    #[test]
    fn reference_test_vector() {
        assert_eq!(encode_identifier(b"userid"), "dXNlcmlk");
        assert_eq!(encode_password(b"password"), "cGFzc3dvcmQ=");
        let args = ("dXNlcmlk", "default", "cGFzc3dvcmQ=", NONCE, CNONCE, "00000001", "auth", "/default");
        assert_eq!(
            digest_value(args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, "AUTHENTICATE"),
            "a14cb69bd20a1b957afcbc71bd50afa2"
        );
        assert_eq!(digest_value(args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, ""), "d85303695e8ecd6be663731b16bc2752");
    }

    #[test]
    fn client_and_server_agree_on_the_reference_vector() {
        let server = DigestServer::with_nonce(NONCE);
        let challenge = server.challenge();
        assert_eq!(
            String::from_utf8(challenge.clone()).unwrap(),
            format!("realm=\"default\",nonce=\"{NONCE}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess")
        );
        let (client, response) = DigestClient::respond_with_cnonce(&challenge, &token(), CNONCE).unwrap();
        assert_eq!(
            String::from_utf8(response.clone()).unwrap(),
            format!(
                "charset=utf-8,username=\"dXNlcmlk\",realm=\"default\",nonce=\"{NONCE}\",nc=00000001,cnonce=\"{CNONCE}\",digest-uri=\"/default\",maxbuf=65536,response=a14cb69bd20a1b957afcbc71bd50afa2,qop=auth"
            )
        );
        let ok = server
            .evaluate(&response, |id| {
                assert_eq!(id, b"userid");
                Ok(b"password".to_vec())
            })
            .unwrap();
        assert_eq!(ok.identifier, b"userid");
        assert_eq!(ok.rspauth, b"rspauth=d85303695e8ecd6be663731b16bc2752");
        client.verify_rspauth(&ok.rspauth).unwrap();
        assert!(client.verify_rspauth(b"rspauth=00000000000000000000000000000000").is_err());
    }

    #[test]
    fn server_refusals() {
        let server = DigestServer::with_nonce(NONCE);
        let (_, response) = DigestClient::respond_with_cnonce(&server.challenge(), &token(), CNONCE).unwrap();
        // Wrong password on the server side: the client's response does not match.
        assert_eq!(
            server.evaluate(&response, |_| Ok(b"other".to_vec())),
            Err(SaslFailure::Sasl("DIGEST-MD5: digest response format violation. Mismatched response.".into()))
        );
        // Unknown token.
        let r = server.evaluate(&response, |_| Err("AMRMToken expired".into()));
        assert_eq!(r, Err(SaslFailure::InvalidToken("AMRMToken expired".into())));
        assert_eq!(r.unwrap_err().class(), INVALID_TOKEN);
        // Another server's nonce.
        let other = DigestServer::with_nonce("x");
        assert!(other.evaluate(&response, |_| Ok(b"password".to_vec())).is_err());
        // Garbage and oversize.
        assert!(server.evaluate(b"username=\"abc", |_| Ok(vec![])).is_err());
        assert!(server.evaluate(&vec![b'a'; 5000], |_| Ok(vec![])).is_err());
        // A bad nonce count.
        let text = String::from_utf8(response).unwrap().replace("nc=00000001", "nc=00000002");
        assert!(server.evaluate(text.as_bytes(), |_| Ok(b"password".to_vec())).is_err());
    }

    #[test]
    fn client_refusals() {
        let t = token();
        assert_eq!(
            DigestClient::respond_with_cnonce(b"realm=\"default\",nonce=\"n\",qop=\"auth\"", &t, "c").unwrap_err(),
            SaslFailure::Sasl("DIGEST-MD5: Digest-challenge format violation: algorithm directive missing".into())
        );
        assert!(DigestClient::respond_with_cnonce(b"nonce=\"n\",qop=\"auth-conf\",algorithm=md5-sess", &t, "c").is_err());
        // Realm and qop are optional.
        assert!(DigestClient::respond_with_cnonce(b"nonce=\"n\",algorithm=md5-sess", &t, "c").is_ok());
    }

    #[test]
    fn directives_unquote_and_escape() {
        let d = parse_directives(b" a = \"x, \\\"y\\\"\" ,, b=tok,c=\"\"").unwrap();
        assert_eq!(d, vec![("a".into(), "x, \"y\"".into()), ("b".into(), "tok".into()), ("c".into(), String::new())]);
        assert!(parse_directives(b"a").is_err());
        assert!(parse_directives(b"=b").is_err());
        assert!(parse_directives(b"a=\"b\"c").is_err());
        assert!(parse_directives(b"a=\"b\\").is_err());
    }

    proptest! {
        #[test]
        fn any_response_is_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let server = DigestServer::with_nonce(NONCE);
            let _ = server.evaluate(&bytes, |_| Ok(b"password".to_vec()));
            let _ = DigestClient::respond_with_cnonce(&bytes, &token(), CNONCE);
        }

        #[test]
        fn any_directive_text_is_an_answer(s in "[a-z=\",\\\\ ]{0,60}") {
            let _ = parse_directives(s.as_bytes());
        }
    }
}
