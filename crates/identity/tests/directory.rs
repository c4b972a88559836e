//! Directory shapes, names and effective groups.

use canopy_identity::directory::{canonical_user_name, qualified_name, split_name, validate_name};
use canopy_identity::{DEFAULT_SSO_DOMAIN, Group, NameError, User, effective_groups};
use serde_json::json;

fn user(name: &str, groups: &[&str]) -> User {
    User {
        name: name.to_string(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        password_hash: "$argon2id$...".to_string(),
        disabled: false,
    }
}

fn group(name: &str, members: &[&str]) -> Group {
    Group { name: name.to_string(), members: members.iter().map(|m| m.to_string()).collect() }
}

#[test]
fn users_and_groups_serialize_in_camel_case() {
    let mut alice = user("alice@vsphere.local", &["devs@vsphere.local"]);
    assert_eq!(
        serde_json::to_value(&alice).expect("json"),
        json!({"name": "alice@vsphere.local", "groups": ["devs@vsphere.local"], "passwordHash": "$argon2id$..."})
    );
    alice.disabled = true;
    assert_eq!(serde_json::to_value(&alice).expect("json")["disabled"], json!(true));
    let parsed: User = serde_json::from_value(json!({"name": "bob@vsphere.local"})).expect("defaults");
    assert_eq!((parsed.groups.len(), parsed.password_hash.as_str(), parsed.disabled), (0, "", false));
    assert!(!format!("{alice:?}").contains("argon2id"), "Debug must not print the hash");

    let devs = group("devs@vsphere.local", &["alice@vsphere.local"]);
    assert_eq!(
        serde_json::to_value(&devs).expect("json"),
        json!({"name": "devs@vsphere.local", "members": ["alice@vsphere.local"]})
    );
    assert_eq!(serde_json::from_value::<Group>(json!({"name": "g"})).expect("defaults").members.len(), 0);
}

#[test]
fn names_follow_the_rules() {
    for ok in ["alice", "alice@vsphere.local", "a.b-c@corp.example.com", "x", "0", "devs@vsphere.local"] {
        assert_eq!(validate_name(ok), Ok(()), "{ok}");
    }
    for bad in ["Alice", "a_b", "-a", "a-", "a@", "@b", "a@b@c", "a b", "system:masters", "a@.b", "é"] {
        assert_eq!(validate_name(bad), Err(NameError::Invalid(bad.to_string())), "{bad}");
    }
    assert_eq!(validate_name(""), Err(NameError::Empty));
    assert_eq!(validate_name(&"a".repeat(254)), Err(NameError::TooLong));
    assert_eq!(validate_name(&"a".repeat(253)), Ok(()));
}

#[test]
fn names_split_and_qualify_with_the_sso_domain() {
    assert_eq!(DEFAULT_SSO_DOMAIN, "vsphere.local");
    assert_eq!(split_name("alice@vsphere.local"), ("alice", "vsphere.local"));
    assert_eq!(split_name("bob@corp.local"), ("bob", "corp.local"));
    assert_eq!(split_name("carol"), ("carol", "vsphere.local"));
    assert_eq!(qualified_name("carol"), "carol@vsphere.local");
    assert_eq!(qualified_name("bob@corp.local"), "bob@corp.local");
    assert_eq!(canonical_user_name("  Alice@VSphere.Local "), Ok("alice@vsphere.local".to_string()));
    assert_eq!(canonical_user_name("Carol"), Ok("carol@vsphere.local".to_string()));
    assert!(canonical_user_name("a b").is_err());
    assert_eq!(canonical_user_name(""), Err(NameError::Invalid("@vsphere.local".to_string())));
}

#[test]
fn effective_groups_are_direct_plus_member_of_plus_authenticated() {
    let alice = user("alice@vsphere.local", &["devs@vsphere.local", "zeta@vsphere.local"]);
    let groups = [
        group("devs@vsphere.local", &["alice@vsphere.local"]),
        group("ops@vsphere.local", &["bob@vsphere.local", "alice"]),
        group("admins@vsphere.local", &["bob@vsphere.local"]),
        group("corp@corp.local", &["alice@corp.local"]),
    ];
    assert_eq!(
        effective_groups(&alice, &groups),
        ["devs@vsphere.local", "ops@vsphere.local", "zeta@vsphere.local", "system:authenticated"]
    );
    let loner = user("dave@vsphere.local", &["system:authenticated"]);
    assert_eq!(effective_groups(&loner, &groups), ["system:authenticated"]);
}
