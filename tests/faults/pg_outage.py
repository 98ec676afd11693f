#!/usr/bin/env python3
"""Test 3 (PostgreSQL only): PostgreSQL restarted under load.

While client threads read and write, PostgreSQL goes away and comes back:

  --mode proxy  a TCP proxy between ticweek and PostgreSQL drops every
                connection and refuses new ones for --outage seconds (default
                3): independent of how PostgreSQL is run;
  --mode real   PostgreSQL itself is restarted by the restart command
                (--pg-restart CMD / FAULTS_PG_RESTART, else detected: see
                restart_command); skipped, not failed, when there is none.

Asserted, without restarting ticweek:
  * every answer during the outage is 200/201 (a read cache hit, a request
    that got through; 404 for the look-up of an unknown certificate, which
    PostgreSQL answers in batches) or 503 with Retry-After: never 500 or another 5xx,
    never a 4xx (a write refused because its token could not be looked up),
    never a hang past the 10 s client timeout or a dropped connection;
  * a database request answers 200 within 5 s after PostgreSQL is back, and
    from 5 s on every answer is a success;
  * afterwards the connections of this server in pg_stat_activity are no
    more than the pool size (TICWEEK_POOL_SIZE, default 8).
"""
import argparse
import os
import pwd
import random
import shlex
import string
import subprocess
import threading
import time

import faultlib as fl
from faultlib import log

RECOVERY_LIMIT = 5.0
CLIENT_TIMEOUT = 10.0
DB_KINDS = ("readyz", "search", "write", "lookup")   # answers that cannot come from the read cache
KINDS = ("readyz", "search", "cached", "write", "lookup")


def succeeded(kind: str, answer) -> bool:
    """The database answered: a certificate look-up (batched on PostgreSQL,
    src/api/batch.rs) asks for a number on no certificate, so its success
    is a 404."""
    return answer.status in ((404,) if kind == "lookup" else (200, 201))


def restart_command() -> tuple[list[str] | None, str]:
    """The command that restarts the PostgreSQL server behind FAULTS_PG, and why.

    1. --pg-restart / FAULTS_PG_RESTART, run by bash;
    2. a Debian cluster (pg_lsclusters) whose data directory is the server's:
       pg_ctlcluster --skip-systemctl-redirect VERSION NAME restart;
    3. a private server started with pg_ctl (as .ci/run does on port 54329):
       pg_ctl -D DATA_DIR -m fast -w restart, run as the owner of DATA_DIR
       (runuser when we are root). pg_ctl restart reuses the server's
       original options (postmaster.opts).
    2 and 3 need `SHOW data_directory`, i.e. a superuser or pg_read_all_settings."""
    explicit = os.environ.get("FAULTS_PG_RESTART", "")
    if explicit:
        return ["bash", "-c", explicit], "given"
    try:
        data_dir = fl.psql(fl.PG, "SHOW data_directory")
        version = int(fl.psql(fl.PG, "SHOW server_version_num")) // 10000
    except RuntimeError as e:
        return None, f"no restart command given and data_directory not readable ({e})"
    if not os.path.isdir(data_dir):
        return None, f"no restart command given and the data directory {data_dir} is not on this machine"
    try:
        clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=10).stdout
        for line in clusters.splitlines():
            ver, name, _port, _status, _owner, directory = line.split()[:6]
            if os.path.realpath(directory) == os.path.realpath(data_dir):
                return ["pg_ctlcluster", "--skip-systemctl-redirect", ver, name, "restart"], \
                       f"Debian cluster {ver}/{name}"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    pg_ctl = f"/usr/lib/postgresql/{version}/bin/pg_ctl"
    if not os.path.exists(pg_ctl):
        return None, f"no restart command given and no {pg_ctl}"
    owner = pwd.getpwuid(os.stat(data_dir).st_uid).pw_name
    command = [pg_ctl, "-D", data_dir, "-m", "fast", "-w", "-t", "60", "restart"]
    # Keep logging where .ci/run sends it (server.log next to the data directory).
    server_log = os.path.join(os.path.dirname(data_dir.rstrip("/")), "server.log")
    if os.path.exists(server_log):
        command[1:1] = ["-l", server_log]
    if os.geteuid() == 0 and owner != "root":
        command = ["runuser", "-u", owner, "--"] + command
    elif pwd.getpwuid(os.geteuid()).pw_name != owner:
        return None, f"no restart command given and {data_dir} belongs to {owner}"
    return command, f"pg_ctl on {data_dir} as {owner}"


