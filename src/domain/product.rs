//! Certified products: schemes, statuses, and the formats of the numbers a
//! certificate carries — certificate number, unified social credit code
//! (GB 32100), CNCA approval number and organic code (有机码).

use std::str::FromStr;

use chrono::NaiveDate;

use super::Invalid;

vocabulary! {
    /// Certification scheme.
    Scheme { Organic = "organic", Green = "green" }
}

vocabulary! {
    /// What was certified: organic or organic-in-conversion (有机转换); for
    /// green products full-green (全绿) or one green attribute (涉绿).
    CertificationType {
        Organic = "organic", InConversion = "in_conversion",
        FullGreen = "full_green", GreenAttribute = "green_attribute",
    }
}

vocabulary! {
    /// A certificate's status as the registry records it; `expired` is never
    /// stored: it follows from the expiry date (see `ProductStatus::on`).
    ProductStatus {
        Valid = "valid", Suspended = "suspended", Revoked = "revoked",
        Withdrawn = "withdrawn", Expired = "expired",
    }
}

vocabulary! {
    /// Product category of a certified product.
    ProductCategory {
        Grain = "grain", Vegetable = "vegetable", Fruit = "fruit", Tea = "tea",
        Legume = "legume", Oil = "oil", Fungi = "fungi", Livestock = "livestock",
        Dairy = "dairy", Aquatic = "aquatic", BeeProduct = "bee_product",
        ProcessedFood = "processed_food", BuildingMaterials = "building_materials",
        Furniture = "furniture", Textiles = "textiles", Detergents = "detergents",
        Plastics = "plastics", Appliances = "appliances", Paper = "paper",
        Packaging = "packaging", Other = "other",
    }
}

impl CertificationType {
    /// The scheme this type belongs to.
    pub fn scheme(self) -> Scheme {
        match self {
            Self::Organic | Self::InConversion => Scheme::Organic,
            Self::FullGreen | Self::GreenAttribute => Scheme::Green,
        }
    }
}

impl ProductStatus {
    /// The status on `day` of a certificate whose registry status is `self`
    /// and which expires at the end of `expires_on`: a valid or suspended
    /// certificate past its expiry is expired; revoked and withdrawn stay
    /// what they are (they say more).
    pub fn on(self, expires_on: NaiveDate, day: NaiveDate) -> Self {
        match self {
            Self::Valid | Self::Suspended if day > expires_on => Self::Expired,
            other => other,
        }
    }

    /// Statuses a registry may record (everything but the derived `expired`).
    pub fn is_stored(self) -> bool {
        self != Self::Expired
    }
}

/// Normalizes a number typed by a person: full-width ASCII (Ａ１－) to
/// ASCII, surrounding white space (including the ideographic space) removed,
/// letters upper case.
pub fn normalize_number(raw: &str) -> String {
    // Trimmed first: no full-width form maps to white space, and U+3000
    // (which maps to a space) is white space already.
    let raw = raw.trim();
    let mut out = String::with_capacity(raw.len());
    out.extend(raw.chars().map(|c| match c {
        '\u{FF01}'..='\u{FF5E}' => {
            char::from_u32(c as u32 - 0xFEE0).map_or(c, |c| c.to_ascii_uppercase())
        }
        '\u{3000}' => ' ',
        other => other.to_ascii_uppercase(),
    }));
    out
}

/// A certificate number, normalized: 4–40 of `A–Z 0–9 - /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateNo(String);

// Full-width forms and lower case are read as their ASCII upper case, and
// surrounding spaces are trimmed (`normalize_number`).
super::string_schema!(
    CertificateNo,
    pattern = r"^[ \u3000]*[-/0-9A-Za-z\uFF0D\uFF0F\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]{4,40}[ \u3000]*$",
    example = "001OP2100123",
    "A certificate number: 4 to 40 letters, digits, '-' or '/' (case, full-width forms and surrounding spaces are tolerated)."
);

impl CertificateNo {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for CertificateNo {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let number = normalize_number(raw);
        let allowed =
            |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '/';
        if (4..=40).contains(&number.len()) && number.chars().all(allowed) {
            Ok(Self(number))
        } else {
            Err(Invalid(format!(
                "must be a certificate number of 4 to 40 letters, digits, '-' or '/', got {raw:?}"
            )))
        }
    }
}

