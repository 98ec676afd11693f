//! Organic-code ranges in memory: which certificate holds a code.
//!
//! An organic-code check reads the range with the greatest first code not
//! above the code, then the certificate. In the database that is a B-tree
//! descent of its own before the certificate's; here it is a binary search
//! over a sorted array (the national data: 139,869 ranges, 4.5 MiB),
//! first over every 32nd range's first code (34 KiB, which stays in the
//! CPU's cache), then within one block of 32: a search over the whole
//! 2.2 MiB array missed the cache at each of its last steps.
//! Built like the other in-memory indexes (`memory`), from the certificates'
//! version, and used only while that is current.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;

use super::memory::Snapshot;
use super::products::Issuer;
use super::schema::{organic_code_ranges, products};
use super::{DbConn, DbResult};

/// Every organic-code range at one version of the certificates.
pub struct CodeRanges {
    version: i64,
    /// By first code; stored ranges never overlap.
    ranges: Vec<Range>,
    /// The first code of every `BLOCK`th range.
    tops: Vec<i64>,
    /// The holders' certificate numbers, end to end, in the order of the
    /// ranges: `ends[i]` is where range `i`'s holder ends.
    numbers: String,
    ends: Vec<u32>,
    /// Where SQLite keeps each range's certificate (its rowid in
    /// `products`), a hint that the number is checked against; 0 on
    /// PostgreSQL, or where the rowid is past `u32`.
    rows: Vec<u32>,
    /// The bodies by organic-code prefix, as `products::certifier_by_code`
    /// reads them (a few hundred).
    certifiers: HashMap<Box<str>, Arc<Issuer>>,
}

struct Range {
    first: i64,
    last: i64,
}

/// Ranges per block of the first search (`tops`).
const BLOCK: usize = 32;

impl CodeRanges {
    /// Reads the ranges a chunk at a time, so that the rows read are never
    /// all held beside the index (the peak a rebuild adds to the RSS).
    pub fn build(conn: &mut DbConn, version: i64) -> DbResult<Self> {
        const CHUNK: i64 = 16_384;
        let mut index = Self::new(version);
        let prefixes: Vec<String> = products::table
            .select(products::certifier_code)
            .distinct()
            .load(conn)?;
        for prefix in prefixes {
            if let Some(issuer) = super::products::certifier_by_code(conn, &prefix)? {
                index
                    .certifiers
                    .insert(prefix.into_boxed_str(), Arc::new(issuer));
            }
        }
        let mut after = i64::MIN;
        loop {
            let row = diesel::dsl::sql::<diesel::sql_types::BigInt>(match conn {
                DbConn::Sqlite(_) => "products.rowid",
                DbConn::Pg(_) => "CAST(0 AS BIGINT)",
            });
            let rows: Vec<(i64, i64, String, i64)> = organic_code_ranges::table
                .inner_join(products::table)
                .select((
                    organic_code_ranges::first_code,
                    organic_code_ranges::last_code,
                    organic_code_ranges::certificate_no,
                    row,
                ))
                .filter(organic_code_ranges::first_code.gt(after))
                .order(organic_code_ranges::first_code)
                .limit(CHUNK)
                .load(conn)?;
            let Some(&(last_first, ..)) = rows.last() else {
                break;
            };
            after = last_first;
            for (first, last, number, row) in &rows {
                index.push(*first, *last, number, *row);
            }
            if (rows.len() as i64) < CHUNK {
                break;
            }
        }
        index.finish();
        Ok(index)
    }

    fn new(version: i64) -> Self {
        Self {
            version,
            ranges: Vec::new(),
            tops: Vec::new(),
            numbers: String::new(),
            ends: Vec::new(),
            rows: Vec::new(),
            certifiers: HashMap::new(),
        }
    }

    /// Adds a range after those pushed (greater first code).
    fn push(&mut self, first: i64, last: i64, number: &str, row: i64) {
        if self.ranges.len() % BLOCK == 0 {
            self.tops.push(first);
        }
        // A certificate with several ranges is written once per range:
        // fewer bytes than a map to share them would take.
        self.numbers.push_str(number);
        self.ends.push(self.numbers.len() as u32);
        self.ranges.push(Range { first, last });
        self.rows.push(u32::try_from(row).unwrap_or(0));
    }

    fn finish(&mut self) {
        self.ranges.shrink_to_fit();
        self.tops.shrink_to_fit();
        self.numbers.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.rows.shrink_to_fit();
    }

    /// The number of the certificate whose range holds `code`, if any, and
    /// where SQLite keeps it (its rowid, a hint; 0 for none).
    pub fn holder(&self, code: i64) -> Option<(&str, i64)> {
        let block = self
            .tops
            .partition_point(|&first| first <= code)
            .checked_sub(1)?;
        let start = block * BLOCK;
        let ranges = &self.ranges[start..self.ranges.len().min(start + BLOCK)];
        // At least the block's first range starts at or before `code`.
        let i = start + ranges.partition_point(|range| range.first <= code) - 1;
        if self.ranges[i].last < code {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some((
            &self.numbers[start..self.ends[i] as usize],
            i64::from(self.rows[i]),
        ))
    }

    /// The body whose organic-code prefix is `prefix`.
    pub fn certifier(&self, prefix: &str) -> Option<Arc<Issuer>> {
        self.certifiers.get(prefix).cloned()
    }
}

impl Snapshot for CodeRanges {
    fn version(&self) -> i64 {
        self.version
    }

    fn records(&self) -> usize {
        self.ranges.len()
    }

    fn bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<Range>()
            + self.tops.capacity() * 8
            + self.numbers.capacity()
            + self.ends.capacity() * 4
            + self.rows.capacity() * 4
            + self
                .certifiers
                .iter()
                .map(|(prefix, issuer)| {
                    prefix.len() + issuer.name.len() + issuer.approval_no.len() + 64
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::CodeRanges;

    /// Every code at, inside, between and around the ranges is held as a
    /// search of the whole list would say, across several blocks.
    #[test]
    fn a_code_is_held_by_the_range_a_whole_search_finds() {
        let ranges: Vec<(i64, i64, String)> = (0..100)
            .map(|n| (n * 10, n * 10 + n % 4, format!("C{n}")))
            .collect();
        let mut index = CodeRanges::new(1);
        for (first, last, number) in &ranges {
            index.push(*first, *last, number, *first + 1);
        }
        index.finish();
        for code in -5..1_010 {
            let expected = ranges
                .iter()
                .find(|(first, last, _)| (*first..=*last).contains(&code))
                .map(|(first, _, number)| (number.as_str(), *first + 1));
            assert_eq!(index.holder(code), expected, "code {code}");
        }
    }
}
