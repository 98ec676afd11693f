//! Organic-code ranges in memory: which certificate holds a code.
//!
//! An organic-code check reads the range with the greatest first code not
//! above the code, then the certificate. In the database that is a B-tree
//! descent of its own before the certificate's; here it is a binary search
//! over a sorted array (the national data: 139,869 ranges, 4.5 MiB).
//! Built like the other in-memory indexes (`memory`), from the certificates'
//! version, and used only while that is current.

use std::collections::HashMap;

use diesel::prelude::*;

use super::memory::Snapshot;
use super::schema::{organic_code_ranges, products};
use super::{DbConn, DbResult};

/// Every organic-code range at one version of the certificates.
pub struct CodeRanges {
    version: i64,
    /// By first code; stored ranges never overlap.
    ranges: Vec<Range>,
    /// The holders' certificate numbers, end to end, in the order of the
    /// ranges: `ends[i]` is where range `i`'s holder ends.
    numbers: String,
    ends: Vec<u32>,
    /// (name, approval number) by organic-code prefix, as
    /// `products::certifier_by_code` reads them (a few hundred bodies).
    certifiers: HashMap<Box<str>, (Box<str>, Box<str>)>,
}

struct Range {
    first: i64,
    last: i64,
}

impl CodeRanges {
    /// Reads the ranges a chunk at a time, so that the rows read are never
    /// all held beside the index (the peak a rebuild adds to the RSS).
    pub fn build(conn: &mut DbConn, version: i64) -> DbResult<Self> {
        const CHUNK: i64 = 16_384;
        let mut index = Self {
            version,
            ranges: Vec::new(),
            numbers: String::new(),
            ends: Vec::new(),
            certifiers: HashMap::new(),
        };
        let prefixes: Vec<String> = products::table
            .select(products::certifier_code)
            .distinct()
            .load(conn)?;
        for prefix in prefixes {
            if let Some((name, approval_no)) = super::products::certifier_by_code(conn, &prefix)? {
                let certifier = (name.into_boxed_str(), approval_no.into_boxed_str());
                index.certifiers.insert(prefix.into_boxed_str(), certifier);
            }
        }
        let mut after = i64::MIN;
        loop {
            let rows: Vec<(i64, i64, String)> = organic_code_ranges::table
                .select((
                    organic_code_ranges::first_code,
                    organic_code_ranges::last_code,
                    organic_code_ranges::certificate_no,
                ))
                .filter(organic_code_ranges::first_code.gt(after))
                .order(organic_code_ranges::first_code)
                .limit(CHUNK)
                .load(conn)?;
            let Some(&(last_first, _, _)) = rows.last() else {
                break;
            };
            after = last_first;
            for (first, last, number) in &rows {
                // A certificate with several ranges is written once per
                // range: fewer bytes than a map to share them would take.
                index.numbers.push_str(number);
                index.ends.push(index.numbers.len() as u32);
                index.ranges.push(Range {
                    first: *first,
                    last: *last,
                });
            }
            if (rows.len() as i64) < CHUNK {
                break;
            }
        }
        index.ranges.shrink_to_fit();
        index.numbers.shrink_to_fit();
        index.ends.shrink_to_fit();
        Ok(index)
    }

    /// The number of the certificate whose range holds `code`, if any.
    pub fn holder(&self, code: i64) -> Option<&str> {
        let i = self
            .ranges
            .partition_point(|range| range.first <= code)
            .checked_sub(1)?;
        if self.ranges[i].last < code {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.numbers[start..self.ends[i] as usize])
    }

    /// The certifier (name, approval number) whose organic-code prefix is
    /// `prefix`.
    pub fn certifier(&self, prefix: &str) -> Option<(String, String)> {
        let (name, approval_no) = self.certifiers.get(prefix)?;
        Some((name.to_string(), approval_no.to_string()))
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
            + self.numbers.capacity()
            + self.ends.capacity() * 4
            + self
                .certifiers
                .iter()
                .map(|(prefix, (name, approval_no))| {
                    prefix.len() + name.len() + approval_no.len() + 48
                })
                .sum::<usize>()
    }
}
