//! The bundled public data: the GB/T 2260 region table and the records
//! transcribed from the notices in `data/`. Compiled into the binary so a
//! fresh `ticweek` needs no files besides itself.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::db::regions::RegionRow;
use crate::db::{self, DbConn, DbError, DbResult};
use crate::domain::RegionLevel;

const REGIONS_CSV: &str = include_str!("../data/regions.csv");
const BUNDLED_JSON: &str = include_str!("../data/bundled.json");

#[derive(Debug, serde::Deserialize)]
struct RegionCsv {
    adcode: String,
    name: String,
    level: String,
    parent: Option<String>,
    lat: f64,
    lon: f64,
}

/// Parses the region table, filling in each row's province and city ancestors.
pub fn regions() -> Result<Vec<RegionRow>, String> {
    let mut reader = csv::Reader::from_reader(REGIONS_CSV.as_bytes());
    let mut rows: Vec<RegionRow> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (line, record) in reader.deserialize::<RegionCsv>().enumerate() {
        let r = record.map_err(|e| format!("data/regions.csv row {}: {e}", line + 2))?;
        let parent = r.parent.filter(|p| !p.is_empty());
        let (province, city) = match (r.level.as_str(), &parent) {
            ("province", _) => (r.adcode.clone(), None),
            ("city", Some(p)) => (p.clone(), Some(r.adcode.clone())),
            (_, Some(p)) => {
                let parent_row: &RegionRow = index.get(p).map(|&i| &rows[i]).ok_or_else(|| {
                    format!("data/regions.csv: parent {p} of {} comes later", r.adcode)
                })?;
                if parent_row.level == "province" {
                    (p.clone(), None)
                } else {
                    (parent_row.province.clone(), Some(p.clone()))
                }
            }
            _ => return Err(format!("data/regions.csv: {} has no parent", r.adcode)),
        };
        index.insert(r.adcode.clone(), rows.len());
        rows.push(RegionRow {
            adcode: r.adcode,
            name: r.name,
            level: r.level,
            parent,
            province,
            city,
            lat: r.lat,
            lon: r.lon,
        });
    }
    Ok(rows)
}

/// Every bundled division, in adcode order and by adcode.
///
/// The region table is this table: `prepare` loads it into an empty
/// database and nothing writes it afterwards. So `/regions` is answered
/// from here, and a read takes a record's region name and a filter's
/// region level from here, rather than joining the table on every row or
/// querying it on every request. (Notice filters still join the stored
/// table; a test checks it holds exactly these rows.)
pub struct Divisions {
    rows: Vec<RegionRow>,
    levels: Vec<RegionLevel>,
    by_code: HashMap<String, usize>,
}

impl Divisions {
    fn new(mut rows: Vec<RegionRow>) -> Self {
        rows.sort_by(|a, b| a.adcode.cmp(&b.adcode));
        let levels = (rows.iter())
            .map(|row| row.level.parse().unwrap_or(RegionLevel::County))
            .collect();
        let by_code = (rows.iter().enumerate())
            .map(|(i, row)| (row.adcode.clone(), i))
            .collect();
        Self {
            rows,
            levels,
            by_code,
        }
    }

    /// Every division, ordered by adcode.
    pub fn all(&self) -> &[RegionRow] {
        &self.rows
    }

    /// Division `adcode`, if there is one.
    pub fn get(&self, adcode: &str) -> Option<&RegionRow> {
        self.by_code.get(adcode).map(|&i| &self.rows[i])
    }

    /// The name of division `adcode`. Every stored record's region is a
    /// division (a foreign key), so only a broken invariant finds none:
    /// the adcode itself is shown then.
    pub fn name<'a>(&'a self, adcode: &'a str) -> &'a str {
        let found = self.get(adcode).map(|row| row.name.as_str());
        debug_assert!(found.is_some(), "no bundled division {adcode}");
        found.unwrap_or(adcode)
    }

    /// The level of division `adcode`; `None` for a code no division has.
    pub fn level(&self, adcode: &str) -> Option<RegionLevel> {
        self.by_code.get(adcode).map(|&i| self.levels[i])
    }
}

