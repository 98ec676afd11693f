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
//! for_each_entry`), so they hold exactly the tokens the SQL search would
//! match; `memory::Slot` keeps them current with the data.

use std::borrow::Cow;
use std::collections::HashMap;

use roaring::RoaringBitmap;

use super::memory::Snapshot;
use super::search::Field;
use super::DbResult;
use crate::domain::SearchQuery;

/// The posting lists of one text index at one version of its records.
pub struct Postings {
    version: i64,
    /// Search keys, highest (newest) first: a bitmap's ordinals index this.
    keys: Vec<i64>,
    /// Where the database keeps each record (SQLite's rowid, PostgreSQL's
    /// `ctid`), by ordinal as `keys`; empty where the index's reader does
    /// not use it. A hint: the reader checks the key it finds.
    rows: Vec<i64>,
    title: HashMap<Box<str>, RoaringBitmap>,
    everything: HashMap<Box<str>, RoaringBitmap>,
}

/// The records matching a query: ordinals into `Postings::keys`.
pub struct Matches<'a> {
    postings: &'a Postings,
    ordinals: Ordinals<'a>,
}

/// The ordinals of matching records.
enum Ordinals<'a> {
    Set(Cow<'a, RoaringBitmap>),
    /// Those in every one of these lists (two or more, rarest first), not
    /// intersected yet: a page walks the rarest and tests the others, and
    /// only what a page does not find within a few times its size is
    /// intersected whole (`ordinals_below`).
    AllOf(Vec<&'a RoaringBitmap>),
}

impl Ordinals<'_> {
    fn set(&self) -> Cow<'_, RoaringBitmap> {
        match self {
            Self::Set(set) => Cow::Borrowed(set.as_ref()),
            Self::AllOf(lists) => {
                let (first, others) = lists.split_first().expect("two lists or more");
                let mut both = (*first).clone();
                for list in others {
                    both &= *list;
                }
                Cow::Owned(both)
            }
        }
    }
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
            rows: Vec::new(),
            title,
            everything,
        })
    }

    /// With each record's place (`rows`: search key and row, highest key
    /// first, as `TextIndex::rows_by_key` reads them); a key without one
    /// gets 0, "unknown" (the reader checks the key of whatever it finds).
    pub fn located(mut self, rows: Vec<(i64, i64)>) -> Self {
        if rows.is_empty() {
            return self;
        }
        let mut rows = rows.into_iter().peekable();
        self.rows = self
            .keys
            .iter()
            .map(|&key| {
                while rows.next_if(|&(k, _)| k > key).is_some() {}
                rows.next_if(|&(k, _)| k == key).map_or(0, |(_, row)| row)
            })
            .collect();
        self
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
        let ordinals = match bitmaps.as_slice() {
            // No searchable token (only punctuation): nothing matches.
            [] => return self.none(),
            // One token borrows its list (a common bigram's list is tens of
            // kilobytes).
            [only] => Ordinals::Set(Cow::Borrowed(*only)),
            _ => Ordinals::AllOf(bitmaps),
        };
        Matches {
            postings: self,
            ordinals,
        }
    }

    fn none(&self) -> Matches<'_> {
        Matches {
            postings: self,
            ordinals: Ordinals::Set(Cow::Owned(RoaringBitmap::new())),
        }
    }
}

impl Snapshot for Postings {
    fn version(&self) -> i64 {
        self.version
    }

    fn records(&self) -> usize {
        self.keys.len()
    }

    /// Their serialized size, about their memory.
    fn bytes(&self) -> usize {
        let lists: usize = self
            .title
            .iter()
            .chain(&self.everything)
            .map(|(token, bitmap)| token.len() + bitmap.serialized_size())
            .sum();
        lists + (self.keys.len() + self.rows.len()) * std::mem::size_of::<i64>()
    }
}

/// How many candidates of its rarest list a page walks, per key wanted,
/// before intersecting the lists whole: a dense match (有限公, 猕猴桃) fills
/// a page within a few dozen, where the whole intersection of two common
/// bigrams' lists was 4 % of a search page; a sparse one costs at most this
/// walk more.
const WALK_PER_KEY: usize = 8;

