//! Strict query strings: every parameter must be one the endpoint declares and
//! appear at most once, so a typo (`?regoin=…`) is a 400, never "everything".

use std::collections::HashSet;
use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::domain::{CoordSys, Invalid, LatLon, Limit, RadiusKm};
use crate::error::{ApiError, FieldError};

/// Extracts `T` (a struct of optional strings) from the query string after
/// refusing unknown and repeated parameters. Typed validation happens when the
/// handler converts `T` into its filter, so every message names its field.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Params<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()).map(Params))
    }
}

fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    require_utf8(query)?;
    let allowed = field_names::<T>();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (key, _) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            let message = if allowed.is_empty() {
                "is not a parameter of this endpoint, which takes none".to_owned()
            } else {
                format!(
                    "is not a parameter of this endpoint; allowed: {}",
                    allowed.join(", ")
                )
            };
            errors.push(FieldError::new(key.as_ref(), message));
        } else if !seen.insert(key.clone()) {
            errors.push(FieldError::new(
                key.as_ref(),
                "is given more than once; give it once",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    serde_urlencoded::from_str(query).map_err(|err| ApiError::invalid("query", err.to_string()))
}

/// Percent-encoded bytes must decode to UTF-8 without NUL: lossy decoding
/// would turn bad input into a silent U+FFFD search.
fn require_utf8(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| {
            percent_encoding::percent_decode_str(&raw.replace('+', " "))
                .decode_utf8()
                .map(|text| text.into_owned())
                .ok()
                .filter(|text| !text.contains('\0'))
        };
        let field = decode(key).unwrap_or_else(|| "query".to_owned());
        if decode(key).is_none() || decode(value).is_none() {
            return Err(ApiError::invalid(
                field,
                "must be percent-encoded UTF-8 without NUL characters",
            ));
        }
    }
    Ok(())
}

/// Collects field errors while a handler converts raw parameters into types.
#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    /// Parses an optional raw value, recording a refusal under `field`.
    pub fn parse<V>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<V, Invalid>,
    ) -> Option<V> {
        let raw = raw?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(Invalid(message)) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// The page size: `limit` if given (1..=100), else 20.
    pub fn limit(&mut self, raw: Option<&str>) -> i64 {
        let limit = self.parse("limit", Some(raw.unwrap_or("20")), str::parse::<Limit>);
        limit.map_or(1, |l| i64::from(l.get()))
    }

    pub fn refuse(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `Ok(value)` when nothing was refused, else 400 listing every refusal.
    pub fn finish<V>(self, value: V) -> Result<V, ApiError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}

/// The `facets` parameter: names from `allowed`, comma-separated, each once.
pub fn facets(check: &mut Checker, raw: &str, allowed: &[&'static str]) -> Vec<&'static str> {
    let mut facets = Vec::new();
    for name in raw.split(',').map(str::trim) {
        match allowed.iter().find(|f| **f == name) {
            Some(f) if !facets.contains(f) => facets.push(*f),
            Some(_) => {}
            None => {
                check.refuse(
                    "facets",
                    format!("{name:?} is not a facet; allowed: {}", allowed.join(", ")),
                );
                break;
            }
        }
    }
    facets
}

/// The page size of a feed or export (CSV, iCalendar): 1 to 1000, default 1000.
pub fn feed_limit(check: &mut Checker, raw: Option<&str>) -> i64 {
    let parsed = check.parse("limit", Some(raw.unwrap_or("1000")), |raw| {
        match raw.parse::<i64>() {
            Ok(n) if (1..=1000).contains(&n) && !raw.starts_with('+') => Ok(n),
            _ => Err(Invalid(format!(
                "must be an integer from 1 to 1000, got {raw:?}"
            ))),
        }
    });
    parsed.unwrap_or(1)
}

/// A year between 2000 and 2100.
pub fn year(raw: &str) -> Result<i32, Invalid> {
    match raw.parse::<i32>() {
        Ok(y) if (2000..=2100).contains(&y) && raw.len() == 4 => Ok(y),
        _ => Err(Invalid(format!(
            "must be a year from 2000 to 2100, got {raw:?}"
        ))),
    }
}

/// `near` + `radius_km` given in `coord`, as a WGS-84 point and radius:
/// `radius_km` alone is refused.
pub fn near(
    check: &mut Checker,
    near: Option<&str>,
    radius_km: Option<&str>,
    coord: CoordSys,
) -> Option<(LatLon, RadiusKm)> {
    let point = check.parse("near", near, str::parse::<LatLon>);
    let radius = check.parse("radius_km", radius_km, str::parse::<RadiusKm>);
    if radius.is_some() && near.is_none() {
        check.refuse("radius_km", "needs `near`");
    }
    point.map(|p| (coord.to_wgs84(p), radius.unwrap_or(RadiusKm::DEFAULT)))
}

/// `coord_sys`: the coordinate system of `near` and of the points returned.
pub fn coord_sys(check: &mut Checker, raw: Option<&str>) -> CoordSys {
    check
        .parse("coord_sys", raw, str::parse::<CoordSys>)
        .unwrap_or(CoordSys::Wgs84)
}

/// Only `coord_sys`, for single records that carry points.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoordQuery {
    /// Coordinate system of the points returned: `wgs84` (default), `gcj02` (AMap, Tencent), `bd09` (Baidu).
    #[param(value_type = Option<CoordSys>)]
    pub coord_sys: Option<String>,
}

impl CoordQuery {
    pub fn parse(self) -> Result<CoordSys, crate::error::ApiError> {
        let mut check = Checker::default();
        let coord = coord_sys(&mut check, self.coord_sys.as_deref());
        check.finish(coord)
    }
}

/// `true` or `false`, nothing else.
pub fn boolean(raw: &str) -> Result<bool, Invalid> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Invalid(format!("must be true or false, got {raw:?}"))),
    }
}

/// For endpoints that take no query parameters: they still refuse unknown ones.
#[derive(Debug, serde::Deserialize)]
pub struct NoParams {}

/// The field names serde's derive declares for `T`, read by asking `T` to
/// deserialize itself from a probe that records them and stops.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<String>,
        q: Option<String>,
    }

    #[test]
    fn refuses_unknown_and_repeated_parameters() {
        assert!(parse::<Q>("limit=5&q=x").is_ok());
        let ApiError::Invalid(errors) = parse::<Q>("limt=5").unwrap_err() else {
            panic!("expected invalid")
        };
        assert_eq!(errors[0].field, "limt");
        let ApiError::Invalid(errors) = parse::<Q>("q=a&q=b").unwrap_err() else {
            panic!("expected invalid")
        };
        assert_eq!(errors[0].field, "q");
    }
}
