//! Event vocabularies and the time window of event filters.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, TimeZone};

use super::{parse_date, Invalid, SHANGHAI};

vocabulary! {
    /// Whether an event takes place as planned.
    EventStatus { Scheduled = "scheduled", Postponed = "postponed", Cancelled = "cancelled", Completed = "completed" }
}

vocabulary! {
    /// What happens at an event.
    Activity {
        Lecture = "lecture", Training = "training", SiteVisit = "site_visit",
        QualityClass = "quality_class", ExpertQa = "expert_qa", FreeTesting = "free_testing",
        CloudTour = "cloud_tour", WorksCall = "works_call", LabTour = "lab_tour",
        ExpertHelp = "expert_help", Consultation = "consultation", Exhibition = "exhibition",
    }
}

vocabulary! {
    /// In person, online, or both.
    Attendance { Offline = "offline", Online = "online", Mixed = "mixed" }
}

vocabulary! {
    /// How exact a point is: `exact`, or `region` when it is the centroid of
    /// the division the notice names because it gives no address.
    Precision { Exact = "exact", Region = "region" }
}

vocabulary! {
    /// Order of an event list.
    EventSort { StartsAt = "starts_at", StartsAtDesc = "-starts_at", Distance = "distance" }
}

/// A time bound given as a date (Asia/Shanghai calendar day) or an RFC 3339
/// datetime with offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    Date(chrono::NaiveDate),
    Instant(DateTime<FixedOffset>),
}

impl utoipa::PartialSchema for TimeBound {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::AnyOfBuilder;
        use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let text = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        AnyOfBuilder::new()
            .item(text(KnownFormat::Date))
            .item(text(KnownFormat::DateTime))
            .description(Some(
                "A date (YYYY-MM-DD, Asia/Shanghai) or an RFC 3339 instant with its offset.",
            ))
            .examples([serde_json::json!("2022-09-01")])
            .into()
    }
}

impl utoipa::ToSchema for TimeBound {}

impl TimeBound {
    /// Years outside 1900..=2200 are read as the nearest end of that span:
    /// nothing here happens outside it, so a window reaching further selects
    /// the same records, and instants near year 9999 stay clear of the
    /// limits of the stores' timestamp types.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bound = if raw.len() == 10 {
            parse_date(raw).map(Self::Date)?
        } else {
            DateTime::parse_from_rfc3339(raw)
                .map(Self::Instant)
                .map_err(|_| {
                    Invalid(format!(
                    "must be a date YYYY-MM-DD or an RFC 3339 datetime with offset, got {raw:?}"
                ))
                })?
        };
        let year = match bound {
            Self::Date(d) => d.year(),
            Self::Instant(t) => t.naive_utc().year(),
        };
        let clamp = |month, day| {
            chrono::NaiveDate::from_ymd_opt(year.clamp(1900, 2200), month, day).map(Self::Date)
        };
        Ok(match year {
            ..1900 => clamp(1, 1).unwrap_or(bound),
            2201.. => clamp(12, 31).unwrap_or(bound),
            _ => bound,
        })
    }

    /// The first instant the bound covers, as naive UTC.
    pub fn start_utc(self) -> NaiveDateTime {
        match self {
            Self::Date(d) => midnight_utc(d),
            Self::Instant(t) => t.naive_utc(),
        }
    }

    /// The instant just after the bound (a date covers its whole day).
    pub fn end_utc_exclusive(self) -> NaiveDateTime {
        match self {
            Self::Date(d) => midnight_utc(d + Duration::days(1)),
            Self::Instant(t) => t.naive_utc() + Duration::microseconds(1),
        }
    }
}

fn midnight_utc(date: chrono::NaiveDate) -> NaiveDateTime {
    SHANGHAI
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("fixed offsets are unambiguous")
        .naive_utc()
}

/// `[from, to]` of an event filter: an event matches when it overlaps the
/// window (`starts_at < end && ends_at > start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
}

impl Window {
    pub fn new(from: Option<TimeBound>, to: Option<TimeBound>) -> Result<Self, Invalid> {
        let window = Self {
            start: from.map(TimeBound::start_utc),
            end: to.map(TimeBound::end_utc_exclusive),
        };
        if let (Some(start), Some(end)) = (window.start, window.end) {
            if start >= end {
                return Err(Invalid::new("must not be after `to`"));
            }
        }
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_cover_whole_shanghai_days() {
        let w = Window::new(
            Some(TimeBound::parse("2022-09-19").unwrap()),
            Some(TimeBound::parse("2022-09-19").unwrap()),
        )
        .unwrap();
        assert_eq!(w.start.unwrap().to_string(), "2022-09-18 16:00:00");
        assert_eq!(w.end.unwrap().to_string(), "2022-09-19 16:00:00");
        assert!(TimeBound::parse("2024-02-30").is_err());
        assert_eq!(
            TimeBound::parse("9999-12-31T23:59:59-00:01"),
            TimeBound::parse("2200-12-31")
        );
        assert_eq!(
            TimeBound::parse("0001-01-01"),
            TimeBound::parse("1900-01-01")
        );
        assert!(
            TimeBound::parse("2024-02-29T10:00:00").is_err(),
            "offset required"
        );
        assert!(Window::new(
            Some(TimeBound::parse("2022-09-20").unwrap()),
            Some(TimeBound::parse("2022-09-19").unwrap())
        )
        .is_err());
    }
}
