"""The portal and journalist journeys with the Python client that
openapi-python-client generates from openapi/openapi.json (run by
tests/clients/run.sh, with the generated package on PYTHONPATH).

Portal: a province's events for a year through every cursor, nearby open
days on AMap, a certificate and its organic code, a poster download.
Journalist: search, facets, the CSV export read with the `csv` module, the
iCalendar feed read with the `icalendar` package."""
import csv
from datetime import date
import hashlib
import io
import os

import icalendar
from ticweek_client import Client
from ticweek_client.api.events import list_events, list_events_csv, list_events_ics
from ticweek_client.api.labs import list_open_days
from ticweek_client.api.posters import download_poster_file, list_posters
from ticweek_client.api.products import check_organic_code, get_product, list_products, list_products_csv
from ticweek_client.models import CampaignKind, CoordSys, EventPage, Problem, ProductStatus, Scheme

client = Client(base_url=os.environ["TICWEEK"], raise_on_unexpected_status=True)


def ok(reply):
    """The parsed 200 body of a `sync_detailed` reply, or a failure naming the problem."""
    assert reply.status_code == 200, f"HTTP {reply.status_code}: {reply.content[:300]!r}"
    return reply.parsed


# --- portal ---------------------------------------------------------------

def province_year(region: str, year: int) -> list:
    # `from`/`to` are typed (a date or an instant): the client takes dates.
    window = {"region": region, "from_": date(year, 1, 1), "to": date(year, 12, 31), "limit": 3}
    first = ok(list_events.sync_detailed(client=client, facets="year", **window))
    assert isinstance(first, EventPage)
    expected = sum(f.count for f in first.facets.additional_properties["year"])
    events, cursor, pages = list(first.items), first.next_cursor, 1
    while cursor:
        page = ok(list_events.sync_detailed(client=client, cursor=cursor, **window))
        events += page.items
        cursor, pages = page.next_cursor, pages + 1
    assert pages > 1 and len(events) == expected, (pages, len(events), expected)
    assert len({e.id for e in events}) == len(events)
    for e in events:
        assert e.region.adcode[:2] == region[:2], e.id
        assert e.starts_at.utcoffset().total_seconds() == 8 * 3600, e.starts_at
    print(f"events: {len(events)} in {region} in {year}, {pages} pages")
    return events


def nearby():
    days = ok(list_open_days.sync_detailed(client=client, near="28.68,115.87", radius_km=30,
                                           coord_sys=CoordSys.GCJ02))
    assert days.items, "the fixture's Nanchang lab has upcoming open days"
    distances = [d.distance_km for d in days.items]
    assert distances == sorted(distances) and distances[-1] <= 30, distances
    first = days.items[0]
    print(f"open days: {len(days.items)} within 30 km; first {first.lab.name} at {first.distance_km} km")


def certificate():
    page = ok(list_products.sync_detailed(client=client, scheme=Scheme.ORGANIC,
                                          status=ProductStatus.VALID, limit=20))
    cert = next(p for p in page.items if p.organic_codes)
    typed = f"  {cert.certificate_no.lower()} "
    found = ok(get_product.sync_detailed(client=client, certificate_no=typed))
    assert found.certificate_no == cert.certificate_no and found.status == ProductStatus.VALID
    code = cert.organic_codes[0].first
    check = ok(check_organic_code.sync_detailed(client=client, code=code))
    assert check.certificate.certificate_no == cert.certificate_no
    print(f"certificate: {found.certificate_no} ({found.holder.name}); code {code} → {check.layout.value}")


def poster():
    posters = ok(list_posters.sync_detailed(client=client, kind=CampaignKind.ORGANIC_WEEK))
    p = next(x for x in posters.items if x.id == "clients-poster")
    png = next(f for f in p.files if f.variant.value == "png")
    reply = download_poster_file.sync_detailed(client=client, id=p.id, format_=png.format_)
    assert reply.status_code == 200
    assert hashlib.sha256(reply.content).hexdigest() == png.sha256
    print(f"poster: {p.title}, {len(reply.content)} bytes, sha256 ok")


def bad_input():
    reply = list_open_days.sync_detailed(client=client, near="NaN,1")
    assert reply.status_code == 400 and isinstance(reply.parsed, Problem), reply.content
    assert reply.parsed.errors[0].field == "near"
    print(f"bad input: 400 naming {reply.parsed.errors[0].field!r}")


# --- journalist -----------------------------------------------------------

def search():
    hits = ok(list_events.sync_detailed(client=client, q="有机", facets="kind,region", limit=100))
    assert hits.items and all("有机" in e.title + e.description for e in hits.items)
    kinds = hits.facets.additional_properties["kind"]
    assert sum(f.count for f in kinds) >= len(hits.items)
    # Search input is data: quotes and operators match literally (here: nothing).
    literal = ok(list_events.sync_detailed(client=client, q='有机" OR "'))
    assert literal.items == []
    print(f"search: 有机 → {len(hits.items)} events across {len(kinds)} kinds")


def facets():
    page = ok(list_products.sync_detailed(client=client, scheme=Scheme.ORGANIC, status=ProductStatus.VALID,
                                          facets="region,category", limit=1))
    regions = page.facets.additional_properties["region"]
    total = sum(f.count for f in regions)
    categories = sum(f.count for f in page.facets.additional_properties["category"])
    assert total == categories and total > 0, (total, categories)
    top = max(regions, key=lambda f: f.count)
    print(f"facets: {total} valid organic certificates; most in {top.name} ({top.count})")
    return total


def csv_export(valid_organic: int, jiangxi_2022: int):
    reply = list_products_csv.sync_detailed(client=client, scheme=Scheme.ORGANIC, status=ProductStatus.VALID,
                                            limit=1000)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert len(rows) == valid_organic, (len(rows), valid_organic)
    assert all(r["status"] == "valid" and r["scheme"] == "organic" for r in rows)
    events = list_events_csv.sync_detailed(client=client, region="360000", from_=date(2022, 1, 1), to=date(2022, 12, 31))
    event_rows = list(csv.DictReader(io.StringIO(events.content.decode("utf-8-sig"))))
    assert len(event_rows) == jiangxi_2022, (len(event_rows), jiangxi_2022)
    assert all(r["region_adcode"].startswith("36") for r in event_rows), event_rows[:1]
    print(f"csv: {len(rows)} certificates, {len(event_rows)} Jiangxi 2022 events")


def ical():
    reply = list_events_ics.sync_detailed(client=client, region="360000", from_=date(2022, 1, 1),
                                          to=date(2022, 12, 31), include="deadlines")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(reply.content)
    vevents = calendar.walk("VEVENT")
    assert vevents, "the Jiangxi 2022 events are in the feed"
    for v in vevents:
        assert v.get("UID") and v.get("SUMMARY") and v.get("DTSTART")
    print(f"ical: {len(vevents)} VEVENTs, first {vevents[0].get('SUMMARY')}")


jiangxi_2022 = province_year("360000", 2022)
nearby()
certificate()
poster()
bad_input()
search()
csv_export(facets(), len(jiangxi_2022))
ical()
print("portal and journalist journeys (Python): ok")
