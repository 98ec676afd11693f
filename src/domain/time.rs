use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

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
