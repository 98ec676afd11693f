#!/usr/bin/env python3
"""Test 1: kill -9 during a large `ticweek import` leaves all rows or none.

The import is one transaction, so after a SIGKILL at any moment the database
must hold exactly what it held before or everything the import writes, be
intact (SQLite: PRAGMA integrity_check; PostgreSQL: amcheck on every B-tree
index when the extension can be created, and no backend left holding the
import's locks), and serve again (/readyz 200).

Why a pty: `ticweek import` draws its progress bar only on a terminal; reading
it tells how many certificates had been written when the kill landed, which
proves the kills hit the write phase and not just the JSON parsing.

Options: --trials N (default 10), --rows N (default 50000).
"""
import argparse
import os
import pty
import random
import re
import shutil
import signal
import subprocess
import threading
import time

import faultlib as fl
from faultlib import log

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROGRESS = re.compile(rb"(\d+)/(\d+)")


class Import:
    """`ticweek import FILE` on a pty; `rows` is the last progress drawn."""

    def __init__(self, db_url: str, path: str, near_end: int):
        master, slave = pty.openpty()
        self.started = time.monotonic()
        self.proc = fl.spawn([fl.BIN, "--database-url", db_url, "import", path],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                             env=fl.clean_env(RUST_LOG="warn", TERM="xterm-256color"))
        os.close(slave)
        self.master = master
        self.rows = 0
        self.first_progress = None   # seconds after start when writing began
        self.last_progress = None
        self.near_end_rows = near_end  # when the bar first shows this many rows: `near_end`
        self.near_end = None
        self.output = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output = (self.output + chunk)[-4096:]
            found = PROGRESS.findall(self.output[-200:])
            if found:
                now = time.monotonic() - self.started
                if self.first_progress is None:
                    self.first_progress = now
                self.last_progress = now
                self.rows = int(found[-1][0])
                if self.near_end is None and self.rows >= self.near_end_rows:
                    self.near_end = now
        os.close(self.master)

    def wait(self, timeout: float) -> int:
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        return time.monotonic() - self.started

    def text(self) -> str:
        # The final report, without the terminal's control sequences.
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", self.output.decode(errors="replace")).strip()


