//! Short-lived bearer tokens: `canopy.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`, signed
//! with a 32-byte key the server generates once ([`TokenIssuer::generate_key`]) and keeps in its
//! data directory.
//!
//! Tokens are opaque to clients; only the server that holds the key reads them. Verification
//! compares the MAC in constant time before it looks at the claims, then checks expiry against
//! the caller's `now`. Owns issuing and verifying; does not own storing the key, or which tokens
//! were revoked (the server keeps that; [`RevocationList`] is an in-memory helper for it).

mod revocation;

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use revocation::RevocationList;

use crate::time::unix_secs;

/// The prefix of every token, so a Canopy token is recognisable in a kubeconfig or a log.
pub const TOKEN_PREFIX: &str = "canopy";

/// Tokens longer than this are refused before any decoding (bytes).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a Canopy token at all, or its signed claims are not valid.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Signed with another key, or tampered with.
    #[error("token signature is invalid")]
    BadSignature,
    /// Authentic but past its expiry (unix seconds).
    #[error("token expired at {expired_at}")]
    Expired { expired_at: u64 },
}

/// Why a stored signing key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("token signing key is not valid base64")]
    NotBase64,
    #[error("token signing key must be 32 bytes, found {0}")]
    WrongLength(usize),
}

/// Who a token is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub user: String,
    pub groups: Vec<String>,
}

impl Subject {
    pub fn new<G: Into<String>>(user: impl Into<String>, groups: impl IntoIterator<Item = G>) -> Self {
        Self { user: user.into(), groups: groups.into_iter().map(Into::into).collect() }
    }
}

/// A freshly issued token, for the login response and for the server's record of active tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token the client sends.
    pub token: String,
    /// The token's unique id, the handle for revocation.
    pub id: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub id: String,
    pub user: String,
    pub groups: Vec<String>,
    /// Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// Unix seconds; the token is refused from this second on.
    #[serde(rename = "exp")]
    pub expires_at: u64,
}

/// Issues and verifies tokens with one key.
#[derive(Clone)]
pub struct TokenIssuer {
    key: [u8; 32],
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer").field("key", &"<redacted>").finish()
    }
}

impl TokenIssuer {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// A new random signing key from the operating system's generator.
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key
    }

    /// The key as standard base64, for the server's data directory.
    pub fn encode_key(key: &[u8; 32]) -> String {
        STANDARD.encode(key)
    }

    /// Reads a key written by [`TokenIssuer::encode_key`] (surrounding whitespace ignored).
    pub fn decode_key(text: &str) -> Result<[u8; 32], KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::NotBase64)?;
        let len = bytes.len();
        bytes.try_into().map_err(|_| KeyError::WrongLength(len))
    }

    /// Issues a token for `subject`, valid from `now` for `ttl` (whole seconds, rounded down).
    pub fn issue(&self, subject: &Subject, ttl: Duration, now: SystemTime) -> IssuedToken {
        let issued_at = unix_secs(now);
        let claims = Claims {
            id: new_token_id(),
            user: subject.user.clone(),
            groups: subject.groups.clone(),
            issued_at,
            expires_at: issued_at.saturating_add(ttl.as_secs()),
        };
        let json = serde_json::to_vec(&claims).expect("claims of strings and integers always serialize");
        let signed = format!("{TOKEN_PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
        let mac = URL_SAFE_NO_PAD.encode(self.mac(signed.as_bytes()).finalize().into_bytes());
        IssuedToken { token: format!("{signed}.{mac}"), id: claims.id, expires_at: claims.expires_at }
    }

    /// Verifies a token's signature and expiry at `now` and returns its claims. Whether the
    /// token id was revoked is for the caller to check.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("token is too long"));
        }
        let (signed, mac) =
            token.rsplit_once('.').ok_or(TokenError::Malformed("expected three dot-separated parts"))?;
        let (prefix, payload) =
            signed.split_once('.').ok_or(TokenError::Malformed("expected three dot-separated parts"))?;
        if prefix != TOKEN_PREFIX {
            return Err(TokenError::Malformed("not a Canopy token"));
        }
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        // `verify_slice` compares in constant time (and refuses a MAC of the wrong length).
        self.mac(signed.as_bytes()).verify_slice(&mac).map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed("claims are not base64url"))?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("claims are not valid"))?;
        if claims.expires_at < claims.issued_at {
            return Err(TokenError::Malformed("token expires before it was issued"));
        }
        if unix_secs(now) >= claims.expires_at {
            return Err(TokenError::Expired { expired_at: claims.expires_at });
        }
        Ok(claims)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC-SHA256 accepts a key of any length");
        mac.update(data);
        mac
    }
}

/// 128 random bits, base64url: unique per token, so revoking one revokes no other.
fn new_token_id() -> String {
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    URL_SAFE_NO_PAD.encode(id)
}
