//! Representations held in memory: every record's JSON, rendered once per
//! version of its records, for pages that copy it (`events::pages`,
//! `campaigns`), with the listing that chooses those pages
//! (`db::listings`). Held in a `db::memory::Slot`, so used only while
//! current.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::db::listings::Footprint;
use crate::db::memory::{Indexed, Slot, Snapshot};
use crate::db::{DbConn, DbPool, DbResult};

/// The representations of one kind of record at one version, by key, each
/// with what its page's cursor needs (`M`), and what chooses pages of them
/// (`L`).
pub struct Held<K, M, L> {
    version: i64,
    by_key: HashMap<K, Record<M>>,
    pub listing: L,
    bytes: usize,
}

/// One record's representation and cursor fields.
pub struct Record<M> {
    pub cursor: M,
    pub body: Box<[u8]>,
}

impl<K: Hash + Eq, M, L: Footprint> Held<K, M, L> {
    /// Holds `records` (key, cursor fields, representation) as of
    /// `version`, and the `listing` built from the same rows.
    pub fn new(
        version: i64,
        records: impl IntoIterator<Item = (K, M, Vec<u8>)>,
        listing: L,
    ) -> Self {
        let mut by_key = HashMap::new();
        let mut bytes = listing.bytes();
        for (key, cursor, body) in records {
            bytes += body.len() + std::mem::size_of::<(K, Record<M>)>() + 16;
            let body = body.into_boxed_slice();
            by_key.insert(key, Record { cursor, body });
        }
        Self {
            version,
            by_key,
            listing,
            bytes,
        }
    }

    /// The records of `keys`, in order; `None` if one is not held (written
    /// after these were rendered).
    pub fn all<'a, Q>(&'a self, keys: impl IntoIterator<Item = &'a Q>) -> Option<Vec<&'a Record<M>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'a,
    {
        keys.into_iter().map(|key| self.by_key.get(key)).collect()
    }
}

impl<K, M, L> Snapshot for Held<K, M, L>
where
    K: Send + Sync + 'static,
    M: Send + Sync + 'static,
    L: Send + Sync + 'static,
{
    fn version(&self) -> i64 {
        self.version
    }

    fn records(&self) -> usize {
        self.by_key.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A slot for representations of `records` built by `build`, rebuilt when
/// they change; never built when not `enabled`.
pub fn slot<T: Snapshot>(
    name: &'static str,
    records: Indexed,
    pool: &DbPool,
    enabled: bool,
    build: fn(&mut DbConn, i64) -> DbResult<T>,
) -> Arc<Slot<T>> {
    Arc::new(Slot::new(name, records, pool, enabled, Box::new(build)))
}
