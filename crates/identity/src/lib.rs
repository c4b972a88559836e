//! Canopy's identity logic: pure, IO-free building blocks the API server and the `canopy` CLI
//! use for the platform's built-in users and groups (its SSO domain, `vsphere.local` by default).
//!
//! Owns:
//! - [`password`]: argon2id password hashes in PHC format, and the [`PasswordPolicy`];
//! - [`token`]: short-lived HMAC-signed bearer tokens ([`TokenIssuer`]) and a
//!   [`RevocationList`] helper;
//! - [`throttle`]: login throttling per (user, client address) with exponential lockouts;
//! - [`kubeconfig`]: writing or merging the kubeconfig `canopy login` produces (one context per
//!   namespace, as `kubectl vsphere login` does) and removing the token on logout;
//! - [`directory`]: the [`User`] and [`Group`] shapes stored as API objects, name rules, the SSO
//!   domain, and a user's effective groups.
//!
//! Does not own: storage of users, groups, keys or revoked tokens, HTTP, reading or writing
//! files, clocks (every time-dependent function takes `now`), or authorization (`canopy-rbac`).
//! It depends on no other workspace crate.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use canopy_identity::{PasswordPolicy, Subject, TokenIssuer, verify_password};
//!
//! let hash = PasswordPolicy::default().hash("correct horse battery").expect("valid password");
//! assert!(verify_password("correct horse battery", &hash).expect("well-formed hash"));
//!
//! let issuer = TokenIssuer::new(TokenIssuer::generate_key());
//! let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let alice = Subject::new("alice@vsphere.local", ["devs@vsphere.local"]);
//! let issued = issuer.issue(&alice, Duration::from_secs(3600), now);
//! let claims = issuer.verify(&issued.token, now + Duration::from_secs(60)).expect("valid token");
//! assert_eq!(claims.user, "alice@vsphere.local");
//! assert!(issuer.verify(&issued.token, now + Duration::from_secs(3600)).is_err());
//! ```

pub mod directory;
pub mod kubeconfig;
pub mod password;
pub mod throttle;
pub mod token;

mod time;

pub use directory::{DEFAULT_SSO_DOMAIN, Group, NameError, SYSTEM_AUTHENTICATED, User, effective_groups};
pub use kubeconfig::{KubeconfigError, LoginEntries, login_kubeconfig, logout_kubeconfig};
pub use password::{PasswordError, PasswordPolicy, hash_password, verify_password};
pub use throttle::{LoginThrottle, RetryAfter, ThrottleConfig, ThrottleKey};
pub use token::{Claims, IssuedToken, KeyError, RevocationList, Subject, TokenError, TokenIssuer};
