#!/usr/bin/env python3
"""Test 5 (SQLite only): a read-only database and a full disk.

Writes must answer 503 with Retry-After (never 500), reads 200, and writes
must succeed again once the condition is gone, without restarting ticweek.

read-only  We run as root, for whom chmod changes nothing, and a filesystem
           cannot be remounted read-only while the server holds the database
           open for writing (EBUSY). So the database file and its WAL are made
           immutable (chattr +i) on a filesystem that enforces it on files
           already open (ext4 does; tmpfs does not): a write through an open
           descriptor then fails (EPERM) as it would on a filesystem the
           kernel remounted read-only (EROFS), and a new connection opens the
           file read-only (SQLITE_READONLY). The -shm file is left alone: it
           is mapped, and an immutable mapped page faults with SIGBUS.
full       The database lives on a small tmpfs; after a checkpoint that
           truncates the WAL (so that a write needs new blocks), a filler file
           takes every free block; the filler is then deleted.

Each part is skipped (not failed) when the machine does not allow it
(no chattr, no mount: not root, a container without CAP_SYS_ADMIN).
"""
import argparse
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import faultlib as fl
from faultlib import log

WRITERS = 8          # concurrent writers: the pool opens new connections while the condition holds
ATTEMPTS = 3         # writes per writer while the condition holds
RECOVERY_LIMIT = 10.0


def run(argv) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def can_chattr(directory: str) -> str:
    """'' when chattr +i on a file in `directory` stops writes through an
    already open descriptor; else why not."""
    probe = os.path.join(directory, "chattr-probe")
    with open(probe, "wb") as f:
        f.write(b"x")
    fd = os.open(probe, os.O_WRONLY)
    try:
        r = run(["chattr", "+i", probe])
        if r.returncode != 0:
            return f"chattr +i not permitted here: {r.stderr.strip()}"
        try:
            os.write(fd, b"y")
            return f"this filesystem ({directory}) does not enforce the immutable flag on open files"
        except PermissionError:
            return ""
    except FileNotFoundError:
        return "no chattr"
    finally:
        os.close(fd)
        run(["chattr", "-i", probe])
        os.remove(probe)


def burst(port, tok, prefix, per_writer):
    """WRITERS threads, each POSTing `per_writer` new notices on its own
    connection, so that the pool hands out (and opens) several connections."""
    answers = []
    lock = threading.Lock()

    def writer(w):
        client = fl.Client(port, timeout=10)
        for i in range(per_writer):
            id_ = f"{prefix}-{w}-{i}"
            a = client.request("POST", "/api/v1/notices", fl.notice(id_), {"Authorization": f"Bearer {tok}"})
            with lock:
                answers.append((id_, a))
        client.close()

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def recover(port, tok, prefix):
    """Seconds until a whole burst of concurrent writes answers 201 (every
    pooled connection writes again), the bursts tried, and every answer."""
    t0 = time.monotonic()
    tried, answers = 0, []
    while time.monotonic() - t0 < RECOVERY_LIMIT:
        tried += 1
        got = burst(port, tok, f"{prefix}-{tried}", 2)
        answers += got
        if all(a.status == 201 for _, a in got):
            return time.monotonic() - t0, tried, answers
        time.sleep(0.5)
    return None, tried, answers


