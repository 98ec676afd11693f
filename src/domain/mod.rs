//! Pure domain types and rules: no I/O, no HTTP, no SQL. Constructors are the
//! only place a validation rule lives; `api` and `db` both build on them.

mod adcode;
mod campaign;
mod event;
mod geo;
mod paging;
mod search;
mod time;

pub use adcode::{Adcode, RegionLevel};
pub use campaign::CampaignKind;
pub use event::{Activity, Attendance, EventSort, EventStatus, Precision, TimeBound, Window};
pub use geo::{BoundingBox, LatLon, RadiusKm};
pub use paging::{Limit, RecordId};
pub use search::{index_tokens, SearchQuery};
pub use time::{parse_date, to_shanghai, today_in_shanghai, SHANGHAI};

/// Why a raw input value was refused; the caller adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