class Load:
    """Client threads cycling through a readiness probe, an uncached search, a
    read the cache may answer, a write and a certificate look-up; every answer
    kept with its kind."""

    def __init__(self, port: int, tok: str, seed_id: str, threads: int):
        self.port, self.tok, self.seed_id = port, tok, seed_id
        self.answers: list[tuple[str, fl.Answer]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self) -> bool:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=CLIENT_TIMEOUT + 5)
        return not any(t.is_alive() for t in self.threads)

    def _run(self, n: int):
        client = fl.Client(self.port, timeout=CLIENT_TIMEOUT)
        rng = random.Random(n)
        i = 0
        while not self.stop.is_set():
            i += 1
            kind = KINDS[(i + n) % len(KINDS)]
            if kind == "readyz":
                answer = client.request("GET", "/readyz")
            elif kind == "search":
                q = "".join(rng.choices(string.ascii_lowercase, k=8))
                answer = client.request("GET", f"/api/v1/notices?q={q}")
            elif kind == "cached":
                answer = client.request("GET", f"/api/v1/notices/{self.seed_id}")
            elif kind == "lookup":
                answer = client.request("GET", f"/api/v1/products/NONE-{n}-{rng.randrange(10**6)}")
            else:
                id_ = f"fault-o{n}-{i}-{rng.randrange(10**6)}"
                answer = client.request("POST", "/api/v1/notices", fl.notice(id_),
                                        {"Authorization": f"Bearer {self.tok}"})
            with self.lock:
                self.answers.append((kind, answer))
            time.sleep(0.01)
        client.close()