impl Matches<'_> {
    /// Removes the records of `other` (same lists) from these.
    pub fn without(self, other: &Matches) -> Self {
        let mut set = self.ordinals.set().into_owned();
        set -= other.ordinals.set().as_ref();
        Self {
            postings: self.postings,
            ordinals: Ordinals::Set(Cow::Owned(set)),
        }
    }

    /// Up to `n` keys of matching records, highest first, below `below`.
    #[cfg(test)]
    pub fn keys_below(&self, below: Option<i64>, n: usize) -> Vec<i64> {
        let keys = &self.postings.keys;
        let ordinals = self.ordinals_below(below, n);
        ordinals.iter().map(|&o| keys[o as usize]).collect()
    }

    /// `keys_below`, each key with where its record is (`Postings::rows`).
    pub fn located_below(&self, below: Option<i64>, n: usize) -> Vec<Located> {
        let postings = self.postings;
        let ordinals = self.ordinals_below(below, n);
        ordinals
            .iter()
            .map(|&o| Located {
                key: postings.keys[o as usize],
                row: postings.rows.get(o as usize).copied().unwrap_or(0),
            })
            .collect()
    }

    /// The ordinals of `keys_below`.
    fn ordinals_below(&self, below: Option<i64>, n: usize) -> Vec<u32> {
        let keys = &self.postings.keys;
        let start = below.map_or(0, |below| keys.partition_point(|&key| key >= below));
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        if let Ordinals::AllOf(lists) = &self.ordinals {
            let (rarest, others) = lists.split_first().expect("two lists or more");
            let mut candidates = rarest.iter();
            candidates.advance_to(start);
            let budget = n.saturating_mul(WALK_PER_KEY).max(64);
            let mut walked = 0;
            let mut found = Vec::with_capacity(n);
            for ordinal in candidates {
                if found.len() == n || walked == budget {
                    break;
                }
                walked += 1;
                if others.iter().all(|list| list.contains(ordinal)) {
                    found.push(ordinal);
                }
            }
            // A full page, or the rarest list ran out: that is all of it.
            if found.len() == n || walked < budget {
                return found;
            }
        }
        let set = self.ordinals.set();
        let mut ordinals = set.iter();
        ordinals.advance_to(start);
        ordinals.take(n).collect()
    }
}

/// A matching record: its search key, and where the database keeps it
/// (`Postings::rows`; 0: not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub key: i64,
    pub row: i64,
}

/// Most keys read from the lists for one statement.
const MAX_BATCH: usize = 4096;

/// Up to `wanted` rows of the records in `matches`, newest first, below
/// `below`: `fetch` reads a batch of records' rows, dropping those the
/// request's other filters refuse, in any order. The first batch is
/// `wanted` keys (enough when nothing is filtered out); while filters leave
/// the page short, each next batch is four times larger, up to `MAX_BATCH`.
pub fn page<R>(
    matches: &Matches,
    below: Option<i64>,
    wanted: usize,
    key_of: impl Fn(&R) -> i64,
    mut fetch: impl FnMut(&[Located]) -> DbResult<Vec<R>>,
) -> DbResult<Vec<R>> {
    let mut rows: Vec<R> = Vec::new();
    let mut below = below;
    let mut batch = wanted.max(1);
    while rows.len() < wanted {
        let records = matches.located_below(below, batch);
        let Some(lowest) = records.last().map(|record| record.key) else {
            break;
        };
        let mut found = fetch(&records)?;
        found.sort_unstable_by_key(|row| std::cmp::Reverse(key_of(row)));
        rows.extend(found);
        if records.len() < batch {
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

    /// A page walks the rarest list while the match is dense and
    /// intersects the lists whole when it is sparse: the same keys either
    /// way, from any cursor, for any page size.
    #[test]
    fn pages_of_several_tokens_are_the_whole_intersection() {
        // 3,000 records: `a` on every 2nd, `b` on every 3rd (dense: every
        // 6th has both), `c` on few, `d` on as many as `a` but rarely with
        // it (sparse: the walk gives up and the lists are intersected).
        let lists = Postings::build(1, |each| {
            for key in (1..=3000i64).rev() {
                let mut tokens = Vec::new();
                if key % 2 == 0 {
                    tokens.push("a");
                }
                if key % 3 == 0 {
                    tokens.push("b");
                }
                if key % 500 == 0 || key < 12 {
                    tokens.push("c");
                }
                if key % 2 == 1 || key % 1000 == 0 {
                    tokens.push("d");
                }
                each(key, "", &tokens.join(" "));
            }
            Ok(())
        })
        .unwrap();
        let whole = |query: &str, below: Option<i64>, n: usize| -> Vec<i64> {
            let wanted: Vec<&str> = query.split(' ').collect();
            (1..=3000i64)
                .rev()
                .filter(|key| below.is_none_or(|b| *key < b))
                .filter(|key| {
                    wanted.iter().all(|token| match *token {
                        "a" => key % 2 == 0,
                        "b" => key % 3 == 0,
                        "c" => key % 500 == 0 || *key < 12,
                        _ => key % 2 == 1 || key % 1000 == 0,
                    })
                })
                .take(n)
                .collect()
        };
        for query in ["a b", "a c", "b c", "a b c", "a d", "b d"] {
            let matches = lists.matching(&SearchQuery::parse(query).unwrap(), Field::Everything);
            for below in [None, Some(2999), Some(1500), Some(13), Some(7)] {
                for n in [1, 5, 21, 200, 4096] {
                    assert_eq!(
                        matches.keys_below(below, n),
                        whole(query, below, n),
                        "{query} below {below:?}, {n}"
                    );
                }
            }
        }
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
