//! List pages of events and campaigns chosen in memory.
//!
//! Events (3,018 in the national data) and campaigns (784) are few, and the
//! API already holds each one's representation (`api::held`). What a list
//! page still asked the database was which of them make the page: on
//! PostgreSQL a hand-off to the blocking pool and a round trip per page,
//! and the lists' p99 sat at 4.3-5.1 ms against a 5 ms goal. A listing
//! holds the fields the filters compare, in the orders pages take, and
//! chooses the page the SQL would (`events::conditions`,
//! `campaigns::page_query!`; the tests walk both paths and compare their
//! bytes). It is built with the representations, from the same rows, so it
//! is current exactly when they are.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::campaigns::{CampaignFilter, CampaignRow};
use super::events::{EventFilter, EventKey, EventRow, KeyPage, Order, MAX_EVENT_DAYS};
use super::DbResult;
use crate::domain::RegionLevel;

/// About how much memory a listing takes.
pub trait Footprint {
    fn bytes(&self) -> usize;
}

/// Every event's filter fields, in both time orders.
pub struct Events {
    events: Vec<Event>,
    all: Orders,
    /// The same orders of each province's events, by province adcode: a
    /// region filter at any level is within one province.
    provinces: HashMap<Box<str>, Orders>,
}

/// Positions in `Events::events`: by (starts_at, id), and by (starts_at
/// descending, id), as `events::by_time_query!` orders them.
#[derive(Default)]
struct Orders {
    ascending: Vec<u32>,
    descending: Vec<u32>,
}

struct Event {
    search_key: i64,
    id: Box<str>,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    campaign_id: Box<str>,
    kind: Box<str>,
    status: Box<str>,
    province: Box<str>,
    city: Option<Box<str>>,
    region: Box<str>,
}

impl Events {
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a EventRow>) -> Self {
        let events: Vec<Event> = rows
            .into_iter()
            .map(|row| Event {
                search_key: row.search_key,
                id: row.id.as_str().into(),
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                updated_at: row.updated_at,
                campaign_id: row.campaign_id.as_str().into(),
                kind: row.kind.as_str().into(),
                status: row.status.as_str().into(),
                province: row.province.as_str().into(),
                city: row.city.as_deref().map(Box::from),
                region: row.region.as_str().into(),
            })
            .collect();
        let count = u32::try_from(events.len()).expect("fewer than 2^32 events");
        let mut ascending: Vec<u32> = (0..count).collect();
        ascending.sort_by(|&a, &b| {
            let (a, b) = (&events[a as usize], &events[b as usize]);
            a.starts_at.cmp(&b.starts_at).then_with(|| a.id.cmp(&b.id))
        });
        let mut descending = ascending.clone();
        descending.sort_by(|&a, &b| {
            let (a, b) = (&events[a as usize], &events[b as usize]);
            b.starts_at.cmp(&a.starts_at).then_with(|| a.id.cmp(&b.id))
        });
        let mut provinces: HashMap<Box<str>, Orders> = HashMap::new();
        for &at in &ascending {
            let province = events[at as usize].province.clone();
            provinces.entry(province).or_default().ascending.push(at);
        }
        for &at in &descending {
            let province = &events[at as usize].province;
            if let Some(orders) = provinces.get_mut(province) {
                orders.descending.push(at);
            }
        }
        Self {
            events,
            all: Orders {
                ascending,
                descending,
            },
            provinces,
        }
    }

    /// The page `events::list` gives in a time `order`, as `page_keys`
    /// answers it; `None` for what only the SQL path answers: other
    /// orders, a text query or a point, and an empty page filtered by
    /// campaign (whose id the SQL path checks, for its 422).
    pub fn page(
        &self,
        filter: &EventFilter,
        order: Order,
        after: Option<&EventKey>,
        limit: i64,
    ) -> DbResult<Option<KeyPage>> {
        let descending = match order {
            Order::StartsAt => false,
            Order::StartsAtDesc => true,
            Order::Relevance | Order::Distance => return Ok(None),
        };
        if filter.q.is_some() || filter.near.is_some() {
            return Ok(None);
        }
        let level = super::regions::filter_level(filter.region.as_ref())?;
        let orders = match &filter.region {
            None => &self.all,
            Some(region) => match self.provinces.get(province_of(region.as_str()).as_str()) {
                Some(orders) => orders,
                None => return Ok(key_page(Vec::new(), filter, limit)),
            },
        };
        let list = if descending {
            &orders.descending
        } else {
            &orders.ascending
        };
        let event = |at: &u32| &self.events[*at as usize];
        // As `conditions`: an event of the window starts after `earliest`
        // (events last at most MAX_EVENT_DAYS) and before `end`.
        let earliest =
            (filter.window.start).map(|start| start - chrono::Duration::days(MAX_EVENT_DAYS));
        let end = filter.window.end;
        let mut from = match after {
            Some(EventKey::Time { starts_at, id }) => {
                list.partition_point(|at| !event(at).follows(*starts_at, id, descending))
            }
            _ => 0,
        };
        // What starts on the far side of the window in this order.
        from = from.max(match (descending, earliest, end) {
            (false, Some(earliest), _) => {
                list.partition_point(|at| event(at).starts_at <= earliest)
            }
            (true, _, Some(end)) => list.partition_point(|at| event(at).starts_at >= end),
            _ => 0,
        });
        let wanted = usize::try_from(limit).unwrap_or(0) + 1;
        let mut keys = Vec::with_capacity(wanted.min(list.len()));
        for at in &list[from..] {
            let event = event(at);
            // Past the window's near side: nothing after it matches.
            let past = if descending {
                earliest.is_some_and(|earliest| event.starts_at <= earliest)
            } else {
                end.is_some_and(|end| event.starts_at >= end)
            };
            if past {
                break;
            }
            if event.matches(filter, level, earliest) {
                keys.push((event.search_key, 0));
                if keys.len() == wanted {
                    break;
                }
            }
        }
        Ok(key_page(keys, filter, limit))
    }
}