def main():
    fl.on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("proxy", "real"), default="proxy")
    ap.add_argument("--outage", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=6)
    a = ap.parse_args()
    label = f"PG restart ({a.mode})"
    verdict = fl.Verdict()

    command = None
    if a.mode == "real":
        command, why = restart_command()
        if command is None:
            print(f"SKIP {label}: {why}; pass --pg-restart CMD", flush=True)
            return 0
        log(f"restart command ({why}): {shlex.join(command)}")

    schema = fl.PgSchema(f"outage{a.mode}")
    proxy = fl.Proxy(fl.pg_hostport(fl.PG)) if a.mode == "proxy" else None
    server = fl.Server(schema.via("127.0.0.1", proxy.port) if proxy else schema.url, f"pg-outage-{a.mode}-server")
    summary = label
    try:
        fl.cli(schema.url, "migrate")
        tok = fl.token(schema.url, "faults-outage")
        if proxy:
            proxy.up()
        server.start()
        server.wait_ready(timeout=30)
        pid = server.proc.pid
        seed = fl.Client(server.port).request("POST", "/api/v1/notices", fl.notice("fault-outage-seed"),
                                              {"Authorization": f"Bearer {tok}"})
        if seed.status != 201:
            raise RuntimeError(f"seed write answered {seed.label}: {seed.body[:200]!r}")

        load = Load(server.port, tok, "fault-outage-seed", a.threads)
        load.start()
        time.sleep(2.0)
        t_down = time.monotonic()
        server.mark("PostgreSQL going down")
        if proxy:
            proxy.down()
            time.sleep(a.outage)
            proxy.up()
        else:
            r = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError(f"restart command failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        t_up = time.monotonic()
        server.mark("PostgreSQL back")
        time.sleep(RECOVERY_LIMIT + 3.0)
        verdict.check(load.finish(), "a client thread hung past its timeout")
        time.sleep(1.0)
        backends = schema.backends()
        if backends > fl.POOL_SIZE:   # give closing connections a moment before calling it a leak
            time.sleep(3.0)
            backends = schema.backends()

        answers = sorted(load.answers, key=lambda ka: ka[1].started)
        before = [x for k, x in answers if x.ended < t_down]
        outage = [(k, x) for k, x in answers if x.ended >= t_down and x.started < t_up]
        after = [(k, x) for k, x in answers if x.started >= t_up]
        late = [(k, x) for k, x in after if x.started >= t_up + RECOVERY_LIMIT]

        verdict.check(all(succeeded(k, x) for k, x in answers if x.ended < t_down),
                      f"before the outage: {fl.status_counts(before)}")
        bad = [(k, x) for k, x in outage + after if not (succeeded(k, x) or x.status == 503)]
        verdict.check(not bad, "answers other than 200/201/503: " + "; ".join(
            f"{k} {x.label} after {x.seconds:.1f} s {x.body[:160]!r}" for k, x in bad[:4]))
        no_retry = [x for k, x in outage + after if x.status == 503 and "retry-after" not in x.headers]
        verdict.check(not no_retry, f"{len(no_retry)} answers 503 without Retry-After")
        outage_503 = sum(1 for k, x in outage if x.status == 503)
        verdict.check(outage_503 > 0, "no 503 during the outage: the outage was not seen")
        first_ok = next((x for k, x in after if k in DB_KINDS and succeeded(k, x)), None)
        recovery = (first_ok.ended - t_up) if first_ok else None
        verdict.check(recovery is not None and recovery <= RECOVERY_LIMIT,
                      f"no database answer 200 within {RECOVERY_LIMIT:.0f} s after PostgreSQL was back "
                      f"(first: {'never' if recovery is None else f'{recovery:.1f} s'})")
        verdict.check(late and all(succeeded(k, x) for k, x in late),
                      f"from {RECOVERY_LIMIT:.0f} s after PostgreSQL was back: "
                      f"{fl.status_counts([x for k, x in late])}")
        verdict.check(server.proc is not None and server.proc.poll() is None and server.proc.pid == pid,
                      "the server process did not survive")
        verdict.check(backends <= fl.POOL_SIZE,
                      f"{backends} connections of this server in pg_stat_activity > pool size {fl.POOL_SIZE}")
        after_503 = [x for k, x in after if x.status == 503]
        last_503 = max((x.ended - t_up for x in after_503), default=0.0)
        max_latency = max((x.seconds for k, x in outage), default=0.0)
        for kind in KINDS:
            log(f"{kind:>6}: during {fl.status_counts([x for k, x in outage if k == kind])}; "
                f"after {fl.status_counts([x for k, x in after if k == kind])}")
        summary = (f"{label}: outage {t_up - t_down:.1f} s, statuses during it "
                   f"{fl.status_counts([x for k, x in outage])} (max {max_latency:.1f} s per request), "
                   f"first 200 {recovery if recovery is not None else float('nan'):.2f} s after PG back, "
                   f"{len(after_503)} 503s after it (last at +{last_503:.1f} s), then "
                   f"{fl.status_counts([x for k, x in late])}; {backends} connections in pg_stat_activity "
                   f"(pool {fl.POOL_SIZE}); ticweek not restarted")
        if verdict.failures:
            log("server log (errors and non-2xx):\n" + server.evidence('ERROR|WARN|" 5|" 4'))
    except RuntimeError as e:
        verdict.crashed(e)
    finally:
        server.kill()
        server.keep_log()
        if proxy:
            proxy.close()
        schema.drop()
    return verdict.emit(summary)


if __name__ == "__main__":
    raise SystemExit(main())
