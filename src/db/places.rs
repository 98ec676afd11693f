//! Where SQLite keeps each certificate: its number's rowid, in memory.
//!
//! A look-up by certificate number is two B-tree descents on SQLite (the
//! number's index, then the table); at a rowid known beforehand it is one,
//! as organic-code checks already read it (`code_ranges`). Here every
//! number's 32-bit hash maps to its rowid: 8 bytes a certificate, 2.0 MiB
//! for 200,000 in the table (64-bit hashes took 4.5 MiB; the numbers
//! themselves would take four times as much). A rowid is a hint: the read
//! checks the number it finds, so two numbers with one hash (about five
//! pairs in 200,000), or a row renumbered since, fall back to the read by
//! number. Built like the
//! other in-memory indexes (`memory`), from the certificates' version;
//! empty on PostgreSQL, which reads by number.

use std::collections::HashMap;
use std::hash::BuildHasher;

use diesel::prelude::*;

use super::memory::Snapshot;
use super::schema::products;
use super::{DbConn, DbResult};

/// Certificate numbers' rowids at one version of the certificates.
pub struct Places {
    version: i64,
    rows: HashMap<u32, u32, foldhash::fast::RandomState>,
}

/// How a number is hashed: one fixed function, so that the build and every
/// look-up agree.
const NUMBERS: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x7469_6377);

impl Places {
    pub fn build(conn: &mut DbConn, version: i64) -> DbResult<Self> {
        let mut rows = HashMap::default();
        if let DbConn::Sqlite(c) = conn {
            let query = products::table.select((
                products::certificate_no,
                diesel::dsl::sql::<diesel::sql_types::BigInt>("products.rowid"),
            ));
            for place in
                query.load_iter::<(String, i64), diesel::connection::DefaultLoadingMode>(c)?
            {
                let (number, row) = place?;
                // A rowid past `u32` (never assigned by inserts alone) is
                // left to the read by number.
                if let Ok(row) = u32::try_from(row) {
                    rows.insert(hash(&number), row);
                }
            }
            rows.shrink_to_fit();
        }
        Ok(Self { version, rows })
    }

    /// Where certificate `number` was when the index was built, if known.
    pub fn row_of(&self, number: &str) -> Option<i64> {
        self.rows.get(&hash(number)).map(|&row| i64::from(row))
    }
}

/// A number's key: the low half of its 64-bit hash.
fn hash(number: &str) -> u32 {
    NUMBERS.hash_one(number) as u32
}

impl Snapshot for Places {
    fn version(&self) -> i64 {
        self.version
    }

    fn records(&self) -> usize {
        self.rows.len()
    }

    fn bytes(&self) -> usize {
        // hashbrown: a control byte and an entry per bucket.
        self.rows.capacity() * (1 + std::mem::size_of::<(u32, u32)>())
    }
}
