//! Points, radii and distances. Coordinates are WGS-84 (GeoJSON requires it).

use std::str::FromStr;

use super::Invalid;

/// Mean Earth radius used by the haversine formula.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A WGS-84 point, parsed from `lat,lon`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<Self, Invalid> {
        // `is_finite` first: NaN and infinities parse as f64 and fail no range check.
        if !lat.is_finite() || !lon.is_finite() {
            return Err(Invalid::new("coordinates must be finite numbers"));
        }
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(Invalid(format!(
                "latitude must be within -90..90 and longitude within -180..180, got {lat},{lon}"
            )));
        }
        Ok(Self { lat, lon })
    }

    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(self, other: LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }

    /// The point on the unit sphere, for chord-length distance in SQL.
    pub fn unit_vector(self) -> [f64; 3] {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }

    /// A box that contains every point within `radius` of `self`: the cheap,
    /// indexed prefilter before the exact distance.
    pub fn bounding_box(self, radius: RadiusKm) -> BoundingBox {
        let dlat = (radius.get() / EARTH_RADIUS_KM).to_degrees();
        let cos_lat = self.lat.to_radians().cos().max(1e-6);
        let dlon = (dlat / cos_lat).min(180.0);
        BoundingBox {
            min_lat: self.lat - dlat,
            max_lat: self.lat + dlat,
            min_lon: self.lon - dlon,
            max_lon: self.lon + dlon,
        }
    }
}

impl FromStr for LatLon {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        let refuse = || {
            Invalid(format!(
                "must be `lat,lon` in decimal degrees (WGS-84), got {raw:?}"
            ))
        };
        let (lat, lon) = raw.split_once(',').ok_or_else(refuse)?;
        let lat: f64 = lat.trim().parse().map_err(|_| refuse())?;
        let lon: f64 = lon.trim().parse().map_err(|_| refuse())?;
        Self::new(lat, lon)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lon: f64,
    pub max_lon: f64,
}

/// Search radius: 0 < r ≤ 500 km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadiusKm(f64);

impl RadiusKm {
    pub const MAX: f64 = 500.0;
    pub const DEFAULT: RadiusKm = RadiusKm(50.0);

    pub fn get(self) -> f64 {
        self.0
    }

    /// Squared chord on the unit sphere of an arc of this length: points
    /// within the radius are exactly those with a squared chord ≤ this.
    pub fn chord2(self) -> f64 {
        let half_angle = self.0 / EARTH_RADIUS_KM / 2.0;
        (2.0 * half_angle.sin()).powi(2)
    }
}

impl FromStr for RadiusKm {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= Self::MAX => Ok(Self(r)),
            _ => Err(Invalid(format!(
                "must be > 0 and ≤ 500 (kilometres), got {raw:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nan_infinity_and_out_of_range() {
        for bad in [
            "NaN,1", "1,inf", "-inf,0", "91,0", "0,181", "abc", "1", "1,2,3",
        ] {
            assert!(bad.parse::<LatLon>().is_err(), "{bad}");
        }
        for bad in ["0", "-1", "501", "NaN", "inf", ""] {
            assert!(bad.parse::<RadiusKm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn haversine_nanchang_to_ganzhou() {
        let nanchang = LatLon::new(28.68, 115.86).unwrap();
        let ganzhou = LatLon::new(25.83, 114.93).unwrap();
        let d = nanchang.distance_km(ganzhou);
        assert!((320.0..340.0).contains(&d), "{d}");
        let chord2 = |a: LatLon, b: LatLon| {
            let (u, v) = (a.unit_vector(), b.unit_vector());
            (0..3).map(|i| (u[i] - v[i]).powi(2)).sum::<f64>()
        };
        let just_inside: RadiusKm = format!("{}", d + 0.01).parse().unwrap();
        let just_outside: RadiusKm = format!("{}", d - 0.01).parse().unwrap();
        assert!(chord2(nanchang, ganzhou) <= just_inside.chord2());
        assert!(chord2(nanchang, ganzhou) > just_outside.chord2());
        let b = nanchang.bounding_box("30".parse().unwrap());
        assert!(b.min_lat < 28.5 && b.max_lat > 28.9);
    }
}