/// Characters of a unified social credit code, in the order whose index is
/// each character's value (GB 32100-2015: digits and upper-case letters
/// without I, O, Z, S, V).
const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code (统一社会信用代码): 18 characters whose last
/// is the GB 32100 check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for CreditCode {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let code = normalize_number(raw);
        let values: Option<Vec<u32>> = code
            .chars()
            .map(|c| CREDIT_ALPHABET.find(c).map(|i| i as u32))
            .collect();
        let Some(values) = values.filter(|v| v.len() == 18) else {
            return Err(Invalid(format!(
                "must be a unified social credit code of 18 characters (digits and \
                 letters other than I, O, S, V, Z), got {raw:?}"
            )));
        };
        let sum: u32 = values[..17]
            .iter()
            .zip(CREDIT_WEIGHTS)
            .map(|(v, w)| v * w)
            .sum();
        let check = (31 - sum % 31) % 31;
        if values[17] != check {
            return Err(Invalid(format!(
                "check character of {raw:?} is wrong (GB 32100 gives {:?})",
                CREDIT_ALPHABET.as_bytes()[check as usize] as char
            )));
        }
        Ok(Self(code))
    }
}

/// A CNCA approval number of a certification body: `CNCA-R-2002-001`, or
/// `CNCA-RF-2006-45` for a foreign-invested body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalNo {
    number: String,
    foreign: bool,
    serial: u32,
}

impl ApprovalNo {
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The body's code in organic codes: the three-digit serial, or 9 and
    /// the two-digit serial for a foreign-invested body.
    pub fn organic_code_prefix(&self) -> String {
        if self.foreign {
            format!("9{:02}", self.serial % 100)
        } else {
            format!("{:03}", self.serial % 1000)
        }
    }
}

impl FromStr for ApprovalNo {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let number = normalize_number(raw);
        let parts: Vec<&str> = number.split('-').collect();
        let parsed = match parts.as_slice() {
            ["CNCA", kind @ ("R" | "RF"), year, serial]
                if year.len() == 4
                    && year.bytes().all(|b| b.is_ascii_digit())
                    && (2..=3).contains(&serial.len())
                    && serial.bytes().all(|b| b.is_ascii_digit()) =>
            {
                serial.parse().ok().map(|serial| Self {
                    foreign: *kind == "RF",
                    serial,
                    number: number.clone(),
                })
            }
            _ => None,
        };
        parsed.ok_or_else(|| {
            Invalid(format!(
                "must be a CNCA approval number such as CNCA-R-2002-001 or CNCA-RF-2006-45, got {raw:?}"
            ))
        })
    }
}

/// Which published layout an organic code follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganicCodeLayout {
    /// 国家有机产品认证标志编码规则 (CNCA, 2012; in the 2014 and 2019
    /// implementation rules): 17 digits — certification body (3), year the
    /// mark was issued (2), serial chosen by the body (12).
    #[serde(rename = "cnca_2012")]
    Cnca2012,
}

impl OrganicCodeLayout {
    /// The name it is written as.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cnca2012 => "cnca_2012",
        }
    }
}

/// An organic code (有机码), checked against its layout and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganicCode {
    pub digits: String,
    pub layout: OrganicCodeLayout,
    /// The certification body's code: see `ApprovalNo::organic_code_prefix`.
    pub body_code: String,
    /// Year the mark was issued (20YY).
    pub year: i32,
    pub serial: String,
}

impl OrganicCode {
    /// The code as a number, for range look-ups.
    pub fn value(&self) -> i64 {
        self.digits.parse().unwrap_or_default()
    }
}

/// Latest year an organic code may name: codes are issued for use now, so a
/// year after next is a typo.
fn plausible_year(year: i32, this_year: i32) -> bool {
    (2005..=this_year + 1).contains(&year)
}

impl OrganicCode {
    /// Parses and decodes `raw` (spaces, hyphens, full-width digits and a
    /// leading 有机码 label are tolerated). `this_year` bounds the year field.
    pub fn parse(raw: &str, this_year: i32) -> Result<Self, Invalid> {
        let code = Self::decode(raw)?;
        if !plausible_year(code.year, this_year) {
            return Err(Invalid(format!(
                "digits 4–5 of an organic code are the year the mark was issued; \
                 {} is not a year a mark can have been issued",
                code.year
            )));
        }
        Ok(code)
    }

    /// The layout alone: 17 digits, whatever year they name. A look-up takes
    /// this (a code of an impossible year is simply on no certificate); an
    /// import, which creates ranges, takes `parse`.
    pub fn decode(raw: &str) -> Result<Self, Invalid> {
        let mut digits = normalize_number(raw);
        if digits.starts_with("有机码") {
            digits.drain(.."有机码".len());
        }
        digits.retain(|c| !matches!(c, ' ' | '-' | ':' | '：'));
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid(format!(
                "an organic code has digits only, got {raw:?}"
            )));
        }
        if digits.len() != 17 {
            return Err(Invalid(format!(
                "an organic code has 17 digits (certification body 3, year 2, serial 12), \
                 got {} in {raw:?}",
                digits.len()
            )));
        }
        Ok(Self {
            layout: OrganicCodeLayout::Cnca2012,
            body_code: digits[..3].to_owned(),
            year: 2000 + digits[3..5].parse::<i32>().unwrap_or_default(),
            serial: digits[5..].to_owned(),
            digits,
        })
    }
}

