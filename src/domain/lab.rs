//! Labs: what they test, and their accreditation numbers.

use std::str::FromStr;

use super::Invalid;

vocabulary! {
    /// What a lab tests.
    LabField {
        Food = "food", Agriculture = "agriculture", Electronics = "electronics", Emc = "emc",
        ElectricalSafety = "electrical_safety", Environment = "environment",
        Construction = "construction", Textiles = "textiles", Chemicals = "chemicals",
        MedicalDevices = "medical_devices", Automotive = "automotive", Metrology = "metrology",
    }
}

/// A CMA (检验检测机构资质认定) certificate number: 12 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmaNumber(String);

impl CmaNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for CmaNumber {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(format!(
                "must be a CMA certificate number of 12 digits, got {raw:?}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cma_numbers_are_twelve_ascii_digits() {
        assert!("161412050112".parse::<CmaNumber>().is_ok());
        for bad in [
            "16141205011",
            "1614120501123",
            "16141205011a",
            "１６１４１２０５０１１２",
            "",
        ] {
            assert!(bad.parse::<CmaNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn field_sets_round_trip_through_their_mask() {
        let fields = [LabField::Emc, LabField::Food];
        let mask = LabField::mask(&fields);
        assert_eq!(
            LabField::from_mask(mask),
            vec![LabField::Food, LabField::Emc]
        );
        assert_eq!(LabField::mask(&[]), 0);
    }
}
