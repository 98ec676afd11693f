#!/usr/bin/env python3
"""Runs every `sh` block of the README's "## Cookbook" section as written
(bash -euo pipefail, in a scratch directory, TICWEEK pointing at a running
server with data) and checks what each produced against the API, so the
README cannot lie. Usage: cookbook.py README.md (TICWEEK in the environment)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

api = os.environ["TICWEEK"]
readme = open(sys.argv[1], encoding="utf-8").read()
section = re.search(r"^## Cookbook\n(.*?)(?=^## )", readme, re.S | re.M)
assert section, "the README has a '## Cookbook' section"
blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), re.S | re.M)


def get(path: str) -> dict:
    with urllib.request.urlopen(api + path) as reply:
        return json.load(reply)


def run(block: str, cwd: str) -> list[str]:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TICWEEK": api})
    assert done.returncode == 0, f"recipe failed ({done.returncode}):\n{block}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines, f"recipe printed nothing:\n{block}"
    return lines


def mirror(block: str, cwd: str):
    total = sum(f["count"] for f in get("/api/v1/events?facets=kind&limit=1")["facets"]["kind"])
    first = run(block, cwd)
    files = os.listdir(os.path.join(cwd, "mirror", "event"))
    assert int(first[-1]) == total == len(files), (first[-1], total, len(files))
    again = run(block, cwd)  # from mirror/.since: nothing new, nothing lost
    assert int(again[-1]) == total, again
    print(f"cookbook: mirror copied {total} events; a second run resumed from mirror/.since")


def nearby(block: str, cwd: str):
    lines = run(block, cwd)
    distances = [float(line.split(" km")[0]) for line in lines]
    assert distances == sorted(distances) and distances[-1] <= 30, distances
    for line in lines:
        lon, lat = map(float, line.split("\t")[-1].split(","))
        assert 73 < lon < 136 and 3 < lat < 54, line
    print(f"cookbook: {len(lines)} bookable open days within 30 km, closest first")


def per_province(block: str, cwd: str):
    lines = run(block, cwd)
    counts = [int(line.split("\t")[1]) for line in lines[:-1]]
    assert counts == sorted(counts, reverse=True), counts
    facet = get("/api/v1/products?scheme=organic&status=valid&facets=status&limit=1")["facets"]["status"]
    total = sum(f["count"] for f in facet)
    assert sum(counts) == total and total > 0, (sum(counts), total)
    rows = int(lines[-1])
    assert rows == total + 1, f"{rows} CSV lines for {total} certificates and a header"
    print(f"cookbook: {total} valid organic certificates in {len(counts)} provinces; CSV has them all")


checks = [mirror, nearby, per_province]
assert len(blocks) == len(checks), f"the README has {len(blocks)} recipes; this test checks {len(checks)}"
with tempfile.TemporaryDirectory() as scratch:
    for block, check in zip(blocks, checks):
        check(block, scratch)
print("README cookbook: every recipe ran as written")
