//! Password hashing and verification.

use canopy_identity::password::{MAX_PASSWORD_BYTES, needs_rehash, verify_unknown_user};
use canopy_identity::{PasswordError, PasswordPolicy, hash_password, verify_password};

#[test]
fn right_password_verifies_and_wrong_one_fails() {
    let hash = hash_password("correct horse").expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert_eq!(verify_password("correct horse", &hash), Ok(true));
    assert_eq!(verify_password("correct horsf", &hash), Ok(false));
    assert_eq!(verify_password("Correct horse", &hash), Ok(false));
    assert_eq!(verify_password("", &hash), Ok(false));
    assert!(!needs_rehash(&hash));
}

#[test]
fn hashes_are_salted() {
    let a = hash_password("same password").expect("hash");
    let b = hash_password("same password").expect("hash");
    assert_ne!(a, b);
    assert_eq!(verify_password("same password", &a), Ok(true));
    assert_eq!(verify_password("same password", &b), Ok(true));
}

#[test]
fn empty_and_over_long_passwords_are_refused() {
    assert_eq!(hash_password(""), Err(PasswordError::Empty));
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert_eq!(hash_password(&long), Err(PasswordError::TooLong));
    assert_eq!(PasswordError::TooLong.to_string(), "password is longer than 1024 bytes");
    let hash = hash_password(&"x".repeat(MAX_PASSWORD_BYTES)).expect("1024 bytes is allowed");
    assert_eq!(verify_password(&long, &hash), Ok(false));
}

#[test]
fn policy_enforces_a_minimum_length_in_characters() {
    let policy = PasswordPolicy::default();
    assert_eq!(policy.min_length, 8);
    assert_eq!(policy.check("short"), Err(PasswordError::TooShort { min: 8 }));
    assert_eq!(policy.check("éééééééé"), Ok(()), "8 characters, 16 bytes");
    assert_eq!(policy.check(""), Err(PasswordError::Empty));
    assert_eq!(PasswordError::TooShort { min: 8 }.to_string(), "password must be at least 8 characters long");
    let hash = PasswordPolicy { min_length: 12 }.hash("twelve chars").expect("hash");
    assert_eq!(verify_password("twelve chars", &hash), Ok(true));
}

#[test]
fn malformed_foreign_and_expensive_hashes_are_errors() {
    assert_eq!(verify_password("pw", "not a hash"), Err(PasswordError::MalformedHash));
    assert_eq!(verify_password("pw", ""), Err(PasswordError::MalformedHash));
    // argon2i and a hash without its output are not accepted.
    let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2u4v0JYhqF4hXhkRUvK3Ggk2G8bnFCw8f4vqjUQ6e+E";
    assert_eq!(verify_password("pw", argon2i), Err(PasswordError::MalformedHash));
    assert_eq!(
        verify_password("pw", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA"),
        Err(PasswordError::MalformedHash)
    );
    let huge = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2u4v0JYhqF4hXhkRUvK3Ggk2G8bnFCw8f4vqjUQ6e+E";
    assert_eq!(verify_password("pw", huge), Err(PasswordError::HashTooExpensive));
    assert!(needs_rehash("not a hash"));
    let weak = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$2u4v0JYhqF4hXhkRUvK3Ggk2G8bnFCw8f4vqjUQ6e+E";
    assert!(needs_rehash(weak));
}

#[test]
fn unknown_users_never_verify() {
    assert!(!verify_unknown_user("canopy-unknown-user"));
    assert!(!verify_unknown_user(""));
}
