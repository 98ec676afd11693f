//! Open-day sessions near a point, chosen in memory.
//!
//! A nearby page on SQL reads every lab in the circle's box from an index,
//! then every session of those labs, to sort them all by distance: in a
//! city that is hundreds of labs and sessions for a page of 20 (about
//! 300 µs a request on the bench data). Here every lab sits in a grid cell
//! of `CELL_DEGREES` with its unit vector, and its sessions' filter columns
//! beside it, so the page's session ids come from a few cells and one sort
//! of the labs inside the circle; the database then reads just those rows.
//!
//! The order and the cut are exactly the SQL path's: the same box, the same
//! squared chord computed from the same stored unit vector in the same
//! order of operations, the same ties (chord, then start time, then id in
//! byte order, as `COLLATE "C"` has it on PostgreSQL). So cursors from
//! either path are valid on the other.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::labs::{LabSummary, OpenDayFilter, OpenDayKey, MAX_SESSION_DAYS};
use super::memory::Snapshot;
use super::rendered::columns;
use super::schema::{labs, open_days};
use super::{DbConn, DbResult};
use crate::domain::{BoundingBox, LatLon, RadiusKm, RegionLevel};

/// Side of a grid cell in degrees: a 30 km circle's box spans 3 × 3 to
/// 3 × 4 cells at Chinese latitudes.
const CELL_DEGREES: f64 = 0.25;

/// Labs and the filter columns of their sessions at one version of the labs (`Indexed::Labs`).
pub struct Nearby {
    version: i64,
    labs: Vec<Lab>,
    /// Grouped by lab (see `Lab::sessions`), each group by start time, id.
    sessions: Vec<Session>,
    /// The labs of each grid cell (row, column), where a page looks first.
    cells: HashMap<(i32, i32), Vec<Point>>,
}

/// Where a lab is, beside its cell's other labs: a page tests the labs of
/// a few cells against its circle reading only these, where reading them
/// from each `Lab` (and its summary behind an `Arc`) was two cache misses
/// a lab.
struct Point {
    lat: f64,
    lon: f64,
    /// The stored unit vector (`labs.x`, `y`, `z`), not a recomputed one.
    unit: [f64; 3],
    /// Into `Nearby::labs`.
    at: u32,
}

struct Lab {
    /// What a session shows of its lab: a page needs no join, and each of
    /// its sessions shares it rather than copying it.
    summary: Arc<LabSummary>,
    province: Box<str>,
    city: Option<Box<str>>,
    sessions: Range<usize>,
}

struct Session {
    id: Box<str>,
    /// Where the database keeps the row (SQLite's rowid, PostgreSQL's
    /// `ctid` as `super::place_column` numbers it), read in one step
    /// where the id is an index look-up first.
    row: i64,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    activity_mask: i64,
    bookable: bool,
}

type LabColumns = (LabSummary, String, Option<String>, f64, f64, f64);
type SessionColumns = (String, String, i64, NaiveDateTime, NaiveDateTime, i64, bool);

/// A session of a nearby page: its id, where the database keeps it
/// (`Session::row`), its squared chord and its lab.
#[derive(Clone)]
pub struct Near<'a> {
    pub id: &'a str,
    pub row: i64,
    pub chord2: f64,
    pub lab: &'a Arc<LabSummary>,
}

fn cell_of(degrees: f64) -> i32 {
    (degrees / CELL_DEGREES).floor() as i32
}

impl Nearby {
    /// The index of the data `conn` reads, labelled `version`.
    pub fn build(conn: &mut DbConn, version: i64) -> DbResult<Self> {
        let lab_rows: Vec<LabColumns> = labs::table
            .select((
                columns!(LabSummary),
                labs::province,
                labs::city,
                labs::x,
                labs::y,
                labs::z,
            ))
            .load(conn)?;
        let row =
            diesel::dsl::sql::<diesel::sql_types::BigInt>(&super::place_column(conn, "open_days"));
        let session_rows: Vec<SessionColumns> = open_days::table
            .select((
                open_days::lab_id,
                open_days::id,
                row,
                open_days::starts_at,
                open_days::ends_at,
                open_days::activity_mask,
                open_days::bookable,
            ))
            .order((open_days::lab_id, open_days::starts_at, open_days::id))
            .load(conn)?;
        Ok(Self::from_rows(version, lab_rows, session_rows))
    }

