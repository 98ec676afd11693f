"""Shared pieces of the fault-injection tests (Python 3.11 standard library only).

Every test script is started by run.sh with these environment variables:

  FAULTS_BIN       the ticweek binary (debug build by default)
  FAULTS_WORK      a scratch directory that run.sh deletes afterwards
  FAULTS_PG        the PostgreSQL URL, empty for SQLite
  FAULTS_LOGS      where server logs are kept for a post-mortem

A script prints its verdicts on stdout as `PASS <summary>`, `FAIL <summary>`
or `SKIP <summary>`, and everything else (progress, evidence) on stderr.

Nothing a script starts may outlive it: children get PR_SET_PDEATHSIG, their
pids are also written to FAULTS_WORK/pids, mount points to FAULTS_WORK/mounts,
immutable files to FAULTS_WORK/immutable and PostgreSQL schemas to
FAULTS_WORK/schemas, so that run.sh can clean up even after a SIGKILL.
"""
from __future__ import annotations

import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

BIN = os.environ.get("FAULTS_BIN", "target/debug/ticweek")
WORK = os.environ.get("FAULTS_WORK") or "/tmp"
PG = os.environ.get("FAULTS_PG", "")
LOGS = os.environ.get("FAULTS_LOGS", "")
POOL_SIZE = int(os.environ.get("TICWEEK_POOL_SIZE", "8"))
SOURCE = "ticweek fault-injection tests (synthetic, not public data)"
RUN_ID = f"{os.getpid()}"

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If this script is SIGKILLed by run.sh's timeout, its servers die with it.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def log(*args) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def record(kind: str, value: str) -> None:
    """Remembers something run.sh must undo if this script dies uncleanly."""
    with open(os.path.join(WORK, kind), "a", encoding="utf-8") as f:
        f.write(value + "\n")


def on_sigterm() -> None:
    """run.sh's `timeout` sends SIGTERM: turn it into SystemExit so that every
    `finally` runs (servers stopped, mounts undone, schemas dropped)."""
    def handler(signum, frame):
        raise SystemExit(f"terminated by signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv, **kwargs) -> subprocess.Popen:
    proc = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)
    record("pids", str(proc.pid))
    return proc


def clean_env(**extra) -> dict:
    # The command line decides the database and address, never an inherited
    # DATABASE_URL/TICWEEK_BIND; RUST_LOG=info keeps one log line per request.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TICWEEK_BIND")}
    env["RUST_LOG"] = "info"
    env.update(extra)
    return env


