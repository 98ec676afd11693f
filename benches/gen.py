#!/usr/bin/env python3
"""Deterministic national-scale data for the ticweek load run.

Writes one import document (the format of `ticweek import`): notices and
campaigns for every mainland province and year, events, labs with open-day
sessions, and organic/green certificates. Every record is invented for
benchmarking: ids start with `bench-` and `source` says so, so nothing here
can be mistaken for, or mixed into, the bundled public data.

Usage: python3 benches/gen.py [--seed 2026] [--events 3000] [--labs 20000]
       [--sessions 60000] [--products 200000] [--out benches/data/national.json]
Python 3 stdlib only.
"""
import argparse
import csv
import json
import pathlib
import random
from datetime import date, datetime, timedelta, timezone

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = "ticweek benchmark generator (synthetic, not public data)"
SHANGHAI = timezone(timedelta(hours=8))

PROVINCE_ABBR = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉",
    "23": "黑", "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣",
    "37": "鲁", "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "贵", "53": "云", "54": "藏", "61": "陕", "62": "甘",
    "63": "青", "64": "宁", "65": "新",
}
KINDS = {
    "organic_week": ("有机产品认证宣传周", ["有机产品认证：传递信任 守护消费", "护航消费升级 优享品质生活"]),
    "green_week": ("绿色产品认证与标识宣传周", ["践行双碳目标 守护绿水青山", "绿色认证 美好生活"]),
    "service_week": ("服务认证体验周", ["服务认证促发展惠民生", "认证推进服务业高质量发展"]),
    "lab_open_day": ("检验检测机构开放日", ["检验检测促进高质量发展", "检验检测认证助推产业优化升级"]),
    "sme_qms": ("小微企业质量管理体系认证提升行动", [None]),
}
ACTIVITIES = ["lecture", "training", "site_visit", "quality_class", "expert_qa",
              "free_testing", "cloud_tour", "works_call", "lab_tour"]
EVENT_TITLES = {
    "organic_week": ["有机产品进社区宣传活动", "有机产品认证知识讲座", "有机生产基地开放参观", "有机产品进商超咨询活动"],
    "green_week": ["绿色产品认证企业上门服务", "绿色产品标识宣传进园区", "绿色消费主题宣传活动"],
    "service_week": ["服务认证现场体验活动", "物业服务认证体验日", "广告行业质量管理培训"],
    "lab_open_day": ["检验检测机构开放日活动", "实验室开放参观", "便民检测进社区", "检验检测云参观"],
    "sme_qms": ["小微企业质量管理体系认证帮扶", "质量管理体系直通车入企服务"],
}
LAB_FIELDS = ["food", "agriculture", "electronics", "emc", "electrical_safety", "environment",
              "construction", "textiles", "chemicals", "medical_devices", "automotive", "metrology"]
