//! Bearer tokens: issue, verify, tamper, expiry, keys, revocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canopy_identity::token::MAX_TOKEN_BYTES;
use canopy_identity::{KeyError, RevocationList, Subject, TokenError, TokenIssuer};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

const T0: u64 = 1_700_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn alice() -> Subject {
    Subject::new("alice@vsphere.local", ["devs@vsphere.local", "ops@vsphere.local"])
}

#[test]
fn issued_token_verifies_with_its_claims() {
    let issuer = TokenIssuer::new([7; 32]);
    let issued = issuer.issue(&alice(), HOUR, at(T0));
    assert!(issued.token.starts_with("canopy."), "{}", issued.token);
    assert_eq!(issued.token.split('.').count(), 3);
    assert_eq!(issued.expires_at, T0 + 3600);
    let claims = issuer.verify(&issued.token, at(T0 + 10)).expect("valid");
    assert_eq!(claims.id, issued.id);
    assert_eq!(claims.user, "alice@vsphere.local");
    assert_eq!(claims.groups, ["devs@vsphere.local", "ops@vsphere.local"]);
    assert_eq!((claims.issued_at, claims.expires_at), (T0, T0 + 3600));
    assert!(!format!("{issued:?}").contains(&issued.token), "Debug must not print the token");
    assert!(!format!("{issuer:?}").contains('7'), "Debug must not print the key");
}

#[test]
fn every_token_has_a_fresh_id() {
    let issuer = TokenIssuer::new([1; 32]);
    let a = issuer.issue(&alice(), HOUR, at(T0));
    let b = issuer.issue(&alice(), HOUR, at(T0));
    assert_ne!(a.id, b.id);
    assert_ne!(a.token, b.token);
}

#[test]
fn token_expires_at_its_expiry_second() {
    let issuer = TokenIssuer::new([2; 32]);
    let issued = issuer.issue(&alice(), HOUR, at(T0));
    assert!(issuer.verify(&issued.token, at(T0 + 3599)).is_ok());
    assert_eq!(issuer.verify(&issued.token, at(T0 + 3600)), Err(TokenError::Expired { expired_at: T0 + 3600 }));
    assert_eq!(issuer.verify(&issued.token, at(T0 + 99_999)), Err(TokenError::Expired { expired_at: T0 + 3600 }));
    let instant = issuer.issue(&alice(), Duration::ZERO, at(T0));
    assert!(matches!(issuer.verify(&instant.token, at(T0)), Err(TokenError::Expired { .. })));
}

#[test]
fn token_of_another_key_has_a_bad_signature() {
    let issued = TokenIssuer::new([3; 32]).issue(&alice(), HOUR, at(T0));
    assert_eq!(TokenIssuer::new([4; 32]).verify(&issued.token, at(T0)), Err(TokenError::BadSignature));
}

#[test]
fn tampered_claims_or_signature_are_refused() {
    let issuer = TokenIssuer::new([5; 32]);
    let issued = issuer.issue(&alice(), HOUR, at(T0));
    let parts: Vec<&str> = issued.token.split('.').collect();

    // Rewrite the claims to another user and a later expiry, keeping the signature.
    let json = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
    let forged = String::from_utf8(json)
        .expect("utf8")
        .replace("alice", "admin")
        .replace(&(T0 + 3600).to_string(), "9999999999");
    let forged = format!("canopy.{}.{}", URL_SAFE_NO_PAD.encode(forged), parts[2]);
    assert_eq!(issuer.verify(&forged, at(T0)), Err(TokenError::BadSignature));

    // Change one character of the signature.
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    let sig = format!("{first}{}", &parts[2][1..]);
    assert_eq!(issuer.verify(&format!("canopy.{}.{sig}", parts[1]), at(T0)), Err(TokenError::BadSignature));

    // A truncated signature.
    assert_eq!(
        issuer.verify(&format!("canopy.{}.{}", parts[1], &parts[2][..8]), at(T0)),
        Err(TokenError::BadSignature)
    );
    // Another prefix.
    assert_eq!(
        issuer.verify(&format!("other.{}.{}", parts[1], parts[2]), at(T0)),
        Err(TokenError::Malformed("not a Canopy token"))
    );
}

#[test]
fn malformed_tokens_say_so() {
    let issuer = TokenIssuer::new([6; 32]);
    for token in ["", "canopy", "canopy.", "abc.def", "Bearer xyz", "canopy.abc.!!!"] {
        assert!(matches!(issuer.verify(token, at(T0)), Err(TokenError::Malformed(_))), "{token:?}");
    }
    let long = format!("canopy.{}.x", "a".repeat(MAX_TOKEN_BYTES));
    assert_eq!(issuer.verify(&long, at(T0)), Err(TokenError::Malformed("token is too long")));
}

#[test]
fn keys_are_random_and_round_trip_as_text() {
    let key = TokenIssuer::generate_key();
    assert_ne!(key, TokenIssuer::generate_key());
    assert_ne!(key, [0; 32]);
    let text = TokenIssuer::encode_key(&key);
    assert_eq!(TokenIssuer::decode_key(&format!("{text}\n")), Ok(key));
    assert_eq!(TokenIssuer::decode_key("not base64!"), Err(KeyError::NotBase64));
    assert_eq!(TokenIssuer::decode_key("AAAA"), Err(KeyError::WrongLength(3)));
}

#[test]
fn revocation_list_remembers_ids_until_they_expire() {
    let issuer = TokenIssuer::new([8; 32]);
    let a = issuer.issue(&alice(), HOUR, at(T0));
    let b = issuer.issue(&alice(), HOUR * 2, at(T0));
    let mut revoked = RevocationList::new();
    assert!(revoked.is_empty());
    revoked.revoke(&a.id, a.expires_at);
    revoked.revoke(b.id.clone(), b.expires_at);
    let claims = issuer.verify(&a.token, at(T0 + 1)).expect("the signature is still valid");
    assert!(revoked.is_revoked(&claims.id));
    assert!(!revoked.is_revoked("some-other-id"));

    assert_eq!(revoked.prune(at(T0 + 3599)), 0);
    assert_eq!(revoked.prune(at(T0 + 3600)), 1, "a's expiry has passed");
    assert!(!revoked.is_revoked(&a.id));
    assert!(revoked.is_revoked(&b.id));
    assert_eq!(revoked.iter().collect::<Vec<_>>(), [(b.id.as_str(), T0 + 7200)]);
    assert_eq!(revoked.prune(at(T0 + 7200)), 1);
    assert_eq!(revoked.len(), 0);
}
