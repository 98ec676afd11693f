//! In-memory posting lists over a text index, rebuilt when the data changes.
//!
//! FTS5 answers a search by decoding its on-disk doclists for every query,
//! and a one-character term such as 茶 or 有 has a doclist as long as the
//! table: a 1–2 character search cost about 250 µs of CPU however few
//! results a page shows. Here every token of the index maps to a compressed
//! bitmap (roaring) of record ordinals, ordinal 0 being the newest record
//! (highest `search_key`). A query intersects its tokens' bitmaps (a few
//! 8 KiB word-wise ANDs even for the commonest terms) and reads the page's
//! keys from the cursor's ordinal on. The rows themselves are still read
//! from the database, by key, so every field is current.
//!
//! The lists are built from the database's own text index (`TextIndex::
//! entries`), so they hold exactly the tokens the SQL search would match,
//! and are labelled with the data version read before the build. A search
//! uses them only while the database's data version is that label: after
//! any write, by this process or another, searches fall back to the SQL
//! index until a rebuild for the new version is in place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use roaring::RoaringBitmap;

use super::search::{Field, TextIndex};
use super::{DbConn, DbPool, DbResult};
use crate::domain::SearchQuery;

/// Indexes with at most this many records are rebuilt by the search that
/// finds them stale (a few milliseconds: 3,018 events took 18 ms); larger
/// ones in the background while searches use the SQL index.
const REBUILD_INLINE_MAX: usize = 1_000;

/// The posting lists of one text index at one data version.
pub struct Postings {
    version: i64,
    /// Search keys, highest (newest) first: a bitmap's ordinals index this.
    keys: Vec<i64>,
    title: HashMap<Box<str>, RoaringBitmap>,
    everything: HashMap<Box<str>, RoaringBitmap>,
}

/// The records matching a query: ordinals into `Postings::keys`.
pub struct Matches<'a> {
    postings: &'a Postings,
    ordinals: RoaringBitmap,
}

impl Postings {
    /// Lists for data `version`, filled by `fill`, which must hand over the
    /// entries (key, title tokens, body tokens, space-separated) highest key
    /// first.
    pub fn build(
        version: i64,
        fill: impl FnOnce(&mut dyn FnMut(i64, &str, &str)) -> DbResult<()>,
    ) -> DbResult<Self> {
        let mut title: HashMap<Box<str>, RoaringBitmap> = HashMap::new();
        let mut everything: HashMap<Box<str>, RoaringBitmap> = HashMap::new();
        let mut keys: Vec<i64> = Vec::new();
        fill(&mut |key, title_tokens, body_tokens| {
            debug_assert!(keys.last().is_none_or(|&last| last > key));
            let ordinal = u32::try_from(keys.len()).expect("fewer than 2^32 records");
            keys.push(key);
            for token in title_tokens.split_whitespace() {
                add(&mut title, token, ordinal);
                add(&mut everything, token, ordinal);
            }
            for token in body_tokens.split_whitespace() {
                add(&mut everything, token, ordinal);
            }
        })?;
        for bitmap in title.values_mut().chain(everything.values_mut()) {
            bitmap.optimize();
        }
        keys.shrink_to_fit();
        Ok(Self {
            version,
            keys,
            title,
            everything,
        })
    }

    /// Bytes the lists take (their serialized size, about their memory).
    pub fn bytes(&self) -> usize {
        let lists: usize = self
            .title
            .iter()
            .chain(&self.everything)
            .map(|(token, bitmap)| token.len() + bitmap.serialized_size())
            .sum();
        lists + self.keys.len() * std::mem::size_of::<i64>()
    }

    /// The data version these lists were built from.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// How many records the lists cover.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The records whose `field` holds every token of `query`.
    pub fn matching(&self, query: &SearchQuery, field: Field) -> Matches<'_> {
        let lists = match field {
            Field::Title => &self.title,
            Field::Everything => &self.everything,
        };
        let mut bitmaps: Vec<&RoaringBitmap> = Vec::new();
        for token in query.tokens() {
            match lists.get(token.as_str()) {
                Some(bitmap) => bitmaps.push(bitmap),
                // A token no record has: nothing matches.
                None => return self.none(),
            }
        }
        bitmaps.sort_unstable_by_key(|bitmap| bitmap.len());
        let Some((rarest, rest)) = bitmaps.split_first() else {
            // No searchable token (only punctuation): nothing matches.
            return self.none();
        };
        let mut ordinals = (*rarest).clone();
        for bitmap in rest {
            ordinals &= *bitmap;
        }
        Matches {
            postings: self,
            ordinals,
        }
    }

    fn none(&self) -> Matches<'_> {
        Matches {
            postings: self,
            ordinals: RoaringBitmap::new(),
        }
    }
}

