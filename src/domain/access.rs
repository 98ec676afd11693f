//! Who may write what: a token's role and scope, the place of a record, and
//! the tokens themselves (random, shown once, kept only as a hash).

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Adcode, Invalid, RecordId};

vocabulary!(
    /// What a token's scope is: the whole country, a region and its
    /// descendants, or one lab and its sessions.
    Role {
        National = "national",
        Region = "region",
        Lab = "lab",
    }
);

/// What a token may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    National,
    /// The region and every region inside it.
    Region(Adcode),
    /// The lab and its open-day sessions.
    Lab(RecordId),
}

impl Scope {
    /// The scope a role names: an adcode for `region`, a lab id for `lab`,
    /// nothing for `national`.
    pub fn new(role: Role, scope: Option<&str>) -> Result<Self, Invalid> {
        match (role, scope) {
            (Role::National, None) => Ok(Self::National),
            (Role::National, Some(_)) => Err(Invalid::new("a national token takes no scope")),
            (Role::Region, Some(code)) => Ok(Self::Region(code.parse()?)),
            (Role::Lab, Some(id)) => Ok(Self::Lab(id.parse()?)),
            (_, None) => Err(Invalid::new(
                "a region token needs an adcode and a lab token a lab id as its scope",
            )),
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Self::National => Role::National,
            Self::Region(_) => Role::Region,
            Self::Lab(_) => Role::Lab,
        }
    }

    /// The stored scope value (adcode or lab id).
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::National => None,
            Self::Region(code) => Some(code.as_str()),
            Self::Lab(id) => Some(id.as_str()),
        }
    }

    /// Whether this scope covers a record at `place`.
    pub fn covers(&self, place: &Place) -> bool {
        match self {
            Self::National => true,
            Self::Region(code) => place.regions.iter().any(|r| r == code.as_str()),
            Self::Lab(id) => place.lab.as_deref() == Some(id.as_str()),
        }
    }
}

/// Where a record is, for scope checks: its region with the regions above
/// it (from the region table, never from adcode prefixes), and for labs
/// and sessions the lab.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The record's region and its ancestors; empty for a national record.
    pub regions: Vec<String>,
    pub lab: Option<String>,
}

/// A token holder, as the server knows it from the token alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's label: the actor named in the audit log.
    pub name: String,
    pub scope: Scope,
}

/// A token's label: 1 to 64 printable characters.
pub fn token_name(raw: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&raw.chars().count())
        && raw.trim() == raw
        && !raw.chars().any(char::is_control);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Invalid(format!(
            "must be 1 to 64 printable characters without surrounding spaces, got {raw:?}"
        )))
    }
}

/// Prefix of every token, so that a leaked one is recognisable in a scan.
const TOKEN_PREFIX: &str = "twk_";
/// 256 random bits.
const TOKEN_BYTES: usize = 32;

/// A new random token (shown once) and the hash that is stored.
pub fn new_token() -> Result<(String, String), Invalid> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Invalid(format!("the system's random source failed: {e}")))?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: hex SHA-256. The token carries 256 random
/// bits, so a fast hash is enough (a password hash such as argon2 protects
/// guessable secrets, and would cost tens of milliseconds per write).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token's text as the `Authorization: Bearer` header may carry it: the
/// prefix and 43 base64url characters; anything else is refused unhashed.
pub fn looks_like_token(raw: &str) -> bool {
    raw.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_derived() {
        let (a, hash_a) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(looks_like_token(&a), "{a}");
        assert_eq!(hash_a, token_hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a[4..]));
    }

    #[test]
    fn region_scope_covers_descendants_by_their_ancestry() {
        let scope = Scope::new(Role::Region, Some("420000")).unwrap();
        // 429004 (仙桃市) is a county-level city directly under Hubei.
        let xiantao = Place {
            regions: vec!["429004".into(), "420000".into()],
            lab: None,
        };
        assert!(scope.covers(&xiantao));
        let elsewhere = Place {
            regions: vec!["360100".into(), "360000".into()],
            lab: None,
        };
        assert!(!scope.covers(&elsewhere));
        assert!(!scope.covers(&Place::default()));
        assert!(Scope::new(Role::Region, None).is_err());
        assert!(Scope::new(Role::National, Some("360000")).is_err());
    }
}
