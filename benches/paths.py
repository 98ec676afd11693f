#!/usr/bin/env python3
"""Writes one file of request paths per load-run scenario, drawn (seeded) from
the generated data document and the region table, plus a one-URL variant of
each for the cached path. Usage: paths.py DATA.json OUT_DIR"""
import csv
import json
import pathlib
import random
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
rng = random.Random(7)
doc = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
out = pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
with open(ROOT / "data" / "regions.csv", encoding="utf-8") as f:
    regions = list(csv.DictReader(f))
provinces = [r for r in regions if r["level"] == "province" and r["adcode"][:2] not in ("71", "81", "82")]
cities = [r for r in regions if r["level"] == "city"]
q = urllib.parse.quote


def sample(items, n):
    items = list(items)
    return [rng.choice(items) for _ in range(n)] if items else []


scenarios = {
    "healthz": ["/healthz"],
    "region_lookup": [f"/api/v1/regions/{r['adcode']}" for r in sample(regions, 500)],
    "campaign_list": [f"/api/v1/campaigns?region={p['adcode']}&year={y}" for p in provinces for y in range(2022, 2027)],
    "event_list": [
        f"/api/v1/events?region={r['adcode']}&from={y}-09-01&to={y}-09-30"
        for r in sample(provinces + cities, 300) for y in [rng.randrange(2022, 2027)]
    ],
    "event_search_1": [f"/api/v1/events?q={q(t)}" for t in "有绿茶检服质"],
    "event_search_2": [f"/api/v1/events?q={q(t)}" for t in ["有机", "绿色", "检测", "服务", "认证", "社区", "开放", "培训"]],
    "event_search_4": [f"/api/v1/events?q={q(t)}" for t in ["有机产品", "绿色产品", "检验检测", "服务认证", "实验开放", "质量管理"]],
    "open_days_near": [
        f"/api/v1/open-days?near={float(c['lat']) + rng.uniform(-0.1, 0.1):.5f},{float(c['lon']) + rng.uniform(-0.1, 0.1):.5f}&radius_km=30"
        for c in sample(rng.sample(cities, 20), 400)
    ],
    "product_lookup": [f"/api/v1/products/{p['certificate_no']}" for p in sample(doc.get("products", []), 500)],
    "product_search_1": [f"/api/v1/products?q={q(t)}" for t in "茶米橙蜜油菇"],
    "product_search_2": [f"/api/v1/products?q={q(t)}" for t in ["大米", "茶叶", "脐橙", "蜂蜜", "农业", "生态"]],
    "product_search_3": [f"/api/v1/products?q={q(t)}" for t in ["猕猴桃", "山茶油", "羊奶粉", "有限公", "人造板"]],
    "organic_code": [
        f"/api/v1/organic-codes/{int(c['first']) + rng.randrange(0, 100):017d}"
        for p in sample([p for p in doc.get("products", []) if p.get("organic_codes")], 500)
        for c in p["organic_codes"][:1]
    ],
}
for name, paths in scenarios.items():
    if not paths:
        continue
    rng.shuffle(paths)
    (out / f"{name}.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")
    if name != "healthz":
        (out / f"{name}_cached.txt").write_text(paths[0] + "\n", encoding="utf-8")
print(" ".join(n for n in scenarios if scenarios[n]))