impl Matches<'_> {
    /// Removes the records of `other` (same lists) from these.
    pub fn without(mut self, other: &Matches) -> Self {
        self.ordinals -= &other.ordinals;
        self
    }

    /// Up to `n` keys of matching records, highest first, below `below`.
    pub fn keys_below(&self, below: Option<i64>, n: usize) -> Vec<i64> {
        let keys = &self.postings.keys;
        let start = below.map_or(0, |below| keys.partition_point(|&key| key >= below));
        let mut ordinals = self.ordinals.iter();
        ordinals.advance_to(u32::try_from(start).unwrap_or(u32::MAX));
        ordinals
            .take(n)
            .map(|ordinal| keys[ordinal as usize])
            .collect()
    }
}

/// Most keys read from the lists for one statement.
const MAX_BATCH: usize = 4096;

/// Up to `wanted` rows of the records in `matches`, newest first, below
/// `below`: `fetch` reads a batch of keys' rows, dropping those the
/// request's other filters refuse, in any order. The first batch is
/// `wanted` keys (enough when nothing is filtered out); while filters leave
/// the page short, each next batch is four times larger, up to `MAX_BATCH`.
pub fn page<R>(
    matches: &Matches,
    below: Option<i64>,
    wanted: usize,
    key_of: impl Fn(&R) -> i64,
    mut fetch: impl FnMut(&[i64]) -> DbResult<Vec<R>>,
) -> DbResult<Vec<R>> {
    let mut rows: Vec<R> = Vec::new();
    let mut below = below;
    let mut batch = wanted.max(1);
    while rows.len() < wanted {
        let keys = matches.keys_below(below, batch);
        let Some(&lowest) = keys.last() else { break };
        let mut found = fetch(&keys)?;
        found.sort_unstable_by_key(|row| std::cmp::Reverse(key_of(row)));
        rows.extend(found);
        if keys.len() < batch {
            break;
        }
        below = Some(lowest);
        batch = (batch * 4).min(MAX_BATCH);
    }
    rows.truncate(wanted);
    Ok(rows)
}

fn add(lists: &mut HashMap<Box<str>, RoaringBitmap>, token: &str, ordinal: u32) {
    match lists.get_mut(token) {
        // Ordinals arrive in increasing order, so this appends; it refuses
        // only a token the record already gave (title and body).
        Some(bitmap) => {
            let _ = bitmap.try_push(ordinal);
        }
        None => {
            let mut bitmap = RoaringBitmap::new();
            bitmap.insert(ordinal);
            lists.insert(token.into(), bitmap);
        }
    }
}

/// The current posting lists of one text index, and their rebuilding.
pub struct Slot {
    index: TextIndex,
    /// Where background rebuilds get their connection.
    pool: DbPool,
    current: RwLock<Option<Arc<Postings>>>,
    building: Arc<AtomicBool>,
    /// Whether lists never built yet may be built by a search (tests, and
    /// servers that did not `warm` them: their size is unknown).
    inline_first: AtomicBool,
    /// Off: every search uses the SQL index (to compare the two).
    enabled: bool,
}

impl Slot {
    fn new(index: TextIndex, pool: &DbPool, enabled: bool) -> Self {
        Self {
            enabled,
            index,
            pool: pool.clone(),
            current: RwLock::new(None),
            building: Arc::new(AtomicBool::new(false)),
            inline_first: AtomicBool::new(true),
        }
    }

    /// The lists if they are those of the database's current data version.
    /// Otherwise `None`, and a rebuild: on this connection when the index
    /// is small, else in the background on a pooled connection (one rebuild
    /// at a time), so that this search is answered by the SQL index and a
    /// later one by the new lists.
    pub fn current(self: &Arc<Self>, conn: &mut DbConn) -> DbResult<Option<Arc<Postings>>> {
        if !self.enabled {
            return Ok(None);
        }
        let version = super::data_version(conn)?;
        let held = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(postings) = &held {
            if postings.version == version {
                return Ok(held);
            }
        }
        let small = match &held {
            Some(postings) => postings.len() <= REBUILD_INLINE_MAX,
            None => self.inline_first.load(Ordering::Relaxed),
        };
        if small && !self.building.load(Ordering::Acquire) {
            let postings = Arc::new(self.build(conn)?);
            self.store(postings.clone());
            return Ok((postings.version == version).then_some(postings));
        }
        self.rebuild_in_background();
        Ok(None)
    }