FIELD_NAMES = {"food": "食品", "agriculture": "农产品", "electronics": "电子产品", "emc": "电磁兼容",
               "electrical_safety": "电器安全", "environment": "环境", "construction": "建设工程",
               "textiles": "纺织品", "chemicals": "化学品", "medical_devices": "医疗器械",
               "automotive": "机动车", "metrology": "计量"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
WORDS = "丰禾源绿农康泰盛华兴瑞祥和润宏达鑫隆安恒信德福嘉佳鸿运天地山水田园生态有机谷香春秋明月清泉金银玉"
ORGANIC_PRODUCTS = [("大米", "grain"), ("小米", "grain"), ("玉米", "grain"), ("茶叶", "tea"), ("绿茶", "tea"),
                    ("红茶", "tea"), ("白茶", "tea"), ("脐橙", "fruit"), ("苹果", "fruit"), ("猕猴桃", "fruit"),
                    ("蓝莓", "fruit"), ("蔬菜", "vegetable"), ("黄瓜", "vegetable"), ("番茄", "vegetable"),
                    ("大豆", "legume"), ("牛奶", "dairy"), ("羊奶粉", "dairy"), ("鸡蛋", "livestock"),
                    ("猪肉", "livestock"), ("牛肉", "livestock"), ("蜂蜜", "bee_product"), ("枸杞", "fruit"),
                    ("山茶油", "oil"), ("菜籽油", "oil"), ("香菇", "fungi"), ("木耳", "fungi"), ("鱼", "aquatic")]
GREEN_PRODUCTS = [("人造板", "building_materials"), ("涂料", "building_materials"), ("卫生陶瓷", "building_materials"),
                  ("家具", "furniture"), ("纺织品", "textiles"), ("洗涤用品", "detergents"), ("塑料制品", "plastics"),
                  ("电冰箱", "appliances"), ("空调器", "appliances"), ("洗衣机", "appliances"), ("纸和纸制品", "paper"),
                  ("太阳能热水系统", "appliances"), ("快递包装", "packaging")]
CERTIFIERS = [("中绿华夏有机产品认证中心", "CNCA-R-2002-001"), ("南京国环有机产品认证中心", "CNCA-R-2002-002"),
              ("北京中合金诺认证中心有限公司", "CNCA-R-2003-113"), ("杭州万泰认证有限公司", "CNCA-R-2002-039"),
              ("中国质量认证中心", "CNCA-R-2002-100"), ("方圆标志认证集团有限公司", "CNCA-R-2002-007"),
              ("北京五洲恒通认证有限公司", "CNCA-R-2003-117"), ("中环联合（北京）认证中心有限公司", "CNCA-R-2002-011"),
              ("辽宁方园有机食品认证有限公司", "CNCA-R-2004-125"), ("黑龙江省农产品质量认证中心", "CNCA-R-2002-086")]
GREEN_STANDARDS = ["GB/T 35601-2017", "GB/T 35602-2017", "GB/T 35607-2017", "GB/T 35611-2017", "GB/T 35613-2017"]
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(rng, adcode):
    """A unified social credit code with valid GB 11714 and GB 32100 check characters."""
    org = [rng.randrange(10) for _ in range(8)]
    s = sum(d * w for d, w in zip(org, [3, 7, 9, 10, 5, 8, 4, 2]))
    c = 11 - s % 11
    org_check = "X" if c == 10 else "0" if c == 11 else str(c)
    body = "91" + adcode + "".join(map(str, org)) + org_check
    total = sum(CREDIT_ALPHABET.index(ch) * w for ch, w in zip(body, CREDIT_WEIGHTS))
    return body + CREDIT_ALPHABET[(31 - total % 31) % 31]


def load_regions():
    with open(ROOT / "data" / "regions.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_code = {r["adcode"]: r for r in rows}
    provinces = [r for r in rows if r["level"] == "province" and r["adcode"][:2] in PROVINCE_ABBR]
    cities = [r for r in rows if r["level"] == "city"]
    counties = [r for r in rows if r["level"] == "county"]
    return by_code, provinces, cities, counties


def province_of(by_code, adcode):
    while by_code[adcode]["parent"]:
        adcode = by_code[adcode]["parent"]
    return adcode


def at(d, hour, minute=0):
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=SHANGHAI).isoformat()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--labs", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=60000)
    ap.add_argument("--products", type=int, default=200000)
    ap.add_argument("--out", default=str(ROOT / "benches" / "data" / "national.json"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    by_code, provinces, cities, counties = load_regions()
    cities_in = {}
    for r in cities + counties:
        cities_in.setdefault(province_of(by_code, r["adcode"]), []).append(r)
    mainland_places = [r for r in cities + counties if province_of(by_code, r["adcode"])[:2] in PROVINCE_ABBR]
    mainland_cities = [r for r in cities if r["adcode"][:2] in PROVINCE_ABBR]

    notices, campaigns = [], []
    for p in provinces:
        for year in range(2022, 2027):
            nid = f"bench-{p['adcode']}-{year}"
            doc = f"{PROVINCE_ABBR[p['adcode'][:2]]}市监认证〔{year}〕{rng.randrange(1, 400)}号"
            issued = date(year, 8, rng.randrange(1, 25))
            notices.append({
                "id": nid, "doc_number": doc,
                "title": f"{p['name']}市场监督管理局关于开展{year}年度质量认证系列宣传活动的通知",
                "issuer": f"{p['name']}市场监督管理局", "region": p["adcode"], "issued_on": issued.isoformat(),
                "body": f"{p['name']}{year}年质量月认证认可检验检测系列宣传活动安排（合成数据）。",
                "contacts": [{"name": rng.choice(SURNAMES) + rng.choice(WORDS) + rng.choice(WORDS),
                              "phone": f"0{rng.randrange(100, 999)}-{rng.randrange(10000000, 99999999)}", "email": None}],
                "deadlines": [{"title": "活动总结报送", "due_on": date(year, 10, 10).isoformat()}],
                "forwards": [], "cites": [], "source_url": None, "source": SOURCE,
            })
            for kind, (title, themes) in KINDS.items():
                start = date(year, 9, rng.choice([1, 11, 19, 21]))
                exact = rng.random() < 0.5 and kind != "sme_qms"
                campaigns.append({
                    "id": f"{nid}-{kind.replace('_', '-')}", "kind": kind, "year": year, "title": title,
                    "theme": rng.choice(themes), "region": p["adcode"],
                    "starts_on": start.isoformat() if exact else date(year, 9, 1).isoformat(),
                    "ends_on": (start + timedelta(days=4)).isoformat() if exact else date(year, 9, 30).isoformat(),
                    "period_text": None if exact else "9月任选一周", "notice_id": nid, "source": SOURCE,
                })

    campaign_by_province_year = {}
    for c in campaigns:
        campaign_by_province_year.setdefault((c["region"], c["year"]), []).append(c)
    events = []
    for i in range(a.events):
        place = rng.choice(mainland_places)
        prov = province_of(by_code, place["adcode"])
        year = rng.randrange(2022, 2027)
        c = rng.choice(campaign_by_province_year[(prov, year)])
        day = date.fromisoformat(c["starts_on"]) + timedelta(days=rng.randrange(0, 5))
        exact = rng.random() < 0.6
        lat, lon = float(place["lat"]), float(place["lon"])
        if exact:
            lat, lon = lat + rng.uniform(-0.08, 0.08), lon + rng.uniform(-0.08, 0.08)
        hour = rng.choice([9, 9, 10, 14, 15])
        events.append({
            "id": f"bench-event-{i:05d}", "campaign_id": c["id"],
            "title": f"{place['name']}{rng.choice(EVENT_TITLES[c['kind']])}",
            "description": f"{place['name']}组织开展{KINDS[c['kind']][0]}主题活动（合成数据）。",
            "activities": rng.sample(ACTIVITIES, rng.randrange(1, 4)),
            "starts_at": at(day, hour), "ends_at": at(day, hour + rng.choice([2, 3, 4])),
            "venue": {"name": f"{place['name']}市民中心" if exact else None, "address": None,
                      "lat": round(lat, 6), "lon": round(lon, 6), "precision": "exact" if exact else "region"},
            "region": place["adcode"], "organizer": f"{place['name']}市场监督管理局",
            "online_url": f"https://live.example.cn/{i}" if rng.random() < 0.2 else None,
            "status": rng.choices(["scheduled", "completed", "postponed", "cancelled"], [60, 35, 3, 2])[0],
            "source": SOURCE,
        })

    labs, sessions_left = [], a.sessions
    for i in range(a.labs):
        city = rng.choice(mainland_cities)
        fields = rng.sample(LAB_FIELDS, rng.randrange(1, 4))
        lat, lon = float(city["lat"]) + rng.gauss(0, 0.08), float(city["lon"]) + rng.gauss(0, 0.08)
        n_sessions = a.sessions // a.labs + (1 if i < a.sessions % a.labs else 0) if a.labs else 0
        open_days = []
        for s in range(min(n_sessions, sessions_left)):
            # Half of them still ahead, so "from today" (the default) has data.
            day = date(rng.randrange(2025, 2029), rng.choice([5, 9, 9, 9, 10]), rng.randrange(1, 29))
            hour = rng.choice([9, 10, 14])
            booking_required = rng.random() < 0.5
            open_days.append({
                "id": f"bench-lab-{i:05d}-{s}", "starts_at": at(day, hour), "ends_at": at(day, hour + 3),
                "activities": rng.sample(["quality_class", "expert_qa", "free_testing", "cloud_tour", "lab_tour"], 2),
                "audience": rng.choice(["public", "students", "enterprises"]),
                "capacity": rng.choice([20, 30, 50, 100, None]),
                "booking": {"required": booking_required,
                            "url": f"https://lab{i}.example.cn/book" if booking_required else None,
                            "phone": f"0{rng.randrange(100, 999)}-{rng.randrange(10000000, 99999999)}"},
                "online_url": None, "status": "scheduled",
            })
        sessions_left -= len(open_days)
        labs.append({
            "id": f"bench-lab-{i:05d}",
            "name": f"{city['name']}{rng.choice(WORDS)}{rng.choice(WORDS)}{FIELD_NAMES[fields[0]]}检验检测有限公司",
            "cma_no": f"{rng.randrange(10, 25)}{rng.randrange(0, 100):02d}{city['adcode'][:2]}{rng.randrange(0, 1000000):06d}",
            "cnas_no": f"CNAS L{rng.randrange(1000, 20000)}" if rng.random() < 0.4 else None,
            "fields": fields, "address": f"{city['name']}某路{rng.randrange(1, 999)}号", "region": city["adcode"],
            "lat": round(lat, 6), "lon": round(lon, 6), "precision": "exact",
            "phone": f"0{rng.randrange(100, 999)}-{rng.randrange(10000000, 99999999)}",
            "website": f"https://lab{i}.example.cn", "open_days": open_days, "source": SOURCE,
        })

    products = []
    today = date(2026, 11, 21)
    for i in range(a.products):
        scheme = "organic" if rng.random() < 0.7 else "green"
        place = rng.choice(mainland_places)
        cb_name, cb_no = rng.choice(CERTIFIERS)
        issued = date(2021, 1, 1) + timedelta(days=rng.randrange(0, 2150))
        expires = issued + timedelta(days=365 if scheme == "organic" else 365 * 5) - timedelta(days=1)
        holder = f"{place['name']}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(['农业', '食品', '生态农业', '茶业', '科技', '实业'])}有限公司"
        catalogue = ORGANIC_PRODUCTS if scheme == "organic" else GREEN_PRODUCTS
        items = [{"name": f"{rng.choice(WORDS)}{rng.choice(WORDS)}{n}", "category": cat}
                 for n, cat in rng.sample(catalogue, rng.randrange(1, 4))]
        status = rng.choices(["valid", "suspended", "revoked", "withdrawn"], [92, 4, 2, 2])[0]
        cert = {
            "certificate_no": f"{cb_no[-3:]}{'OP' if scheme == 'organic' else 'GP'}{issued.year % 100:02d}{i:07d}",
            "scheme": scheme,
            "certification_type": rng.choice(["organic", "organic", "organic", "in_conversion"]) if scheme == "organic"
            else rng.choice(["full_green", "green_attribute"]),
            "holder": {"name": holder, "credit_code": credit_code(rng, place["adcode"])},
            "products": items, "base_address": f"{place['name']}{rng.choice(WORDS)}{rng.choice(WORDS)}基地",
            "region": place["adcode"], "certifier": {"name": cb_name, "approval_no": cb_no},
            "standard": "GB/T 19630-2019" if scheme == "organic" else rng.choice(GREEN_STANDARDS),
            "issued_on": issued.isoformat(), "expires_on": expires.isoformat(),
            "status": status if expires >= today else "valid", "organic_codes": [], "source": SOURCE,
        }
        if cert["certification_type"] == "green_attribute":
            cert["green_attribute"] = rng.choice(["节能", "节水", "低碳", "可循环", "有害物质限制使用"])
        if cert["status"] != "valid":
            cert["status_since"] = (issued + timedelta(days=rng.randrange(0, max(1, (min(expires, today) - issued).days)))).isoformat()
        if scheme == "organic":
            # 有机码: certification body (3 digits of its approval number), year, 12-digit serial.
            serial = i * 10**5 + rng.randrange(0, 1000)
            first = f"{cb_no[-3:]}{issued.year % 100:02d}{serial:012d}"
            last = f"{cb_no[-3:]}{issued.year % 100:02d}{serial + rng.randrange(100, 50000):012d}"
            cert["organic_codes"] = [{"first": first, "last": last}]
        products.append(cert)

    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"notices": notices, "campaigns": campaigns, "events": events, "labs": labs, "products": products}
    out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(notices)} notices, {len(campaigns)} campaigns, {len(events)} events, "
          f"{len(labs)} labs, {a.sessions - sessions_left} sessions, {len(products)} products")


if __name__ == "__main__":
    main()
