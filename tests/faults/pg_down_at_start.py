#!/usr/bin/env python3
"""Test 4 (PostgreSQL only): PostgreSQL down when ticweek starts.

ticweek reaches PostgreSQL through a TCP proxy that refuses connections at
first (the port is bound but not listening: "connection refused", as when
PostgreSQL is stopped). The process must come up anyway (/healthz 200),
answer /readyz and database reads 503 with Retry-After (quickly, never a hang
or a 500) while PostgreSQL is away, and turn ready by itself once the proxy
accepts, without a restart. The time to ready is reported: the set-up thread
retries with a doubling back-off (0.25 s up to 30 s), so it depends on how
long PostgreSQL was away.

Options: --down S (seconds PostgreSQL stays away after ticweek is up, default 4).
"""
import argparse
import time

import faultlib as fl
from faultlib import log

READY_LIMIT = 35.0   # the set-up back-off is capped at 30 s


def main():
    fl.on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--down", type=float, default=4.0)
    a = ap.parse_args()
    verdict = fl.Verdict()
    schema = fl.PgSchema("downstart")
    proxy = fl.Proxy(fl.pg_hostport(fl.PG))
    server = fl.Server(schema.via("127.0.0.1", proxy.port), "pg-down-at-start-server")
    summary = "PG down at start"
    try:
        fl.cli(schema.url, "migrate")   # an existing database; its server is what is away
        t0 = time.monotonic()
        server.start(wait_healthz=15)
        healthz = time.monotonic() - t0
        pid = server.proc.pid

        probes, reads = [], []
        client = fl.Client(server.port, timeout=10)
        while time.monotonic() - t0 < a.down:
            probes.append(client.request("GET", "/readyz"))
            reads.append(client.request("GET", "/api/v1/notices"))
            time.sleep(0.2)
        down_answers = probes + reads
        verdict.check(all(x.status == 503 for x in down_answers),
                      f"while PostgreSQL was away: /readyz {fl.status_counts(probes)}, "
                      f"GET /api/v1/notices {fl.status_counts(reads)} (want 503 only)")
        verdict.check(all("retry-after" in x.headers for x in down_answers if x.status == 503),
                      "a 503 without Retry-After")
        slowest = max(x.seconds for x in down_answers)

        proxy.up()
        t_up = time.monotonic()
        server.mark("PostgreSQL back")
        ready = None
        while time.monotonic() - t_up < READY_LIMIT:
            if client.request("GET", "/readyz").status == 200:
                ready = time.monotonic() - t_up
                break
            time.sleep(0.1)
        verdict.check(ready is not None, f"/readyz not 200 within {READY_LIMIT:.0f} s after PostgreSQL came back")
        read = client.request("GET", "/api/v1/notices")
        verdict.check(read.status == 200, f"GET /api/v1/notices after recovery answered {read.label}")
        client.close()
        verdict.check(server.proc is not None and server.proc.poll() is None and server.proc.pid == pid,
                      "the server process did not survive")
        time.sleep(0.5)
        backends = schema.backends()
        verdict.check(backends <= fl.POOL_SIZE, f"{backends} connections > pool size {fl.POOL_SIZE}")
        summary = (f"PG down at start: /healthz 200 after {healthz:.2f} s; while away {a.down:.0f} s /readyz "
                   f"{fl.status_counts(probes)} and reads {fl.status_counts(reads)} (slowest {slowest:.2f} s); "
                   f"/readyz 200 {ready if ready is not None else float('nan'):.2f} s after PG back, "
                   f"reads {read.label}; {backends} connections (pool {fl.POOL_SIZE}); ticweek not restarted")
        if verdict.failures:
            log("server log:\n" + server.evidence())
    except RuntimeError as e:
        verdict.crashed(e)
    finally:
        server.kill()
        server.keep_log()
        proxy.close()
        schema.drop()
    return verdict.emit(summary)


if __name__ == "__main__":
    raise SystemExit(main())