    /// From labs in any order and sessions by lab, start time and id.
    fn from_rows(
        version: i64,
        lab_rows: Vec<LabColumns>,
        session_rows: Vec<SessionColumns>,
    ) -> Self {
        let mut labs: Vec<Lab> = Vec::with_capacity(lab_rows.len());
        let mut cells: HashMap<(i32, i32), Vec<Point>> = HashMap::new();
        let mut ordinal: HashMap<String, usize> = HashMap::with_capacity(lab_rows.len());
        for (summary, province, city, x, y, z) in lab_rows {
            let at = labs.len();
            cells
                .entry((cell_of(summary.lat), cell_of(summary.lon)))
                .or_default()
                .push(Point {
                    lat: summary.lat,
                    lon: summary.lon,
                    unit: [x, y, z],
                    at: u32::try_from(at).expect("fewer than 2^32 labs"),
                });
            ordinal.insert(summary.id.clone(), at);
            labs.push(Lab {
                summary: Arc::new(summary),
                province: province.into(),
                city: city.map(Into::into),
                sessions: 0..0,
            });
        }
        let mut sessions: Vec<Session> = Vec::with_capacity(session_rows.len());
        let mut current: Option<usize> = None;
        for (lab_id, id, row, starts_at, ends_at, activity_mask, bookable) in session_rows {
            // A session whose lab is not in the lab rows (deleted between
            // the two reads) is left out.
            let Some(&lab) = ordinal.get(&lab_id) else {
                continue;
            };
            if current != Some(lab) {
                labs[lab].sessions = sessions.len()..sessions.len();
                current = Some(lab);
            }
            sessions.push(Session {
                id: id.into(),
                row,
                starts_at,
                ends_at,
                activity_mask,
                bookable,
            });
            labs[lab].sessions.end = sessions.len();
        }
        for members in cells.values_mut() {
            members.shrink_to_fit();
        }
        Self {
            version,
            labs,
            sessions,
            cells,
        }
    }

    /// The first `n` sessions of `filter` within `radius` of `point`,
    /// nearest first, then by start time and id, after `after`: what
    /// `labs::page_of_ids` selects in SQL.
    pub fn page(
        &self,
        filter: &OpenDayFilter,
        level: Option<RegionLevel>,
        (point, radius): (LatLon, RadiusKm),
        after: Option<&OpenDayKey>,
        n: usize,
    ) -> Vec<Near<'_>> {
        let b = point.bounding_box(radius);
        let within = radius.chord2();
        let [px, py, pz] = point.unit_vector();
        let region = filter.region.as_ref().map(|code| code.as_str()).zip(level);
        let mut near: Vec<(f64, u32)> = Vec::new();
        self.labs_in(&b, |point| {
            let (lat, lon) = (point.lat, point.lon);
            if !(b.min_lat <= lat && lat <= b.max_lat && b.min_lon <= lon && lon <= b.max_lon) {
                return;
            }
            let [x, y, z] = point.unit;
            let chord2 = (x - px) * (x - px) + (y - py) * (y - py) + (z - pz) * (z - pz);
            let before_cursor =
                matches!(after, Some(OpenDayKey::Distance { chord2: k, .. }) if chord2 < *k);
            if chord2 > within
                || before_cursor
                || !self.labs[point.at as usize].passes(filter, region)
            {
                return;
            }
            near.push((chord2, point.at));
        });
        near.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        // What `Session::passes` compares with, once rather than a session.
        let earliest = filter
            .window
            .start
            .map(|start| start - chrono::Duration::days(MAX_SESSION_DAYS));
        let mut page: Vec<(f64, &Session, &Arc<LabSummary>)> = Vec::new();
        let mut next = 0;
        // Labs at one distance (the same address, or a city's centroid)
        // are taken together: their sessions interleave by start time.
        while next < near.len() && page.len() < n {
            let chord2 = near[next].0;
            let tied = page.len();
            while next < near.len() && near[next].0 == chord2 {
                let lab = &self.labs[near[next].1 as usize];
                let sessions = &self.sessions[lab.sessions.clone()];
                page.extend(
                    sessions
                        .iter()
                        .filter(|s| s.passes(filter, earliest) && s.after(chord2, after))
                        .map(|s| (chord2, s, &lab.summary)),
                );
                next += 1;
            }
            page[tied..]
                .sort_unstable_by(|a, b| (a.1.starts_at, &a.1.id).cmp(&(b.1.starts_at, &b.1.id)));
        }
        page.truncate(n);
        page.into_iter()
            .map(|(chord2, session, lab)| Near {
                id: &session.id,
                row: session.row,
                chord2,
                lab,
            })
            .collect()
    }

    /// Calls `each` with every lab whose cell meets `b` (and maybe others:
    /// the caller tests the box itself).
    fn labs_in(&self, b: &BoundingBox, mut each: impl FnMut(&Point)) {
        let rows = cell_of(b.min_lat.max(-90.0))..=cell_of(b.max_lat.min(90.0));
        let columns = cell_of(b.min_lon.max(-180.0))..=cell_of(b.max_lon.min(180.0));
        let boxed = rows.clone().count() * columns.clone().count();
        if boxed > self.cells.len() {
            // A box wider than the occupied cells (polar points, huge
            // radii): walk what exists instead of what could.
            self.cells.values().flatten().for_each(each);
            return;
        }
        for row in rows {
            for column in columns.clone() {
                if let Some(members) = self.cells.get(&(row, column)) {
                    members.iter().for_each(&mut each);
                }
            }
        }
    }
}

