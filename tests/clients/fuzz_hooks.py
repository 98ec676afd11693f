"""Schemathesis hooks: the rules an OpenAPI document cannot state, applied to
generated requests so that a "valid" request is valid. Each rule is tested on
its own in tests/integration (forged cursors, `from` after `to`, ...); here
they only keep the fuzzer from reporting them as contract breaks.

- `cursor` (every list) and `since` on /api/v1/changes are opaque tokens only
  the server mints: a generated one is forged and refused with 400.
- `radius_km` and `sort=distance` need `near`.
- `from` must not be after `to` (on /api/v1/open-days `from` is today when
  absent).
"""

from datetime import date, datetime, time, timedelta, timezone

import schemathesis
from schemathesis.generation import GenerationMode

SHANGHAI = timezone(timedelta(hours=8))


def _instant(raw, end):
    """The instant a `from`/`to` bound starts (or, for a `to` date, ends) at."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), SHANGHAI)
        return datetime.fromisoformat(raw.replace("z", "Z").replace("t", "T"))
    except (ValueError, OverflowError):
        return None


@schemathesis.hook
def map_case(ctx, case):
    """Positive cases only: a negative one may be negative because of the very
    parameter a rule would drop."""
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    query = case.query
    if not isinstance(query, dict):
        return case
    query.pop("cursor", None)
    if case.operation.path == "/api/v1/changes":
        query.pop("since", None)
    if "near" not in query:
        query.pop("radius_km", None)
        if query.get("sort") == "distance":
            query.pop("sort")
    start, end = query.get("from"), query.get("to")
    if start is None and case.operation.path.startswith("/api/v1/open-days"):
        start = datetime.now(SHANGHAI).date().isoformat()
    if isinstance(start, str) and isinstance(end, str):
        a, b = _instant(start, False), _instant(end, True)
        try:
            if a is not None and b is not None and a > b:
                query.pop("to")
        except TypeError:
            pass
    return case
