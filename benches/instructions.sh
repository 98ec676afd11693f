#!/usr/bin/env bash
# Instructions per request, counted by callgrind: repeatable where req/s is
# not (this VM's speed moves within minutes; the count for the same binary,
# data and requests does not). The server runs under valgrind with one
# worker and no read cache; after its in-memory indexes are built, N
# requests of each scenario are sent one at a time over one keep-alive
# connection (gzip asked, as wrk does) and only those are counted.
# User-space instructions only: the kernel's share (the loopback send) is
# not in them, and valgrind emulates no SHA extensions, so ETag hashing
# counts as software SHA-256.
#
#   benches/instructions.sh BIN DB PATHS_DIR N scenario...
#   benches/instructions.sh target/release/ticweek /tmp/bench.db /tmp/paths 1000 healthz event_list
#
# PATHS_DIR holds SCENARIO.txt files as benches/paths.py writes them.
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,15p "$0"; exit 2; }
bin=$1 db=$2 paths=$3 n=$4
shift 4
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=$((45000 + RANDOM % 5000))
cat > "$work/client.py" <<'PY'
import http.client, sys
port, path_file, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
paths = [line.rstrip("\n").split("\t")[0] for line in open(path_file) if line.strip()]
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    conn.request("GET", paths[i % len(paths)], headers={"Accept-Encoding": "gzip"})
    reply = conn.getresponse()
    reply.read()
    if reply.status >= 400:
        sys.exit(f"{paths[i % len(paths)]}: {reply.status}")
PY
DATABASE_URL="$db" RUST_LOG=warn,ticweek::db::memory=info \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/out.%p" \
    "$bin" serve --bind "127.0.0.1:$port" --workers 1 --cache-mb 0 --rate-limit off \
    >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.2; done
# The seven in-memory indexes log a line each when built.
for _ in $(seq 1 600); do
    [ "$(grep -c 'records, .* KiB, at version' "$work/server.log")" -ge 7 ] && break
    sleep 0.5
done
line="$(basename "$bin"):"
for scenario in "$@"; do
    python3 "$work/client.py" "$port" "$paths/$scenario.txt" 200   # warm-up, not counted
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    python3 "$work/client.py" "$port" "$paths/$scenario.txt" "$n"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    dump=$(ls -t "$work"/out.*.* | head -n 1)
    total=$(grep -a '^totals:' "$dump" | awk '{print $2}')
    line="$line $scenario=$((total / n))"
    mkdir -p "$root/target/instructions"
    cp "$dump" "$root/target/instructions/$scenario.callgrind"   # for callgrind_annotate
done
echo "$line"