def cli(db_url: str, *args: str, timeout: float = 60) -> str:
    """Runs a ticweek command to completion; returns its stdout."""
    r = subprocess.run([BIN, "--database-url", db_url, *args], capture_output=True, text=True,
                       timeout=timeout, env=clean_env(), preexec_fn=_die_with_parent)
    if r.returncode != 0:
        raise RuntimeError(f"ticweek {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def token(db_url: str, name: str) -> str:
    return cli(db_url, "token", "create", "--role", "national", "--name", name).strip()


# --------------------------------------------------------------------------- HTTP

@dataclass
class Answer:
    status: int | None          # None: no HTTP answer (timeout, refused, reset)
    error: str = ""             # why there was no answer
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    started: float = 0.0
    ended: float = 0.0

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else self.error

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class Client:
    """One keep-alive connection, reopened after any failure; every request is
    bounded by `timeout` so that a hang shows up as an answer of its own."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method: str, path: str, body=None, headers=None) -> Answer:
        started = time.monotonic()
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=hdrs)
            resp = self.conn.getresponse()
            payload = resp.read()
            answer = Answer(resp.status, headers={k.lower(): v for k, v in resp.getheaders()},
                            body=payload, started=started, ended=time.monotonic())
            if resp.getheader("connection", "").lower() == "close":
                self.close()
            return answer
        except (socket.timeout, TimeoutError):
            err = "timeout"
        except ConnectionRefusedError:
            err = "refused"
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            err = type(e).__name__
        self.close()
        return Answer(None, error=err, started=started, ended=time.monotonic())

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def get(port: int, path: str, timeout: float = 10.0) -> Answer:
    c = Client(port, timeout)
    try:
        return c.request("GET", path)
    finally:
        c.close()


def notice(id_: str) -> dict:
    """A valid notice in the input shape (src/import/mod.rs NoticeInput)."""
    return {
        # doc_number is unique per notice, so it is derived from the id.
        "id": id_, "doc_number": f"故障测试〔2026〕{id_}号",
        "title": f"故障注入测试通知 {id_}", "issuer": "测试市场监督管理局", "region": "360000",
        "issued_on": "2026-11-01", "body": "合成数据，仅供故障注入测试。", "source": SOURCE,
    }


# --------------------------------------------------------------------------- server

class Server:
    """A `ticweek serve` on 127.0.0.1 and a random free port, its output in a log file."""

    def __init__(self, db_url: str, name: str, extra_env: dict | None = None):
        self.db_url, self.name, self.extra_env = db_url, name, extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.starts = 0

    def start(self, wait_healthz: float = 15.0) -> None:
        for _ in range(3):  # another process may take the free port between probe and bind
            self.port = free_port()
            self.starts += 1
            logf = open(self.log_path, "a", encoding="utf-8")
            logf.write(f"\n===== start #{self.starts} on port {self.port} at {time.strftime('%H:%M:%S')}\n")
            logf.flush()
            # No rate limits: the load comes from this machine on purpose.
            self.proc = spawn([BIN, "--database-url", self.db_url, "--bind", f"127.0.0.1:{self.port}",
                               "--rate-limit", "off", "serve"],
                              stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                              env=clean_env(**self.extra_env))
            logf.close()
            deadline = time.monotonic() + wait_healthz
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if get(self.port, "/healthz", timeout=2).status == 200:
                    return
                time.sleep(0.05)
            self.kill()
        raise RuntimeError(f"{self.name}: /healthz never answered 200; log tail:\n{self.tail()}")

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds until /readyz answers 200; raises after `timeout`."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc and self.proc.returncode}); log tail:\n{self.tail()}")
            if get(self.port, "/readyz", timeout=5).status == 200:
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: /readyz not 200 within {timeout} s; log tail:\n{self.tail()}")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL if it takes longer than the 10 s grace."""
        self.kill(signal.SIGTERM)

    def tail(self, n: int = 30, grep: str | None = None) -> str:
        try:
            lines = open(self.log_path, encoding="utf-8", errors="replace").read().splitlines()
        except OSError:
            return "(no log)"
        if grep:
            lines = [l for l in lines if any(g in l for g in grep.split("|"))]
        return "\n".join(lines[-n:])

    def mark(self, text: str) -> None:
        """A line in the server's log, to tell phases apart in `evidence`."""
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"===== {text}\n")

    def evidence(self, pattern: str = 'ERROR|WARN|" 5') -> str:
        """The log's distinct error and warning messages (and 5xx request
        lines) with their counts, phase by phase (see `mark`)."""
        try:
            lines = open(self.log_path, encoding="utf-8", errors="replace").read().splitlines()
        except OSError:
            return "(no log)"
        out, seen = [], {}

        def flush():
            out.extend(f"      {n}× {msg}" for msg, n in seen.items())
            seen.clear()
        for line in lines:
            if line.startswith("====="):
                flush()
                out.append("    " + line)
            elif any(p in line for p in pattern.split("|")):
                msg = re.sub(r"^\[\S+ ", "[", line)                  # drop the timestamp
                msg = re.sub(r"\d+\.\d+ms$", "…ms", msg)            # and request durations
                msg = re.sub(r'("(POST|GET|PUT) /api/v1/notices)/[^ ?"]+', r"\1/…", msg)
                seen[msg] = seen.get(msg, 0) + 1
        flush()
        return "\n".join(out)

    def keep_log(self) -> None:
        if LOGS and os.path.exists(self.log_path):
            os.makedirs(LOGS, exist_ok=True)
            shutil.copy(self.log_path, os.path.join(LOGS, os.path.basename(self.log_path)))


# --------------------------------------------------------------------------- databases

def sqlite_integrity(path: str) -> str:
    con = sqlite3.connect(path, timeout=10)
    try:
        return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall())
    finally:
        con.close()


def sqlite_counts(path: str) -> dict:
    con = sqlite3.connect(path, timeout=10)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def psql(url: str, sql: str, timeout: float = 30) -> str:
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}")
    return r.stdout.strip()


