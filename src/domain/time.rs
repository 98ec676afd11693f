use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::Invalid;

/// Asia/Shanghai has been UTC+8 all year since 1991, so a fixed offset is exact
/// for every date this API deals with and needs no time-zone database.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Stored timestamps are naive UTC; the wire shows them in Asia/Shanghai.
pub fn to_shanghai(utc: NaiveDateTime) -> DateTime<FixedOffset> {
    Utc.from_utc_datetime(&utc).with_timezone(&SHANGHAI)
}

/// Serializes a time exactly as chrono's `Serialize` does (RFC 3339, as many
/// fraction digits as needed, the offset as `+08:00`), for fields marked
/// `#[serde(serialize_with = "crate::domain::rfc3339")]`. chrono
/// hands serde_json its `Display`, which serde_json then escapes one
/// character at a time: 6.6 % of a nearby page (60 times per page) against
/// one string here.
pub fn rfc3339<S: serde::Serializer>(
    time: &DateTime<FixedOffset>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// Serializes a date exactly as chrono's `Serialize` does (`YYYY-MM-DD`),
/// for fields marked `#[serde(serialize_with = "crate::domain::date")]`:
/// chrono hands serde_json its `Display`, written and escaped one character
/// at a time through `core::fmt` (2 % of a campaign page, two dates a row).
pub fn date<S: serde::Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    match date_text(date) {
        Some(text) => {
            serializer.serialize_str(std::str::from_utf8(&text).expect("ASCII digits and dashes"))
        }
        None => serializer.collect_str(date),
    }
}

/// `date` as chrono writes it, `YYYY-MM-DD`, for the years 0 to 9999;
/// `None` outside them, where chrono writes a sign and more digits.
pub fn date_text(date: &NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(date.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let mut text = *b"0000-00-00";
    write_digits(&mut text[0..4], year);
    write_digits(&mut text[5..7], date.month());
    write_digits(&mut text[8..10], date.day());
    Some(text)
}

/// Writes the last `out.len()` decimal digits of `value` into `out`, zero-padded.
pub fn write_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `date` for a date that may be absent (`null`).
pub fn optional_date<S: serde::Serializer>(
    value: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => date(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// Today's calendar date in Asia/Shanghai.
pub fn today_in_shanghai() -> NaiveDate {
    Utc::now().with_timezone(&SHANGHAI).date_naive()
}

/// A calendar date as written on the wire (`YYYY-MM-DD`); impossible dates
/// such as 2024-02-30 are refused.
pub fn parse_date(raw: &str) -> Result<NaiveDate, Invalid> {
    let well_formed = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(Invalid(format!("must be a date YYYY-MM-DD, got {raw:?}")));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| Invalid(format!("is not a calendar date: {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Dates {
        #[serde(serialize_with = "date")]
        ours: NaiveDate,
        chronos: NaiveDate,
        #[serde(serialize_with = "optional_date")]
        maybe: Option<NaiveDate>,
    }

    /// Dates too: what chrono would have written, signs and all.
    #[test]
    fn dates_serialize_as_chrono_serializes_them() {
        for (y, m, d) in [
            (2026, 9, 1),
            (1, 1, 1),
            (999, 12, 31),
            (9999, 12, 31),
            (10000, 1, 2),
            (-5, 3, 4),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let json = serde_json::to_value(Dates {
                ours: day,
                chronos: day,
                maybe: Some(day),
            })
            .unwrap();
            assert_eq!(json["ours"], json["chronos"], "{day}");
            assert_eq!(json["maybe"], json["chronos"], "{day}");
        }
        let none = Dates {
            ours: NaiveDate::MIN,
            chronos: NaiveDate::MIN,
            maybe: None,
        };
        assert_eq!(
            serde_json::to_value(none).unwrap()["maybe"],
            serde_json::Value::Null
        );
        assert_eq!(
            serde_json::to_value(Dates {
                ours: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
                chronos: NaiveDate::MIN,
                maybe: None,
            })
            .unwrap()["ours"],
            "2026-09-01"
        );
    }

    #[derive(serde::Serialize)]
    struct Both {
        #[serde(serialize_with = "rfc3339")]
        ours: DateTime<FixedOffset>,
        chronos: DateTime<FixedOffset>,
    }

    /// The wire format does not change: what chrono would have written.
    #[test]
    fn times_serialize_as_chrono_serializes_them() {
        let base = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        for nanos in [0, 500_000_000, 725_548_000, 725_548_123, 1_000, 1] {
            let time = to_shanghai(base.and_hms_nano_opt(19, 5, 9, nanos).unwrap());
            let json = serde_json::to_value(Both {
                ours: time,
                chronos: time,
            })
            .unwrap();
            assert_eq!(json["ours"], json["chronos"], "{nanos}");
        }
        let noon = to_shanghai(base.and_hms_opt(4, 0, 0).unwrap());
        let json = serde_json::to_value(Both {
            ours: noon,
            chronos: noon,
        })
        .unwrap();
        assert_eq!(json["ours"], "2026-11-22T12:00:00+08:00");
    }
}
