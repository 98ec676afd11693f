use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// A GB/T 2260 administrative division code: exactly six ASCII digits, not
/// starting with 0. Full-width digits (`４４０１００`) and signs are refused
/// rather than normalised, so a client learns its input is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Adcode(String);

super::string_schema!(
    Adcode,
    pattern = "^[1-9][0-9]{5}$",
    example = "360700",
    "A GB/T 2260 division code: six ASCII digits, the first not 0."
);

impl Adcode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Adcode {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let ok = raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(format!(
                "must be a 6-digit GB/T 2260 division code such as 360700, got {raw:?}"
            )))
        }
    }
}

impl TryFrom<String> for Adcode {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        raw.parse()
    }
}

impl From<Adcode> for String {
    fn from(code: Adcode) -> String {
        code.0
    }
}

impl fmt::Display for Adcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Level of a division in the GB/T 2260 hierarchy. County-level divisions
/// administered directly by a province (429004 仙桃市) are `county` with the
/// province as parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegionLevel {
    Province,
    City,
    County,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 3] = [Self::Province, Self::City, Self::County];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::City => "city",
            Self::County => "county",
        }
    }
}

impl FromStr for RegionLevel {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str() == raw)
            .ok_or_else(|| {
                Invalid(format!(
                    "must be one of province, city, county, got {raw:?}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adcode_accepts_six_ascii_digits_only() {
        assert!("360700".parse::<Adcode>().is_ok());
        for bad in [
            "44010",
            "44O100",
            "４４０１００",
            "-440100",
            "",
            "4401000",
            "040100",
            "+44010",
        ] {
            assert!(bad.parse::<Adcode>().is_err(), "{bad} should be refused");
        }
    }
}