    /// Starts a rebuild on its own thread unless one is running.
    fn rebuild_in_background(self: &Arc<Self>) {
        if !self.building.swap(true, Ordering::AcqRel) {
            let slot = Arc::clone(self);
            std::thread::spawn(move || {
                slot.rebuild();
                slot.building.store(false, Ordering::Release);
            });
        }
    }

    fn rebuild(&self) {
        let built = self
            .pool
            .get()
            .map_err(super::DbError::from)
            .and_then(|mut conn| self.build(&mut conn));
        match built {
            Ok(postings) => self.store(Arc::new(postings)),
            Err(err) => log::warn!("search lists of {}: {err}", self.index.name()),
        }
    }

    fn build(&self, conn: &mut DbConn) -> DbResult<Postings> {
        // The version first: a write landing during the read makes the
        // lists newer than their label, never older, and the next search
        // rebuilds them.
        let version = super::data_version(conn)?;
        let started = std::time::Instant::now();
        let index = self.index;
        let postings = Postings::build(version, |each| index.for_each_entry(conn, each))?;
        log::info!(
            "search lists of {}: {} records, {} KiB, at data version {version} in {:?}",
            index.name(),
            postings.len(),
            postings.bytes() / 1024,
            started.elapsed()
        );
        // The build's transient rows are freed in one go; hand the memory
        // back rather than keep it in the heap (see `crate::trim_heap`).
        crate::trim_heap();
        Ok(postings)
    }

    fn store(&self, postings: Arc<Postings>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // Never replace newer lists by older ones (two builds racing).
        if current
            .as_ref()
            .is_none_or(|held| held.version <= postings.version)
        {
            *current = Some(postings);
        }
    }
}

/// The posting lists of every searchable resource.
pub struct SearchLists {
    pub events: Arc<Slot>,
    pub products: Arc<Slot>,
}

impl SearchLists {
    /// Lists over the database of `pool`, built when first searched; or,
    /// not `enabled`, none: searches use the SQL index.
    pub fn new(pool: &DbPool, enabled: bool) -> Self {
        Self {
            events: Arc::new(Slot::new(super::search::EVENTS, pool, enabled)),
            products: Arc::new(Slot::new(super::search::PRODUCTS, pool, enabled)),
        }
    }

    /// Builds every list in the background now, so that the first searches
    /// after start-up find them.
    pub fn warm(&self) {
        for slot in [&self.events, &self.products] {
            if !slot.enabled {
                continue;
            }
            slot.inline_first.store(false, Ordering::Relaxed);
            slot.rebuild_in_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> Postings {
        Postings::build(7, |each| {
            each(30, "绿 色 绿色", "茶 叶 茶叶");
            each(20, "有 机 有机", "大 米 大米");
            each(10, "有 机 有机", "茶 叶 茶叶");
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn matches_come_newest_first_and_page_below_a_key() {
        let lists = lists();
        let tea = lists.matching(&SearchQuery::parse("茶叶").unwrap(), Field::Everything);
        assert_eq!(tea.keys_below(None, 10), [30, 10]);
        assert_eq!(tea.keys_below(Some(30), 10), [10]);
        assert_eq!(tea.keys_below(None, 1), [30]);
        let organic = SearchQuery::parse("有机").unwrap();
        assert_eq!(
            lists.matching(&organic, Field::Title).keys_below(None, 10),
            [20, 10]
        );
        assert!(lists
            .matching(&SearchQuery::parse("茶").unwrap(), Field::Title)
            .keys_below(None, 10)
            .is_empty());
    }

    #[test]
    fn every_token_must_occur_and_unknown_tokens_match_nothing() {
        let lists = lists();
        let both = SearchQuery::parse("有机 茶叶").unwrap();
        assert_eq!(
            lists
                .matching(&both, Field::Everything)
                .keys_below(None, 10),
            [10]
        );
        let unknown = SearchQuery::parse("有机 咖啡").unwrap();
        assert!(lists
            .matching(&unknown, Field::Everything)
            .keys_below(None, 10)
            .is_empty());
        let symbols = SearchQuery::parse("*").unwrap();
        assert!(lists
            .matching(&symbols, Field::Everything)
            .keys_below(None, 10)
            .is_empty());
        let everything = lists.matching(&SearchQuery::parse("有机").unwrap(), Field::Everything);
        let title = lists.matching(&SearchQuery::parse("大米").unwrap(), Field::Everything);
        assert_eq!(everything.without(&title).keys_below(None, 10), [10]);
    }
}