class Database:
    """A fresh, migrated database per trial: a copy of one migrated SQLite
    file, or a new PostgreSQL schema (the import upserts, so a database that
    had already taken the import could not tell 'all' from 'nothing')."""

    def __init__(self, n: int, base: str | None):
        self.schema = None
        if fl.PG:
            self.schema = fl.PgSchema(f"imp{n}")
            self.url = self.schema.url
            fl.cli(self.url, "migrate")
        else:
            self.url = os.path.join(fl.WORK, f"import-{n}.db")
            shutil.copy(base, self.url)

    def counts(self) -> dict:
        return self.schema.counts() if self.schema else fl.sqlite_counts(self.url)

    def integrity(self) -> str:
        """'ok' or what is wrong."""
        if self.schema is None:
            return fl.sqlite_integrity(self.url)
        # Backends of the killed client end when they notice the closed
        # socket; until then they hold the import's locks.
        gone = self.schema.wait_backends_gone(timeout=30)
        try:
            fl.psql(fl.PG, f"CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA {self.schema.name}")
        except RuntimeError:
            return f"ok (backends gone in {gone:.1f} s; amcheck unavailable)"
        n = fl.psql(fl.PG, f"SELECT count({self.schema.name}.bt_index_check(c.oid, true)) FROM pg_index i "
                           "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                           f"WHERE a.amname = 'btree' AND c.relnamespace = '{self.schema.name}'::regnamespace")
        return f"ok (amcheck on {n} indexes, backends gone in {gone:.1f} s)"

    def drop(self):
        if self.schema:
            self.schema.drop()
        else:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(self.url + suffix)
                except FileNotFoundError:
                    pass


def serves(db: Database, n: int) -> str:
    """Starts a server on the database: '' when /readyz and a product list answer 200."""
    server = fl.Server(db.url, f"import-server-{n}")
    try:
        server.start()
        server.wait_ready(timeout=30)
        answer = fl.get(server.port, "/api/v1/products?limit=1")
        return "" if answer.status == 200 else f"GET /api/v1/products answered {answer.label}"
    except RuntimeError as e:
        return str(e).splitlines()[0]
    finally:
        server.stop()
        server.keep_log()


def main():
    fl.on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--rows", type=int, default=50000)
    a = ap.parse_args()
    seed = int(os.environ.get("FAULTS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    verdict = fl.Verdict()
    backend = "PostgreSQL" if fl.PG else "SQLite"

    data = os.path.join(fl.WORK, "import.json")
    # Products need no events or labs; gen.py's notices and campaigns come along.
    subprocess.run(["python3", os.path.join(ROOT, "benches", "gen.py"), "--events", "0", "--labs", "0",
                    "--sessions", "0", "--products", str(a.rows), "--out", data],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    base = None
    if not fl.PG:
        base = os.path.join(fl.WORK, "import-base.db")
        fl.cli(base, "migrate")

    # Once to completion: how long an import takes, and what "all" looks like.
    ref = Database(0, base)
    dbs = [ref]
    try:
        before = ref.counts()
        near_end = int(a.rows * 0.98)
        imp = Import(ref.url, data, near_end)
        rc = imp.wait(timeout=600)
        took = time.monotonic() - imp.started
        if rc != 0:
            raise RuntimeError(f"reference import failed ({rc}): {imp.text()[-1000:]}")
        after = ref.counts()
        writing = (imp.first_progress or 0, imp.last_progress or took)
        log(f"{backend}: reference import of {a.rows} rows took {took:.1f} s "
            f"(writing certificates {writing[0]:.1f}-{writing[1]:.1f} s); before: {fl.counts_text(before)}; "
            f"after: {fl.counts_text(after)}")
        verdict.check(after.get("products", 0) - before.get("products", 0) == a.rows,
                      f"the reference import added {after.get('products', 0) - before.get('products', 0)} "
                      f"products, not {a.rows}")
        ref.drop()
        dbs.clear()

        # Kill times spread over the whole import (stratified, so that every
        # part of it gets a kill), in random order, and one kill aimed at the
        # end: the last rows, the commit and the checkpoint on close. The bar
        # is redrawn only every so often, so the end is found from the
        # reference run: how long it went on after the bar first showed 98%
        # of the rows.
        tail = took - (imp.near_end or writing[1])
        strata = max(1, a.trials - 1)
        lo, hi = 0.2, took * 0.97
        kills = [lo + (i + rng.random()) * (hi - lo) / strata for i in range(strata)]
        if a.trials > 1:
            kills.append(None)
        rng.shuffle(kills)
        log(f"seed {seed}; kill times: " + ", ".join("end" if k is None else f"{k:.1f}" for k in kills)
            + f"; the reference import ran {tail:.2f} s after 98% of the rows were drawn")

        outcomes = {"nothing": 0, "all": 0}
        partial = in_commit = 0
        killed_at, rows_at, not_serving, integrity_notes = [], [], [], set()
        for n, at in enumerate(kills, start=1):
            db = Database(n, base)
            dbs.append(db)
            imp = Import(db.url, data, near_end)
            aimed = at is None
            if aimed:
                # Wait for 98% of the rows, then kill within what remained of
                # the reference run after that point.
                deadline = time.monotonic() + took * 3
                while imp.near_end is None and imp.proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                at = (imp.near_end or 0) + tail * rng.uniform(0.2, 0.95)
                in_commit += 1
            try:
                imp.wait(timeout=max(0.0, at - (time.monotonic() - imp.started)))
                when, completed = time.monotonic() - imp.started, True
            except subprocess.TimeoutExpired:
                when, completed = imp.kill(), False
                imp.wait(timeout=30)
            rows = imp.rows
            integrity = db.integrity()
            counts = db.counts()
            outcome = "nothing" if counts == before else "all" if counts == after else "PARTIAL"
            log(f"trial {n}: kill -9 at {when:.2f} s ({rows}/{a.rows} certificates written"
                f"{', import had already finished' if completed else ''}{', aimed at the end' if aimed else ''})"
                f" -> {outcome}; "
                f"{fl.counts_text(counts)}; integrity {integrity}")
            if outcome == "PARTIAL":
                partial += 1
                diff = {k: (before.get(k), counts.get(k), after.get(k)) for k in sorted(set(counts) | set(after))
                        if counts.get(k) != before.get(k) or counts.get(k) != after.get(k)}
                verdict.check(False, f"trial {n}: partial import after kill at {when:.1f} s: "
                                     f"(before, now, all) = {diff}")
            else:
                outcomes[outcome] += 1
            verdict.check(integrity.startswith("ok"), f"trial {n}: integrity check: {integrity}")
            problem = serves(db, n)
            if problem:
                not_serving.append(n)
                verdict.check(False, f"trial {n}: server on the database after the kill: {problem}")
            killed_at.append(when)
            rows_at.append(rows)
            integrity_notes.add(re.sub(r"\d+(\.\d+)? s|\d+ indexes", "", integrity))
            db.drop()
            dbs.remove(db)
    except RuntimeError as e:
        verdict.check(False, str(e).splitlines()[0])
        print(f"FAIL kill -9 import: {e}".splitlines()[0], flush=True)
        return 1
    finally:
        for db in dbs:
            db.drop()

    ok = a.trials - partial
    integ = "integrity ok" if not any("integrity" in f for f in verdict.failures) else "INTEGRITY FAILED"
    if fl.PG:
        integ += " (amcheck)" if any("amcheck on" in i for i in integrity_notes) else " (counts only)"
    return verdict.emit(
        f"kill -9 import: {ok}/{a.trials} all-or-nothing ({outcomes['nothing']} nothing, {outcomes['all']} all), "
        f"{integ}, /readyz 200 after {a.trials - len(not_serving)}/{a.trials}; import of {a.rows} rows took "
        f"{took:.1f} s (writing {writing[0]:.1f}-{writing[1]:.1f} s), kills at {min(killed_at):.1f}-"
        f"{max(killed_at):.1f} s with {min(rows_at)}-{max(rows_at)} rows written, {in_commit} aimed at the end (last rows, commit, close) "
        f"(seed {seed})")


if __name__ == "__main__":
    raise SystemExit(main())