impl Lab {
    fn passes(&self, filter: &OpenDayFilter, region: Option<(&str, RegionLevel)>) -> bool {
        let in_region = match region {
            None => true,
            Some((code, RegionLevel::Province)) => &*self.province == code,
            Some((code, RegionLevel::City)) => self.city.as_deref() == Some(code),
            Some((code, RegionLevel::County)) => self.summary.region == code,
        };
        in_region
            && filter
                .lab
                .as_deref()
                .is_none_or(|lab| lab == self.summary.id)
    }
}

impl Session {
    /// The filters of `labs::page_of_ids` on the session itself;
    /// `earliest` is the window's start less the longest session.
    fn passes(&self, filter: &OpenDayFilter, earliest: Option<NaiveDateTime>) -> bool {
        if let (Some(start), Some(earliest)) = (filter.window.start, earliest) {
            if self.ends_at <= start || self.starts_at <= earliest {
                return false;
            }
        }
        if filter.window.end.is_some_and(|end| self.starts_at >= end) {
            return false;
        }
        if filter
            .activity
            .is_some_and(|activity| self.activity_mask & activity.bit() == 0)
        {
            return false;
        }
        filter
            .bookable
            .is_none_or(|bookable| self.bookable == bookable)
    }

    /// Whether this session, at `chord2`, comes after the cursor `after`.
    fn after(&self, chord2: f64, after: Option<&OpenDayKey>) -> bool {
        let later =
            |starts_at: &NaiveDateTime, id: &str| (self.starts_at, &*self.id) > (*starts_at, id);
        match after {
            None => true,
            Some(OpenDayKey::Time { starts_at, id }) => later(starts_at, id),
            Some(OpenDayKey::Distance {
                chord2: k,
                starts_at,
                id,
            }) => chord2 > *k || (chord2 == *k && later(starts_at, id)),
        }
    }
}

impl Snapshot for Nearby {
    fn version(&self) -> i64 {
        self.version
    }

    fn records(&self) -> usize {
        self.sessions.len()
    }

    fn bytes(&self) -> usize {
        let labs: usize = self
            .labs
            .iter()
            .map(|lab| {
                let summary = &lab.summary;
                // The summary behind its `Arc`, with the two counts.
                std::mem::size_of::<Lab>()
                    + std::mem::size_of::<LabSummary>()
                    + 2 * std::mem::size_of::<usize>()
                    + summary.id.len()
                    + summary.name.len()
                    + summary.address.as_ref().map_or(0, |address| address.len())
                    + summary.region.len()
                    + summary.precision.len()
                    + lab.province.len()
                    + lab.city.as_ref().map_or(0, |city| city.len())
            })
            .sum();
        let sessions: usize = self
            .sessions
            .iter()
            .map(|session| std::mem::size_of::<Session>() + session.id.len())
            .sum();
        let cells = self.cells.len() * std::mem::size_of::<((i32, i32), Vec<Point>)>()
            + self.labs.len() * std::mem::size_of::<Point>();
        labs + sessions + cells
    }
}
