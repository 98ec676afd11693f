//! Organic-code ranges in memory: which certificate holds a code.
//!
//! An organic-code check reads the range with the greatest first code not
//! above the code, then the certificate. In the database that is a B-tree
//! descent of its own before the certificate's; here it is a binary search
//! over a sorted array (the national data: 139,869 ranges, 5.6 MiB).
//! Built like the other in-memory indexes (`memory`), from the certificates'
//! version, and used only while that is current.

use diesel::prelude::*;

use super::memory::Snapshot;
use super::schema::organic_code_ranges;
use super::{DbConn, DbResult};

/// Every organic-code range at one version of the certificates.
pub struct CodeRanges {
    version: i64,
    /// By first code; stored ranges never overlap.
    ranges: Vec<Range>,
    /// The certificate numbers, end to end; `ends[i]` is where holder `i`'s ends.
    numbers: String,
    ends: Vec<u32>,
}

struct Range {
    first: i64,
    last: i64,
    holder: u32,
}

impl CodeRanges {
    pub fn build(conn: &mut DbConn, version: i64) -> DbResult<Self> {
        let rows: Vec<(i64, i64, String)> = organic_code_ranges::table
            .select((
                organic_code_ranges::first_code,
                organic_code_ranges::last_code,
                organic_code_ranges::certificate_no,
            ))
            .order(organic_code_ranges::first_code)
            .load(conn)?;
        let mut index = Self {
            version,
            ranges: Vec::with_capacity(rows.len()),
            numbers: String::new(),
            ends: Vec::new(),
        };
        let mut holders: std::collections::HashMap<String, u32> = Default::default();
        for (first, last, number) in rows {
            let next = index.ends.len() as u32;
            let holder = *holders.entry(number).or_insert_with_key(|number| {
                index.numbers.push_str(number);
                index.ends.push(index.numbers.len() as u32);
                next
            });
            index.ranges.push(Range {
                first,
                last,
                holder,
            });
        }
        index.numbers.shrink_to_fit();
        index.ends.shrink_to_fit();
        Ok(index)
    }

    /// The number of the certificate whose range holds `code`, if any.
    pub fn holder(&self, code: i64) -> Option<&str> {
        let after = self.ranges.partition_point(|range| range.first <= code);
        let range = self.ranges[..after].last().filter(|r| r.last >= code)?;
        let i = range.holder as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.numbers[start..self.ends[i] as usize])
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
    }
}
