use std::str::FromStr;

use super::Invalid;

/// Page size of a list: 1..=100, 20 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 100;

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(20)
    }
}

impl FromStr for Limit {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) && !raw.starts_with('+') => Ok(Self(n)),
            _ => Err(Invalid(format!(
                "must be an integer from 1 to 100, got {raw:?}"
            ))),
        }
    }
}

/// A record id: a stable, URL-safe string of 1..=64 characters from
/// `[a-z0-9-]`, chosen by whoever publishes the record and never reused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(String);

super::string_schema!(
    RecordId,
    pattern = "^[a-z0-9-]{1,64}$",
    example = "jiangxi-2022-organic-week",
    "A record id: 1 to 64 of a-z, 0-9 and '-', chosen by the publisher and never reused."
);

impl RecordId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for RecordId {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(format!(
                "must be 1 to 64 characters of a-z, 0-9 and '-', got {raw:?}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!("1".parse::<Limit>().unwrap().get(), 1);
        assert_eq!("100".parse::<Limit>().unwrap().get(), 100);
        for bad in ["0", "101", "-1", "abc", "", " 5", "+5", "1.5"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} should be refused");
        }
    }
}