// The wire form `decode` accepts (`normalize_number` maps the full-width
// forms and U+3000 to ASCII first).
super::string_schema!(
    OrganicCode,
    pattern = r"^[ \u3000]*(有机码)?[ \u3000:\uFF1A\uFF0D-]*([0-9\uFF10-\uFF19][ \u3000:\uFF1A\uFF0D-]*){17}$",
    example = "001-21-000000123456",
    "An organic code (有机码): 17 digits (certification body 3, year 2, serial 12); spaces, hyphens, colons, full-width digits and a leading 有机码 label are tolerated."
);

#[cfg(test)]
mod tests {
    use super::*;

    fn credit(body: &str) -> String {
        let sum: u32 = body
            .chars()
            .zip(CREDIT_WEIGHTS)
            .map(|(c, w)| CREDIT_ALPHABET.find(c).unwrap() as u32 * w)
            .sum();
        let check = (31 - sum % 31) % 31;
        format!(
            "{body}{}",
            CREDIT_ALPHABET.as_bytes()[check as usize] as char
        )
    }

    #[test]
    fn credit_codes_carry_the_gb_32100_check_character() {
        // Published example of GB 32100-2015 (Appendix): 91350100M000100Y43.
        assert!("91350100M000100Y43".parse::<CreditCode>().is_ok());
        let good = credit("91360100MA35F0XX1");
        assert!(good.parse::<CreditCode>().is_ok(), "{good}");
        // Full width and lower case are normalized.
        assert!(" ９１３５０１００m０００１００y４３ "
            .parse::<CreditCode>()
            .is_ok());
        for bad in [
            "91350100M000100Y44", // wrong check character
            "91350100M000100Y4",  // 17 characters
            "91350100M0001O0Y43", // O is not in the alphabet
            "",
        ] {
            assert!(bad.parse::<CreditCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn approval_numbers_give_the_organic_code_prefix() {
        let domestic: ApprovalNo = "CNCA-R-2002-001".parse().unwrap();
        assert_eq!(domestic.organic_code_prefix(), "001");
        let foreign: ApprovalNo = "cnca-rf-2006-45".parse().unwrap();
        assert_eq!(foreign.organic_code_prefix(), "945");
        for bad in [
            "CNCA-2002-001",
            "CNCA-R-02-001",
            "CNCA-X-2002-001",
            "CNCA-R-2002-1",
        ] {
            assert!(bad.parse::<ApprovalNo>().is_err(), "{bad}");
        }
    }

    #[test]
    fn organic_codes_decode_body_year_and_serial() {
        let code = OrganicCode::parse("有机码 001 21 000000123456", 2026).unwrap();
        assert_eq!(code.digits, "00121000000123456");
        assert_eq!(code.body_code, "001");
        assert_eq!(code.year, 2021);
        assert_eq!(code.serial, "000000123456");
        assert_eq!(code.layout, OrganicCodeLayout::Cnca2012);
        assert!(OrganicCode::parse("００１２１００００００１２３４５６", 2026).is_ok());
        for (bad, rule) in [
            ("0012100000012345", "17 digits"),
            ("001210000001234567", "17 digits"),
            ("00121000000A23456", "digits only"),
            ("00199000000123456", "year"),
        ] {
            let err = OrganicCode::parse(bad, 2026).unwrap_err();
            assert!(err.0.contains(rule), "{bad}: {err}");
        }
    }

    #[test]
    fn expiry_is_derived_in_the_calendar() {
        let expires = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let on = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        assert_eq!(
            ProductStatus::Valid.on(expires, on(21)),
            ProductStatus::Valid
        );
        assert_eq!(
            ProductStatus::Valid.on(expires, on(22)),
            ProductStatus::Expired
        );
        assert_eq!(
            ProductStatus::Suspended.on(expires, on(22)),
            ProductStatus::Expired
        );
        assert_eq!(
            ProductStatus::Revoked.on(expires, on(22)),
            ProductStatus::Revoked
        );
    }

    #[test]
    fn certificate_numbers_are_normalized() {
        let no: CertificateNo = " ００１ｏｐ２１００００１２３\u{3000}".parse().unwrap();
        assert_eq!(no.as_str(), "001OP210000123");
        assert!("001 OP".parse::<CertificateNo>().is_err());
        assert!("OP".parse::<CertificateNo>().is_err());
    }
}
