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

// The documented text form; the parser also tolerates what `f64` reads
// (`1e1`, a leading `+`), which the pattern does not promise.
super::string_schema!(
    LatLon,
    pattern = r"^ *-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?) *, *-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?) *$",
    example = "28.68,115.86",
    "A point as `lat,lon` in decimal degrees, latitude -90..90, longitude -180..180."
);

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

vocabulary! {
    /// The coordinate system points are written in: stored and GeoJSON
    /// points are WGS-84; AMap and Tencent maps draw GCJ-02, Baidu BD-09.
    CoordSys { Wgs84 = "wgs84", Gcj02 = "gcj02", Bd09 = "bd09" }
}

impl CoordSys {
    /// A WGS-84 point as this system writes it (for output).
    pub fn from_wgs84(self, p: LatLon) -> LatLon {
        match self {
            CoordSys::Wgs84 => p,
            CoordSys::Gcj02 => wgs84_to_gcj02(p),
            CoordSys::Bd09 => gcj02_to_bd09(wgs84_to_gcj02(p)),
        }
    }

    /// A point written in this system, as WGS-84 (for input such as `near`).
    pub fn to_wgs84(self, p: LatLon) -> LatLon {
        match self {
            CoordSys::Wgs84 => p,
            CoordSys::Gcj02 => gcj02_to_wgs84(p),
            CoordSys::Bd09 => gcj02_to_wgs84(bd09_to_gcj02(p)),
        }
    }
}

// GCJ-02 is the published obfuscation of GB 20263 (the widely reproduced
// "eviltransform" formulas, Krasovsky ellipsoid). Outside mainland China's
// box the transform is the identity, as the published algorithm does.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

fn out_of_china(p: LatLon) -> bool {
    !(72.004..=137.8347).contains(&p.lon) || !(0.8293..=55.8271).contains(&p.lat)
}

/// The GCJ-02 offset (degrees of latitude, longitude) at a WGS-84 point.
fn gcj02_offset(p: LatLon) -> (f64, f64) {
    use std::f64::consts::PI;
    let (x, y) = (p.lon - 105.0, p.lat - 35.0);
    let common = (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    let mut dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    dlat += common;
    dlat += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlat += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let mut dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    dlon += common;
    dlon += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlon += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    let rad_lat = p.lat.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (dlat, dlon)
}

fn wgs84_to_gcj02(p: LatLon) -> LatLon {
    if out_of_china(p) {
        return p;
    }
    let (dlat, dlon) = gcj02_offset(p);
    LatLon {
        lat: p.lat + dlat,
        lon: p.lon + dlon,
    }
}

/// The inverse has no closed form: iterate until the forward transform of
/// the guess lands on the given point (well under a millimetre).
fn gcj02_to_wgs84(gcj: LatLon) -> LatLon {
    if out_of_china(gcj) {
        return gcj;
    }
    let mut guess = gcj;
    for _ in 0..30 {
        let there = wgs84_to_gcj02(guess);
        let (elat, elon) = (gcj.lat - there.lat, gcj.lon - there.lon);
        guess = LatLon {
            lat: guess.lat + elat,
            lon: guess.lon + elon,
        };
        if elat.abs() < 1e-10 && elon.abs() < 1e-10 {
            break;
        }
    }
    guess
}

const BD_X_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;

fn gcj02_to_bd09(p: LatLon) -> LatLon {
    if out_of_china(p) {
        return p;
    }
    let (x, y) = (p.lon, p.lat);
    let z = (x * x + y * y).sqrt() + 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) + 0.000003 * (x * BD_X_PI).cos();
    LatLon {
        lat: z * theta.sin() + 0.006,
        lon: z * theta.cos() + 0.0065,
    }
}

fn bd09_to_gcj02(p: LatLon) -> LatLon {
    if out_of_china(p) {
        return p;
    }
    let (x, y) = (p.lon - 0.0065, p.lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_X_PI).cos();
    LatLon {
        lat: z * theta.sin(),
        lon: z * theta.cos(),
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

    /// This radius times `fraction` (0 < fraction ≤ 1), still a valid radius.
    pub fn scaled(self, fraction: f64) -> Self {
        debug_assert!(fraction > 0.0 && fraction <= 1.0);
        Self(self.0 * fraction)
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

    /// Reference pairs of the published algorithm (eviltransform's tests).
    #[test]
    fn gcj02_and_bd09_match_the_reference_values_within_a_metre() {
        let within_a_metre = |a: LatLon, b: LatLon| a.distance_km(b) < 0.001;
        for (wgs, gcj) in [
            (
                (31.1774276, 121.5272106),
                (31.17530398364597, 121.531541859215),
            ),
            (
                (22.543847, 113.912316),
                (22.540796131694766, 113.9171764808363),
            ),
            (
                (39.911954, 116.377817),
                (39.91334545536069, 116.38404722455657),
            ),
        ] {
            let wgs = LatLon::new(wgs.0, wgs.1).unwrap();
            let gcj = LatLon::new(gcj.0, gcj.1).unwrap();
            assert!(
                within_a_metre(CoordSys::Gcj02.from_wgs84(wgs), gcj),
                "{wgs:?}"
            );
            assert!(
                within_a_metre(CoordSys::Gcj02.to_wgs84(gcj), wgs),
                "{gcj:?}"
            );
        }
        // BD-09 adds Baidu's offset on top of GCJ-02 (~1 km), and converting
        // back lands on the same WGS-84 point.
        let wgs = LatLon::new(28.68, 115.86).unwrap();
        let bd = CoordSys::Bd09.from_wgs84(wgs);
        let gcj = CoordSys::Gcj02.from_wgs84(wgs);
        assert!((0.5..1.5).contains(&bd.distance_km(gcj)), "{bd:?} {gcj:?}");
        assert!(within_a_metre(CoordSys::Bd09.to_wgs84(bd), wgs));
        // Outside China the published algorithm leaves points alone.
        let paris = LatLon::new(48.8566, 2.3522).unwrap();
        assert_eq!(CoordSys::Gcj02.from_wgs84(paris), paris);
        assert_eq!(CoordSys::Bd09.to_wgs84(paris), paris);
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
