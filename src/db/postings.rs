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
    title: HashMap<Box<str>, RoaringBitmap>,
    everything: HashMap<Box<str>, RoaringBitmap>,
}

/// The records matching a query: ordinals into `Postings::keys`.
pub struct Matches<'a> {
    postings: &'a Postings,
    ordinals: Cow<'a, RoaringBitmap>,
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
        // One token borrows its list; more intersect into a new one, so no
        // list is copied (a common bigram's list is tens of kilobytes).
        let ordinals = match rest.split_first() {
            None => Cow::Borrowed(*rarest),
            Some((next, others)) => {
                let mut both = *rarest & *next;
                for bitmap in others {
                    both &= *bitmap;
                }
                Cow::Owned(both)
            }
        };
        Matches {
            postings: self,
            ordinals,
        }
    }

    fn none(&self) -> Matches<'_> {
        Matches {
            postings: self,
            ordinals: Cow::Owned(RoaringBitmap::new()),
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
        lists + self.keys.len() * std::mem::size_of::<i64>()
    }
}

impl Matches<'_> {
    /// Removes the records of `other` (same lists) from these.
    pub fn without(mut self, other: &Matches) -> Self {
        *self.ordinals.to_mut() -= other.ordinals.as_ref();
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
