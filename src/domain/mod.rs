//! Pure domain types and rules: no I/O, no HTTP, no SQL. Constructors are the
//! only place a validation rule lives; `api` and `db` both build on them.

/// A closed set of wire values: an enum with its text, parsing that lists
/// what is allowed, and a bit per value for sets stored as integers.
macro_rules! vocabulary {
    ($(#[doc = $doc:literal])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        // Written out: the derive does not see a `rename` passed through a
        // macro, and the wire texts (`-starts_at`) are the values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let doc: Vec<&str> = [$($doc),*].iter().map(|line| line.trim()).collect();
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .enum_values(Some([$($text),+]))
                    .description(Some(doc.join("\n")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// This value's bit in a set stored as an integer (bit i = `ALL[i]`).
            pub fn bit(self) -> i64 {
                let index = Self::ALL.iter().position(|v| *v == self).unwrap_or(0);
                1 << index
            }

            /// The set of `values` as an integer.
            pub fn mask(values: &[Self]) -> i64 {
                values.iter().fold(0, |mask, v| mask | v.bit())
            }

            /// The values of a stored set, in vocabulary order.
            pub fn from_mask(mask: i64) -> Vec<Self> {
                Self::ALL.iter().copied().filter(|v| mask & v.bit() != 0).collect()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::Invalid;
            fn from_str(raw: &str) -> Result<Self, $crate::domain::Invalid> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::domain::Invalid(format!("must be one of {}, got {raw:?}", allowed.join(", ")))
                })
            }
        }
    };
}

pub(crate) use vocabulary;

/// The OpenAPI schema of a newtype that travels as a string: a named
/// component whose `pattern` says what the type's parser accepts, so that
/// clients (and the contract fuzzer) can tell a valid value from the document.
/// Patterns use `[0-9]` and a literal space, not `\d` and `\s`, which
/// match more in some regex dialects than the parser does.
macro_rules! string_schema {
    ($name:ident, pattern = $pattern:literal, example = $example:literal, $description:literal) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .pattern(Some($pattern))
                    .description(Some($description))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

pub(crate) use string_schema;

mod access;
mod adcode;
mod campaign;
mod event;
mod geo;
mod lab;
pub mod localize;
mod paging;
pub mod poster;
mod product;
mod search;
mod time;

pub use access::{looks_like_token, new_token, token_hash, token_name, Actor, Place, Role, Scope};
pub use adcode::{Adcode, RegionLevel};
pub use campaign::CampaignKind;
pub use event::{Activity, Attendance, EventSort, EventStatus, Precision, TimeBound, Window};
pub use geo::{BoundingBox, CoordSys, LatLon, RadiusKm};
pub use lab::{CmaNumber, LabField};
pub use paging::{Limit, RecordId};
pub use product::{
    normalize_number, ApprovalNo, CertificateNo, CertificationType, CreditCode, OrganicCode,
    OrganicCodeLayout, ProductCategory, ProductStatus, Scheme,
};
pub use search::{index_tokens, SearchQuery};
pub use time::{
    date, date_text, optional_date, parse_date, rfc3339, to_shanghai, today_in_shanghai,
    write_digits, SHANGHAI,
};

/// Why a raw input value was refused; the caller adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