/// The bundled divisions, parsed once.
pub fn divisions() -> &'static Divisions {
    static DIVISIONS: LazyLock<Divisions> = LazyLock::new(|| {
        Divisions::new(regions().expect("the bundled region table is checked by a test"))
    });
    &DIVISIONS
}

/// Migrates, and on an empty database loads the regions and then the
/// bundled notices and campaigns through the ordinary import path, all in one
/// transaction: a crash half-way leaves the database as it was, and several
/// processes starting at once on PostgreSQL do this one after another.
///
/// A database already migrated and loaded takes no write transaction: every
/// write bumps the shared data version, and a restart that bumped it emptied
/// every other server's read cache and search lists.
pub fn prepare(conn: &mut DbConn) -> DbResult<()> {
    if !db::has_pending_migrations(conn)? && !db::import::is_empty(conn)? {
        return Ok(());
    }
    db::exclusive_transaction(conn, |conn| {
        db::migrate(conn)?;
        // Storing a representation moves its row on PostgreSQL (an UPDATE
        // writes a new version), and the in-memory indexes keep each row's
        // place: every process rebuilds them (their reads fall back to the
        // key meanwhile).
        if render_certificates(conn)? > 0 {
            db::touch(db::Indexed::Products);
        }
        if render_sessions(conn)? > 0 {
            db::touch(db::Indexed::Labs);
        }
        if !db::import::is_empty(conn)? {
            return Ok(());
        }
        let rows = regions().map_err(DbError::Query)?;
        db::import::write_regions(conn, &rows)?;
        let report = crate::import::run(conn, BUNDLED_JSON, false)?;
        if !report.errors.is_empty() {
            return Err(DbError::Query(format!(
                "bundled data is invalid:\n{report}"
            )));
        }
        log::info!(
            "loaded {} regions and the bundled records ({report})",
            rows.len()
        );
        Ok(())
    })
}

/// Renders the stored representation of every certificate written before
/// certificates carried one (migration 000013). Readers do without it, more
/// slowly; none is missing once this has run, since every write renders it.
/// Answers how many it rendered.
pub fn render_certificates(conn: &mut DbConn) -> DbResult<usize> {
    let mut after = String::new();
    let mut rendered = 0;
    loop {
        let hits = db::products::unrendered(conn, &after, 1000)?;
        let Some(last) = hits.last() else { break };
        after = last.row.certificate_no.clone();
        for hit in &hits {
            let body = crate::api::products::stored_body(&hit.row, &hit.ranges);
            db::products::store_body(conn, &hit.row.certificate_no, &body)?;
        }
        rendered += hits.len();
    }
    if rendered > 0 {
        log::info!("rendered the stored representation of {rendered} certificates");
    }
    Ok(rendered)
}

/// Renders the stored representation of every open-day session written
/// before sessions carried one (migration 000014), as `render_certificates`
/// does for certificates.
pub fn render_sessions(conn: &mut DbConn) -> DbResult<usize> {
    let mut after = String::new();
    let mut rendered = 0;
    loop {
        let rows = db::labs::unrendered_sessions(conn, &after, 1000)?;
        let Some(last) = rows.last() else { break };
        after = last.id.clone();
        for row in &rows {
            db::labs::store_session_body(conn, &row.id, &crate::api::labs::session_body(row))?;
        }
        rendered += rows.len();
    }
    if rendered > 0 {
        log::info!("rendered the stored representation of {rendered} open-day sessions");
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use crate::domain::Adcode;

    /// `db::regions::code_range` stands for "the region or below it" on
    /// the strength of GB/T 2260's prefixes: true of every bundled division.
    #[test]
    fn a_regions_code_range_is_exactly_itself_and_its_descendants() {
        let regions = super::regions().unwrap();
        for region in &regions {
            let code = region.adcode.as_str();
            let (low, high) = crate::db::regions::code_range(&code.parse::<Adcode>().unwrap());
            for other in &regions {
                let below = other.adcode == code
                    || other.province == code
                    || other.city.as_deref() == Some(code);
                let in_range = (low.as_str()..=high.as_str()).contains(&other.adcode.as_str());
                assert_eq!(below, in_range, "{} under {code}", other.adcode);
            }
        }
    }
}