/// A page of `keys` read one past the limit, or `None` where only the SQL
/// path can answer: an empty page filtered by campaign.
fn key_page(mut keys: Vec<(i64, u8)>, filter: &EventFilter, limit: i64) -> Option<KeyPage> {
    if keys.is_empty() && filter.campaign.is_some() {
        return None;
    }
    let more = super::cut_page(&mut keys, limit);
    Some((keys, more))
}

impl Event {
    /// Whether the event comes after the cursor (`starts_at`, `id`) in its
    /// order.
    fn follows(&self, starts_at: NaiveDateTime, id: &str, descending: bool) -> bool {
        let sooner = if descending {
            self.starts_at < starts_at
        } else {
            self.starts_at > starts_at
        };
        sooner || (self.starts_at == starts_at && &*self.id > id)
    }

    /// `events::conditions`, but for the text query and the point
    /// (`earliest`: the window's start less MAX_EVENT_DAYS, computed once a
    /// page).
    fn matches(
        &self,
        filter: &EventFilter,
        level: Option<RegionLevel>,
        earliest: Option<NaiveDateTime>,
    ) -> bool {
        let region = match (&filter.region, level) {
            (Some(code), Some(RegionLevel::Province)) => *self.province == *code.as_str(),
            (Some(code), Some(RegionLevel::City)) => self.city.as_deref() == Some(code.as_str()),
            (Some(code), Some(RegionLevel::County)) => *self.region == *code.as_str(),
            _ => true,
        };
        region
            && filter.kind.is_none_or(|kind| *self.kind == *kind.as_str())
            && (filter.campaign.as_deref()).is_none_or(|id| *self.campaign_id == *id)
            && filter.window.start.is_none_or(|start| self.ends_at > start)
            && earliest.is_none_or(|earliest| self.starts_at > earliest)
            && filter.window.end.is_none_or(|end| self.starts_at < end)
            && filter
                .status
                .is_none_or(|status| *self.status == *status.as_str())
            && filter
                .updated_since
                .is_none_or(|since| self.updated_at >= since)
    }
}

impl Footprint for Events {
    fn bytes(&self) -> usize {
        let strings: usize = (self.events.iter())
            .map(|e| {
                e.id.len()
                    + e.campaign_id.len()
                    + e.kind.len()
                    + e.status.len()
                    + e.province.len()
                    + e.city.as_ref().map_or(0, |c| c.len())
                    + e.region.len()
            })
            .sum();
        // Each position is in two orders of all events and two of its province.
        self.events.capacity() * std::mem::size_of::<Event>() + strings + self.events.len() * 16
    }
}

/// The province adcode of a division's: GB/T 2260 codes share their
/// province's first two digits (`regions::code_range`).
fn province_of(code: &str) -> String {
    format!("{}0000", &code[..2])
}

/// Every campaign's filter fields, newest year first, then by id, as
/// `campaigns::page_query!` orders them.
pub struct Campaigns {
    campaigns: Vec<Campaign>,
}

struct Campaign {
    id: Box<str>,
    year: i32,
    kind: Box<str>,
    region: Option<Box<str>>,
}

impl Campaigns {
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a CampaignRow>) -> Self {
        let mut campaigns: Vec<Campaign> = rows
            .into_iter()
            .map(|row| Campaign {
                id: row.id.as_str().into(),
                year: row.year,
                kind: row.kind.as_str().into(),
                region: row.region.as_deref().map(Box::from),
            })
            .collect();
        campaigns.sort_by(|a, b| b.year.cmp(&a.year).then_with(|| a.id.cmp(&b.id)));
        Self { campaigns }
    }

    /// The ids of the page `campaigns::list` gives, and whether another
    /// page follows.
    pub fn page(&self, filter: &CampaignFilter) -> DbResult<(Vec<&str>, bool)> {
        let list = &self.campaigns;
        let mut from = match &filter.after {
            Some(after) => list.partition_point(|c| {
                !(c.year < after.year || (c.year == after.year && *c.id > *after.id))
            }),
            None => 0,
        };
        if let Some(year) = filter.year {
            from = from.max(list.partition_point(|c| c.year > year));
        }
        // As `page_query!`: the region itself or any division below it.
        let range = filter.region.as_ref().map(super::regions::code_range);
        let wanted = usize::try_from(filter.limit).unwrap_or(0) + 1;
        let mut ids = Vec::with_capacity(wanted.min(list.len()));
        for campaign in &list[from..] {
            if filter.year.is_some_and(|year| campaign.year < year) {
                break;
            }
            let matches = filter
                .kind
                .is_none_or(|kind| *campaign.kind == *kind.as_str())
                && range.as_ref().is_none_or(|(low, high)| {
                    (campaign.region.as_deref())
                        .is_some_and(|region| low.as_str() <= region && region <= high.as_str())
                });
            if matches {
                ids.push(&*campaign.id);
                if ids.len() == wanted {
                    break;
                }
            }
        }
        super::campaigns::page(ids, filter)
    }
}

impl Footprint for Campaigns {
    fn bytes(&self) -> usize {
        let strings: usize = (self.campaigns.iter())
            .map(|c| c.id.len() + c.kind.len() + c.region.as_ref().map_or(0, |r| r.len()))
            .sum();
        self.campaigns.capacity() * std::mem::size_of::<Campaign>() + strings
    }
}
