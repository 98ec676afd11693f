#!/usr/bin/env python3
"""Prints an import document of synthetic *upcoming* records for the client
tests: the bundled public records are all past (2022, 2024), and a portal's
widget shows what is ahead. Dates are relative to today in Asia/Shanghai, so
the fixture never goes stale. Every record says it is synthetic."""
import json
from datetime import date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))
SOURCE = "ticweek client tests (synthetic, not public data)"
today = datetime.now(SHANGHAI).date()


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).isoformat()


def campaign(kind: str, title: str) -> dict:
    return {
        "id": f"clients-{kind.replace('_', '-')}", "kind": kind, "year": today.year, "title": title,
        "region": "360000", "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=90)).isoformat(),
        "notice_id": "clients-notice", "source": SOURCE,
    }


def event(n: int, kind: str, region: str, days: int, title: str, point=None) -> dict:
    lat, lon = point or (None, None)
    return {
        "id": f"clients-event-{n}", "campaign_id": f"clients-{kind.replace('_', '-')}",
        "title": title, "description": f"{title}（测试数据）", "activities": ["lecture"],
        "starts_at": at(today + timedelta(days=days), 9),
        "ends_at": at(today + timedelta(days=days), 17),
        "venue": {"name": None, "address": None, "lat": lat, "lon": lon,
                  "precision": "exact" if point else "region"},
        "region": region, "organizer": "测试市场监督管理局", "attendance": "offline",
        "status": "scheduled", "source": SOURCE,
    }


def session(n: int, days: int, bookable: bool) -> dict:
    return {
        "id": f"clients-open-day-{n}", "starts_at": at(today + timedelta(days=days), 9),
        "ends_at": at(today + timedelta(days=days), 16),
        "description": "实验室开放参观，专家答疑（测试数据）",
        "activities": ["lab_tour", "expert_qa"], "audience": "公众", "capacity": 30,
        "booking": {"required": bookable, "url": "https://example.org/book" if bookable else None,
                    "phone": None},
        "status": "scheduled",
    }


doc = {
    "notices": [{
        "id": "clients-notice", "doc_number": f"测试〔{today.year}〕1号",
        "title": "客户端测试通知（合成数据）", "issuer": "测试市场监督管理局", "region": "360000",
        "issued_on": (today - timedelta(days=10)).isoformat(), "body": "合成数据，仅供测试。",
        "source": SOURCE,
    }],
    "campaigns": [
        campaign("lab_open_day", "检验检测机构开放日"),
        campaign("organic_week", "有机产品认证宣传周"),
    ],
    "events": [
        event(1, "lab_open_day", "360100", 3, "南昌检验检测机构开放日", (28.6829, 115.8582)),
        event(2, "organic_week", "360700", 5, "赣州有机产品进社区"),
        event(3, "lab_open_day", "360100", 12, "南昌食品实验室开放日", (28.6612, 115.8005)),
        # Markup in a title is text: the widget must show it, not parse it.
        event(4, "organic_week", "360100", 20, "有机产品认证知识讲座 <b>答疑</b>"),
        event(5, "lab_open_day", "360100", -30, "已结束的开放日"),
    ],
    "labs": [{
        "id": "clients-lab-nanchang", "name": "南昌测试检验检测中心（合成数据）",
        "fields": ["food", "electronics"], "address": "南昌市红谷滩区（测试）",
        "region": "360100", "lat": 28.6829, "lon": 115.8582, "precision": "exact",
        "open_days": [session(1, 4, True), session(2, 15, False)],
        "source": SOURCE,
    }],
}
print(json.dumps(doc, ensure_ascii=False, indent=1))