def scenario(name, db_path, apply, undo, verdict):
    """Runs one condition against a server on db_path; returns a summary."""
    fl.cli(db_path, "migrate")
    tok = fl.token(db_path, f"faults-{name}")
    server = fl.Server(db_path, f"sqlite-{name}-server")
    acked = []
    applied = False
    try:
        server.start()
        server.wait_ready(timeout=30)
        pid = server.proc.pid
        client = fl.Client(server.port, timeout=10)
        first = client.request("POST", "/api/v1/notices", fl.notice(f"fault-{name}-base"),
                               {"Authorization": f"Bearer {tok}"})
        if first.status != 201:
            raise RuntimeError(f"baseline write answered {first.label}")
        acked.append(f"fault-{name}-base")

        applied = True
        server.mark(f"{name}: condition applied")
        note = apply()
        writes = burst(server.port, tok, f"fault-{name}-during", ATTEMPTS)
        reads = [client.request("GET", f"/api/v1/notices/fault-{name}-base"),
                 client.request("GET", "/api/v1/notices?q=faultprobe"),   # uncached: a real query
                 client.request("GET", "/api/v1/regions/360000"),
                 client.request("GET", "/readyz")]
        undo()
        applied = False
        server.mark(f"{name}: condition removed")
        recovered, bursts, after = recover(server.port, tok, f"fault-{name}-after")
        client.close()

        acked += [id_ for id_, a in writes + after if a.status == 201]
        statuses = [a for _, a in writes]
        bad = [a for a in statuses if a.status not in (201, 503)]
        verdict.check(not bad, f"{name}: {len(bad)} of {len(statuses)} writes answered "
                               f"{fl.status_counts(bad)}, not 503 (first: {bad[0].body[:120]!r})" if bad else "")
        verdict.check(any(a.status == 503 for a in statuses),
                      f"{name}: no write answered 503 ({fl.status_counts(statuses)})")
        verdict.check(all("retry-after" in a.headers for a in statuses if a.status == 503),
                      f"{name}: a 503 without Retry-After")
        verdict.check(all(r.status == 200 for r in reads),
                      f"{name}: reads answered {', '.join(r.label for r in reads)}")
        failed_after = [a for _, a in after if a.status != 201]
        verdict.check(recovered is not None,
                      f"{name}: writes still failing {RECOVERY_LIMIT:.0f} s after the condition was removed "
                      f"({fl.status_counts(failed_after)} of {len(after)} in {bursts} bursts of {2 * WRITERS})")
        verdict.check(server.proc is not None and server.proc.poll() is None and server.proc.pid == pid,
                      f"{name}: the server process did not survive")
        # Everything acknowledged is there, and the file is intact.
        check = fl.Client(server.port)
        missing = [i for i in acked if check.request("GET", f"/api/v1/notices/{i}").status != 200]
        check.close()
        verdict.check(not missing, f"{name}: acknowledged writes missing: {missing[:5]}")
        integrity = fl.sqlite_integrity(db_path)
        verdict.check(integrity == "ok", f"{name}: integrity check: {integrity}")
        if verdict.failures:
            log(f"{name}: server log, distinct errors and warnings by phase:\n" + server.evidence())
        recovery = (f"all {2 * WRITERS} writes of a burst 201 again after {recovered:.1f} s "
                    f"({len(failed_after)} failed before: {fl.status_counts(failed_after)})" if recovered is not None
                    else f"writes NOT recovered in {RECOVERY_LIMIT:.0f} s: {fl.status_counts(failed_after)} "
                         f"of {len(after)}")
        return (f"{note}{len(statuses)} concurrent writes {fl.status_counts(statuses)}, reads "
                f"{'/'.join(r.label for r in reads)} (notice, search, region, readyz); {recovery}; "
                f"integrity {integrity}")
    finally:
        if applied:
            undo()
        server.kill()
        server.keep_log()


def main():
    fl.on_sigterm()
    argparse.ArgumentParser().parse_args()
    results = []

    # ---- read-only
    verdict = fl.Verdict()
    directory = os.path.join(fl.WORK, "readonly")
    os.makedirs(directory, exist_ok=True)
    why = can_chattr(directory)
    if why:
        print(f"SKIP read-only database: {why}", flush=True)
    else:
        db = os.path.join(directory, "ro.db")
        files = [db, db + "-wal"]

        def make_readonly():
            for f in files:
                fl.record("immutable", f)
                r = run(["chattr", "+i", f])
                if r.returncode != 0:
                    raise RuntimeError(f"chattr +i {f}: {r.stderr.strip()}")
            return "chattr +i on the database and its WAL: "

        def make_writable():
            for f in files:
                run(["chattr", "-i", f])

        try:
            summary = scenario("readonly", db, make_readonly, make_writable, verdict)
        except RuntimeError as e:
            verdict.check(False, str(e).splitlines()[0])
            summary = "setup failed"
        verdict.emit(f"read-only database: {summary}")
        results.append(verdict)

    # ---- disk full
    verdict = fl.Verdict()
    mnt = os.path.join(fl.WORK, "full")
    os.makedirs(mnt, exist_ok=True)
    r = run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "tmpfs", mnt])
    if r.returncode != 0:
        print(f"SKIP disk full: cannot mount a tmpfs ({r.stderr.strip()})", flush=True)
    else:
        fl.record("mounts", mnt)
        try:
            db = os.path.join(mnt, "full.db")
            filler = os.path.join(mnt, "filler")

            def fill():
                # A checkpoint that empties the WAL: the next commit must
                # allocate, rather than overwrite WAL blocks it already has.
                con = sqlite3.connect(db, timeout=10)
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                con.close()
                written = 0
                with open(filler, "wb", buffering=0) as f:
                    for block in (1 << 20, 4096):
                        chunk = b"\0" * block
                        while True:
                            try:
                                written += f.write(chunk)
                            except OSError:
                                break
                free = shutil.disk_usage(mnt).free
                return f"tmpfs 40 MiB filled ({written >> 20} MiB filler, {free} bytes free): "

            def unfill():
                if os.path.exists(filler):
                    os.remove(filler)

            try:
                summary = scenario("full", db, fill, unfill, verdict)
            except RuntimeError as e:
                verdict.check(False, str(e).splitlines()[0])
                summary = "setup failed"
        finally:
            r = run(["umount", mnt])
            if r.returncode != 0:
                run(["umount", "-l", mnt])
        verdict.emit(f"disk full: {summary}")
        results.append(verdict)
    return 1 if any(v.failures for v in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
