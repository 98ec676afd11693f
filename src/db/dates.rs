//! Dates and timestamps read from SQLite's text columns without chrono's
//! format parser.
//!
//! SQLite stores `DATE` and `TIMESTAMP` as text. Diesel parses each value
//! with `parse_from_str` against a list of format strings, re-reading the
//! format on every call; on a page of 20 certificates or sessions that was
//! about 4–5 % of a request's CPU. Every value this API writes has one fixed
//! layout (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.ffffff]`, as diesel encodes
//! them), read here directly; anything else falls back to diesel's parser.
//! PostgreSQL sends binary dates, read by diesel as before.
//!
//! Rows name these as `#[diesel(deserialize_as = Day)]` on a `NaiveDate`
//! field (`MaybeDay` for `Option<NaiveDate>`, `Stamp` for `NaiveDateTime`).
//!
//! The other way, diesel writes a bound timestamp for SQLite with chrono's
//! `%F %T%.f` items, parsed again from the format string at every bind
//! (three binds on an event-list page, 2 % of its CPU); `Stamp` as a bind
//! writes the same text directly. SQLite compares these as text, so the
//! text must be exactly chrono's, as the tests check.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Date, Nullable, Timestamp};
use diesel::sqlite::Sqlite;

use super::multi_connection_impl::{MultiBackend, MultiRawValue};

/// A `DATE` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow)]
pub struct Day(pub NaiveDate);

/// A `TIMESTAMP` column's value, or a bound one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct Stamp(pub NaiveDateTime);

/// A nullable `DATE` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow)]
pub struct MaybeDay(pub Option<NaiveDate>);

impl From<MaybeDay> for Option<NaiveDate> {
    fn from(day: MaybeDay) -> Self {
        day.0
    }
}

impl From<Day> for NaiveDate {
    fn from(day: Day) -> Self {
        day.0
    }
}

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

/// `YYYY-MM-DD` exactly.
fn day(text: &[u8]) -> Option<NaiveDate> {
    match text {
        [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] => {
            let year = digits(&[*y0, *y1, *y2, *y3])?;
            let month = digits(&[*m0, *m1])?;
            let day = digits(&[*d0, *d1])?;
            NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
        }
        _ => None,
    }
}

/// `YYYY-MM-DD HH:MM:SS`, then optionally `.` and 1 to 9 fraction digits.
fn stamp(text: &[u8]) -> Option<NaiveDateTime> {
    let (date, rest) = text.split_at_checked(10)?;
    let (time, fraction) = rest.split_at_checked(9)?;
    let [b' ', h0, h1, b':', n0, n1, b':', s0, s1] = time else {
        return None;
    };
    let nanos = match fraction {
        [] => 0,
        [b'.', digits_ @ ..] if (1..=9).contains(&digits_.len()) => {
            digits(digits_)? * 10u32.pow(9 - digits_.len() as u32)
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(
        digits(&[*h0, *h1])?,
        digits(&[*n0, *n1])?,
        digits(&[*s0, *s1])?,
        nanos,
    )?;
    Some(day(date)?.and_time(time))
}

/// `at` as chrono's `%F %T%.f` writes it (the fraction in 0, 3, 6 or 9
/// digits, as few as hold it exactly), for years 0 to 9999 and no leap
/// second; `None` for anything else, which chrono writes itself.
fn stamp_text(at: &NaiveDateTime) -> Option<String> {
    use crate::domain::{date_text, write_digits};
    use chrono::Timelike;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut text = *b"0000-00-00 00:00:00.000000000";
    text[..10].copy_from_slice(&date_text(&at.date())?);
    write_digits(&mut text[11..13], at.hour());
    write_digits(&mut text[14..16], at.minute());
    write_digits(&mut text[17..19], at.second());
    write_digits(&mut text[20..20 + digits], fraction);
    let written = if digits == 0 { 19 } else { 20 + digits };
    String::from_utf8(text[..written].to_vec()).ok()
}

/// The number written in ASCII `digits` (all of them digits).
fn digits(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

impl FromSql<Date, Sqlite> for Day {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match day(value.read_text().as_bytes()) {
            Some(parsed) => Ok(Self(parsed)),
            None => <NaiveDate as FromSql<Date, Sqlite>>::from_sql(value).map(Self),
        }
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match stamp(value.read_text().as_bytes()) {
            Some(parsed) => Ok(Self(parsed)),
            None => <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self),
        }
    }
}

impl ToSql<Timestamp, Sqlite> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match stamp_text(&self.0) {
            Some(text) => {
                out.set_value(text);
                Ok(IsNull::No)
            }
            None => <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
        }
    }
}

impl ToSql<Timestamp, Pg> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl ToSql<Timestamp, MultiBackend> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Timestamp, self));
        Ok(IsNull::No)
    }
}

impl FromSql<Date, Pg> for Day {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDate as FromSql<Date, Pg>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

impl FromSql<Date, MultiBackend> for Day {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Date>()
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: MultiRawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

/// SQL `NULL` is `MaybeDay(None)`; a value reads as `Day` does, on every backend.
impl<DB: Backend> FromSql<Nullable<Date>, DB> for MaybeDay
where
    Day: FromSql<Date, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        Day::from_sql(value).map(|day| Self(Some(day.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(Self(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout diesel writes reads back the same through the fast path,
    /// and what it does not cover is left to diesel.
    #[test]
    fn the_fixed_layouts_read_as_chrono_reads_them() {
        let base = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        for (days, nanos) in [
            (0, 0),
            (1, 500_000_000),
            (-400, 725_548_000),
            (3000, 1),
            (-1, 999_999_999),
        ] {
            let date = base + chrono::Duration::days(days);
            let at = date.and_hms_nano_opt(23, 59, 58, nanos).unwrap();
            assert_eq!(day(date.format("%F").to_string().as_bytes()), Some(date));
            let written = at.format("%F %T%.f").to_string();
            assert_eq!(stamp(written.as_bytes()), Some(at), "{written}");
        }
        for nanos in [
            0,
            1,
            10,
            999,
            1_000,
            120_000,
            500_000_000,
            999_999_999,
            7_000_000,
        ] {
            for at in [
                base.and_hms_nano_opt(0, 0, 0, nanos).unwrap(),
                NaiveDate::from_ymd_opt(9, 1, 2)
                    .unwrap()
                    .and_hms_nano_opt(3, 4, 5, nanos)
                    .unwrap(),
            ] {
                let text = stamp_text(&at);
                assert_eq!(text, Some(at.format("%F %T%.f").to_string()));
            }
        }
        let leap = base.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert_eq!(stamp_text(&leap), None);
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(stamp_text(&far), None);
        assert_eq!(
            stamp(b"2026-11-22 03:18:29.7"),
            NaiveDateTime::parse_from_str("2026-11-22 03:18:29.7", "%F %T%.f").ok()
        );
        for odd in [
            &b"2026-02-30"[..],
            b"2026-13-01",
            b"2026-1-01",
            b"2026-01-01 ",
            b"+2026-01-01",
            b"2026/01/01",
        ] {
            assert_eq!(day(odd), None, "{}", String::from_utf8_lossy(odd));
        }
        for odd in [
            &b"2026-01-01T10:00:00"[..],
            b"2026-01-01 10:00",
            b"2026-01-01 24:00:00",
            b"2026-01-01 10:00:00.",
            b"2026-01-01 10:00:00.1234567890",
            b"2026-01-01 10:00:00+08:00",
        ] {
            assert_eq!(stamp(odd), None, "{}", String::from_utf8_lossy(odd));
        }
    }
}
