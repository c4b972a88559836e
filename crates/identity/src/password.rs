//! Password hashing: argon2id in the PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
//! with a fresh random salt per hash, and verification through the argon2 crate, whose comparison
//! of the derived hash is constant-time.
//!
//! Owns the length rules every password passes (not empty, at most [`MAX_PASSWORD_BYTES`]) and the
//! [`PasswordPolicy`] for new passwords. Does not own where hashes are stored (the `User` object)
//! or throttling of guesses ([`crate::throttle`]).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

/// The longest password accepted, in bytes (hashing cost grows with length).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The largest memory cost (KiB) a stored hash may ask for; bounds the work a corrupt or hostile
/// hash can make the server do (64 MiB).
const MAX_MEMORY_KIB: u32 = 64 * 1024;
/// The largest time cost (passes) a stored hash may ask for.
const MAX_TIME_COST: u32 = 16;

/// Why a password or a stored hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must not be empty")]
    Empty,
    #[error("password is longer than {max} bytes", max = MAX_PASSWORD_BYTES)]
    TooLong,
    #[error("password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("stored password hash is not a valid argon2id PHC string")]
    MalformedHash,
    #[error("stored password hash asks for more work than allowed")]
    HashTooExpensive,
    #[error("hashing the password failed: {0}")]
    Hashing(String),
}

/// Rules for new passwords (set by `canopy user add` or `canopy user passwd`); login only
/// applies the length bounds of [`hash_password`] and [`verify_password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values).
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8 }
    }
}

impl PasswordPolicy {
    /// Checks a new password against the policy and the length bounds.
    pub fn check(&self, password: &str) -> Result<(), PasswordError> {
        check_bounds(password)?;
        if password.chars().count() < self.min_length {
            return Err(PasswordError::TooShort { min: self.min_length });
        }
        Ok(())
    }

    /// Checks a new password and hashes it.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.check(password)?;
        hash_password(password)
    }
}

fn check_bounds(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The hasher with Canopy's parameters: argon2id v0x13, 19 MiB, 2 passes, 1 lane (OWASP's
/// recommended minimum, the argon2 crate's default).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes a password with argon2id and a random 16-byte salt, returning the PHC string.
/// Refuses empty passwords and passwords over [`MAX_PASSWORD_BYTES`]; does not apply a
/// [`PasswordPolicy`].
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_bounds(password)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let hash = hasher().hash_password(password.as_bytes(), &salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// Verifies a password against a stored PHC string: `Ok(true)` when it matches, `Ok(false)`
/// when it does not (including empty and over-long passwords, which never match), and an error
/// only for a stored hash that is not argon2id or asks for too much work.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let hash = parse_hash(phc)?;
    if check_bounds(password).is_err() {
        return Ok(false);
    }
    Ok(hasher().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Spends the time of one verification without a stored hash, so that a login for an unknown
/// user takes as long as one for a known user with a wrong password. Always `false`.
pub fn verify_unknown_user(password: &str) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash_password("canopy-unknown-user").ok()) {
        let _ = verify_password(password, phc);
    }
    false
}

/// Whether a stored hash was made with other parameters than today's, so the server may
/// re-hash the password after a successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(hash) = parse_hash(phc) else { return true };
    let current = Params::default();
    Params::try_from(&hash).map_or(true, |p| {
        p.m_cost() != current.m_cost() || p.t_cost() != current.t_cost() || p.p_cost() != current.p_cost()
    }) || hash.version != Some(Version::V0x13.into())
}

fn parse_hash(phc: &str) -> Result<PasswordHash<'_>, PasswordError> {
    let hash = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.salt.is_none() || hash.hash.is_none() {
        return Err(PasswordError::MalformedHash);
    }
    let params = Params::try_from(&hash).map_err(|_| PasswordError::MalformedHash)?;
    if params.m_cost() > MAX_MEMORY_KIB || params.t_cost() > MAX_TIME_COST || params.p_cost() > 16 {
        return Err(PasswordError::HashTooExpensive);
    }
    Ok(hash)
}
