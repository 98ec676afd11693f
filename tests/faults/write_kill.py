#!/usr/bin/env python3
"""Test 2: kill -9 of the server during concurrent writes loses no
acknowledged write.

Writer threads POST new notices with unique ids and remember every id
answered 201. The server is SIGKILLed mid-stream, restarted on the same
database, and every acknowledged id must read back (GET 200, same title).
A 201 is a promise that the write is committed; a write in flight at the
kill may land or not, and is only reported.

Options: --trials N (default 3), --writers N (default 8).
"""
import argparse
import os
import random
import threading
import time

import faultlib as fl
from faultlib import log


def writer(port, tok, prefix, acked, inflight, others, stop):
    client = fl.Client(port, timeout=10)
    n = 0
    while not stop.is_set():
        n += 1
        id_ = f"{prefix}-{n}"
        body = fl.notice(id_)
        inflight[id_] = body["title"]
        answer = client.request("POST", "/api/v1/notices", body,
                                {"Authorization": f"Bearer {tok}"})
        if answer.status == 201:
            acked[id_] = body["title"]
            del inflight[id_]
        elif answer.status is None:
            # The server is gone: this write's fate is unknown; stop writing.
            return
        else:
            del inflight[id_]
            others.append((id_, answer.status, answer.body[:300]))


def main():
    fl.on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--writers", type=int, default=8)
    a = ap.parse_args()
    rng = random.Random()
    verdict = fl.Verdict()
    schema = fl.PgSchema("writes") if fl.PG else None
    db_url = schema.url if schema else os.path.join(fl.WORK, "writes.db")
    server = fl.Server(db_url, "write-kill-server")
    total_acked = total_landed = total_lost = 0
    per_trial = []
    try:
        fl.cli(db_url, "migrate")
        tok = fl.token(db_url, "faults-writer")
        for trial in range(1, a.trials + 1):
            server.start()
            server.wait_ready(timeout=30)
            acked, inflight, others = {}, {}, []
            stop = threading.Event()
            threads = [threading.Thread(target=writer, daemon=True,
                                        args=(server.port, tok, f"fault-w{trial}-{w}", acked, inflight, others, stop))
                       for w in range(a.writers)]
            for t in threads:
                t.start()
            after = rng.uniform(2.0, 4.0)
            time.sleep(after)
            acked_before_kill = len(acked)
            server.kill()  # SIGKILL, mid-stream
            for t in threads:
                t.join(timeout=15)
            stop.set()
            verdict.check(not any(t.is_alive() for t in threads), f"trial {trial}: a writer hung after the kill")
            verdict.check(not others, f"trial {trial}: writes refused before the kill: {others[:3]}")

            restarted = time.monotonic()
            server.start()
            server.wait_ready(timeout=30)
            ready = time.monotonic() - restarted
            client = fl.Client(server.port)
            lost = []
            for id_, title in acked.items():
                answer = client.request("GET", f"/api/v1/notices/{id_}")
                if answer.status != 200 or title not in answer.body.decode(errors="replace"):
                    lost.append((id_, answer.label))
            landed = sum(1 for id_ in list(inflight)
                         if client.request("GET", f"/api/v1/notices/{id_}").status == 200)
            client.close()
            server.stop()
            integrity = fl.sqlite_integrity(db_url) if not fl.PG else "ok"  # PostgreSQL: nothing of it was killed
            log(f"trial {trial}: {a.writers} writers, kill -9 after {after:.1f} s; {len(acked)} acknowledged "
                f"({acked_before_kill} before the kill signal), {len(lost)} lost; {len(inflight)} in flight, "
                f"{landed} of them landed; restarted and ready in {ready:.2f} s"
                + ("" if fl.PG else f"; integrity {integrity}"))
            verdict.check(not lost, f"trial {trial}: {len(lost)} acknowledged writes lost, e.g. {lost[:5]}")
            verdict.check(integrity == "ok", f"trial {trial}: integrity check: {integrity}")
            verdict.check(len(acked) > 0, f"trial {trial}: no write was acknowledged before the kill")
            total_acked += len(acked)
            total_lost += len(lost)
            total_landed += landed
            per_trial.append(f"{len(acked)}@{after:.1f}s")
    except RuntimeError as e:
        verdict.crashed(e)
    finally:
        server.kill()
        server.keep_log()
        if schema:
            schema.drop()
    return verdict.emit(
        f"kill -9 during writes: {a.trials - sum('lost' in f for f in verdict.failures)}/{a.trials} trials "
        f"lost no acknowledged write ({total_lost} lost of {total_acked} acknowledged; per trial "
        f"{', '.join(per_trial)}; {a.writers} writers){', integrity ok' if not fl.PG else ''}; "
        f"{total_landed} unacknowledged in-flight writes landed")


if __name__ == "__main__":
    raise SystemExit(main())