def with_params(url: str, **params) -> str:
    """`url` with query parameters added (libpq URI syntax)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in params] + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)))


def with_hostport(url: str, host: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def pg_hostport(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


class PgSchema:
    """A fresh schema in FAULTS_PG's database, dropped by `drop()`. Its URL sets
    search_path (as benches/run.sh does) and application_name = the schema
    name, so pg_stat_activity tells this test's connections apart."""

    counter = 0

    def __init__(self, label: str):
        PgSchema.counter += 1
        self.name = f"faults_{RUN_ID}_{label}_{PgSchema.counter}"
        psql(PG, f"CREATE SCHEMA {self.name}")
        record("schemas", self.name)
        self.url = with_params(PG, options=f"-csearch_path={self.name}", application_name=self.name)

    def via(self, host: str, port: int) -> str:
        return with_hostport(self.url, host, port)

    def backends(self) -> int:
        return int(psql(PG, "SELECT count(*) FROM pg_stat_activity "
                            f"WHERE datname = current_database() AND application_name = '{self.name}'"))

    def wait_backends_gone(self, timeout: float = 20) -> float:
        t0 = time.monotonic()
        while self.backends() > 0:
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"backends of {self.name} still alive after {timeout} s")
            time.sleep(0.1)
        return time.monotonic() - t0

    def counts(self) -> dict:
        tables = psql(PG, "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                          f"'{self.name}' AND table_type = 'BASE TABLE' ORDER BY 1").split()
        if not tables:
            return {}
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {self.name}.\"{t}\"" for t in tables)
        return {t: int(n) for t, n in (line.split("|") for line in psql(PG, sql).splitlines())}

    def drop(self) -> None:
        try:
            # Terminate what is left of this schema's connections first, so the
            # DROP never waits behind them.
            psql(PG, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     f"WHERE application_name = '{self.name}' AND pid <> pg_backend_pid()")
            psql(PG, f"SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {self.name} CASCADE")
        except Exception as e:  # noqa: BLE001 - cleanup must not hide the verdict
            log(f"warning: could not drop schema {self.name}: {e}")


# --------------------------------------------------------------------------- TCP proxy

class Proxy:
    """A TCP proxy in front of PostgreSQL that can be switched off and on:
    `down()` drops every proxied connection (both sides, so PostgreSQL's
    backends end as in a restart) and refuses new ones; `up()` accepts again.
    While down the port stays bound but not listening, so a connect is
    refused at once (as when PostgreSQL is stopped), not left hanging."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.pairs: set[tuple[socket.socket, socket.socket]] = set()
        self.accepted = 0
        self.listener: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.running = False
        self.reserve = socket.socket()
        self.reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.reserve.bind(("127.0.0.1", 0))
        self.port = self.reserve.getsockname()[1]

    def up(self) -> None:
        if self.running:
            return
        if self.reserve is not None:
            self.reserve.close()
            self.reserve = None
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        s.settimeout(0.1)
        self.listener, self.running = s, True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def down(self) -> None:
        if self.running:
            self.running = False
            self.thread.join(timeout=5)
            self.listener.close()
            self.listener = None
        with self.lock:
            pairs, self.pairs = list(self.pairs), set()
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        if self.reserve is None:
            r = socket.socket()
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            r.bind(("127.0.0.1", self.port))
            self.reserve = r

    def open_connections(self) -> int:
        with self.lock:
            return len(self.pairs)

    def close(self) -> None:
        self.down()
        if self.reserve is not None:
            self.reserve.close()
            self.reserve = None

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            pair = (client, server)
            with self.lock:
                self.pairs.add(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, server, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self.lock:
            gone = pair in self.pairs
            self.pairs.discard(pair)
        if gone:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


# --------------------------------------------------------------------------- verdicts

class Verdict:
    """Collects failures; prints one summary line per test on stdout."""

    def __init__(self):
        self.failures: list[str] = []

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
            log("FAILED: " + message)
        return ok

    def crashed(self, error: Exception) -> None:
        """A test that could not go on: the first line fails it, the rest goes to the log."""
        self.check(False, str(error).splitlines()[0])
        log(str(error))

    def emit(self, summary: str) -> int:
        """Prints the summary line; the test's exit status."""
        word = "PASS" if not self.failures else "FAIL"
        detail = "" if not self.failures else "  <-- " + " | ".join(self.failures[:5])
        print(f"{word} {summary}{detail}", flush=True)
        return 1 if self.failures else 0


def counts_text(counts: dict, keys=("notices", "campaigns", "products")) -> str:
    return ", ".join(f"{k} {counts.get(k)}" for k in keys)


def status_counts(answers) -> str:
    tally: dict[str, int] = {}
    for a in answers:
        tally[a.label] = tally.get(a.label, 0) + 1
    return " ".join(f"{k}×{v}" for k, v in sorted(tally.items())) or "none"
