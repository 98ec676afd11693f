#!/usr/bin/env bash
# One-command load run: build release, generate and import the national data
# into a fresh database, serve it pinned to one core, and drive each scenario
# with wrk pinned to the other. Writes a markdown table of requests/s, p50,
# p99, errors, peak RSS and the ratio to the /healthz ceiling.
#
#   benches/run.sh                 SQLite, default data, 10 s per scenario
#   benches/run.sh --pg URL        the same on PostgreSQL (a fresh schema in URL's database);
#                                  a server on this host is pinned to wrk's core for the load
#                                  (--pg-floating: left to the scheduler)
#   benches/run.sh --smoke         tiny data, 1 s per scenario (CI: proves the harness runs)
#   benches/run.sh --cache-mb 0    the same with the read cache off (every request queries)
#   benches/run.sh --soak 600 --connections 64 --reuse-data   every scenario mixed, 10 min, RSS sampled
#   benches/run.sh --scale 5 --only "event_search_2 open_days_near"   5x the data, some scenarios (scaling table)
#   options: --duration S  --connections N  --out FILE  --reuse-data
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

pg_url="" pg_pin=1 smoke=0 duration=10 connections=32 out="" reuse=0 cache_mb=64 soak=0 scale=1 only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --pg) pg_url="$2"; shift 2 ;;
        --pg-floating) pg_pin=0; shift ;;
        --smoke) smoke=1; duration=1; shift ;;
        --duration) duration="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --reuse-data) reuse=1; shift ;;
        --scale) scale="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --cache-mb) cache_mb="$2"; shift 2 ;;
        --soak) soak="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
backend=$([ -n "$pg_url" ] && echo postgres || echo sqlite)
work=$(mktemp -d /tmp/ticweek-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
server_pid="" schema="" postmaster="" pg_mask=""

cleanup() {
    status=$?
    if [ "$status" != 0 ] && [ -f "$work/server.log" ]; then
        echo "benches/run.sh failed (exit $status) at line ${failed_line:-?}; the server's log ends:" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    if [ -n "$pg_mask" ]; then
        for p in "$postmaster" $(pgrep -P "$postmaster"); do taskset -a -p "$pg_mask" "$p" >/dev/null 2>&1 || true; done
    fi
    if [ -n "$schema" ]; then psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
failed_line=""
trap 'failed_line=${failed_line:-$LINENO}' ERR
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
cores=$(nproc)
server_cpu=0 load_cpu=$((cores > 1 ? 1 : 0))

if [ "$smoke" = 1 ]; then
    # The smoke run proves the harness works, not how fast: the debug build
    # the tests made already will do, and CI saves a release build.
    cargo build --quiet
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/ticweek"
else
    echo "==> cargo build --release" >&2
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-$root/target}/release/ticweek"
fi

if [ "$smoke" = 1 ]; then
    data="$work/data.json"
    python3 benches/gen.py --events 60 --labs 40 --sessions 120 --products 300 --out "$data" >&2
else
    data="$root/benches/data/national$([ "$scale" = 1 ] || echo "-x$scale").json"
    if [ "$reuse" = 0 ] || [ ! -f "$data" ]; then
        python3 benches/gen.py --events $((3000 * scale)) --labs $((20000 * scale)) \
            --sessions $((60000 * scale)) --products $((200000 * scale)) --out "$data" >&2
    fi
fi

if [ -n "$pg_url" ]; then
    schema="bench_$$"
    psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
    sep=$([[ "$pg_url" == *\?* ]] && echo '&' || echo '?')
    db_url="${pg_url}${sep}options=-csearch_path%3D${schema}"
else
    db_url="$work/bench.db"
fi
export DATABASE_URL="$db_url" RUST_LOG=warn

# Import only the sections this build knows: `export` lists them.
sections=$(DATABASE_URL="$work/probe.db" "$bin" export | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)))')
python3 - "$data" "$work/import.json" "$sections" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
keep = sys.argv[3].split(",")
json.dump({k: doc.get(k, []) for k in keep}, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
print("importing " + ", ".join(f"{len(doc.get(k, []))} {k}" for k in keep)
      + "; not importable yet: " + (", ".join(k for k in doc if k not in keep) or "none"), file=sys.stderr)
PY
"$bin" migrate >/dev/null 2>&1
t0=$(date +%s%N)
"$bin" import "$work/import.json" >/dev/null 2>"$work/import.log" || { cat "$work/import.log" >&2; exit 1; }
import_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ -n "$pg_url" ]; then
    db_size=$(psql -Atq "$pg_url" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)))::bigint) FROM pg_tables WHERE schemaname = '$schema'")
else
    db_size=$(du -ch "$db_url"* | tail -n 1 | cut -f1)
fi

# A PostgreSQL server on this host runs on wrk's core during the load, as
# a server on its own host would stay off the API's: left to the scheduler,
# it ran a third of its time on the API's core (woken from there), which
# sat saturated while the other core was 60 % idle (`perf record -a`,
# certificate search, 2026-12-07). The server is the process listening on
# the URL's port; it and its children (backends, and those it starts
# later, which inherit it) are pinned, and given back their mask at exit.
pg_where=""
if [ -n "$pg_url" ]; then
    pg_where="PostgreSQL not on this host or not found here, not pinned"
    if [[ "$pg_url" =~ ://([^@/?]*@)?(127\.0\.0\.1|localhost|\[::1\])(:([0-9]+))?([/?]|$) ]]; then
        pg_port=${BASH_REMATCH[4]:-5432}
        postmaster=$(ss -Hltnp "sport = :$pg_port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2 || true)
    fi
    if [ -n "$postmaster" ]; then
        pg_where="PostgreSQL on this host, left to the scheduler"
        if [ "$pg_pin" = 1 ] && [ "$cores" -gt 1 ]; then
            mask=$(taskset -p "$postmaster" | awk '{print $NF}')
            if taskset -a -p -c "$load_cpu" "$postmaster" >/dev/null 2>&1; then
                pg_mask=$mask
                for p in $(pgrep -P "$postmaster"); do
                    taskset -a -p -c "$load_cpu" "$p" >/dev/null 2>&1 || true
                done
                pg_where="PostgreSQL on this host pinned to CPU $load_cpu (with wrk)"
            else
                echo "could not pin PostgreSQL (pid $postmaster) to CPU $load_cpu: it runs where the scheduler puts it" >&2
            fi
        fi
    fi
fi

# Loopback load is the point here: no rate limits.
taskset -c "$server_cpu" "$bin" serve --bind "127.0.0.1:$port" --workers 1 --cache-mb "$cache_mb" --rate-limit off >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

scenarios=$(python3 benches/paths.py "$data" "$work/paths")

# Only some scenarios (the ceiling always): no posters.
if [ -n "$only" ]; then
    scenarios="healthz $only"
else
    # Posters: uploaded through the API with a token, as a bureau would.
    python3 benches/gen_posters.py "$work/posters"
    token=$("$bin" token create --role national --name "bench-$$" 2>/dev/null)
    upload_poster() { # id file → the poster's JSON
        curl -sf -X POST -H "Authorization: Bearer $token" \
            -F "meta={\"id\":\"$1\",\"title\":\"质量月海报 $1\",\"kind\":\"organic_week\",\"year\":2026,\"language\":\"zh-CN\",\"source\":\"benchmark\"};type=application/json" \
            -F "file=@$2;type=image/png" "http://127.0.0.1:$port/api/v1/posters"
    }
    file_url() { python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["url"])'; }
    small_url=$(upload_poster bench-small "$work/posters/small.png" | file_url)
    small_tag=$(curl -sfI "http://127.0.0.1:$port$small_url" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
    echo "$small_url" >"$work/paths/poster_download.txt"
    printf '%s\tIf-None-Match: %s\n' "$small_url" "$small_tag" >"$work/paths/poster_not_modified.txt"
    scenarios="$scenarios poster_download poster_not_modified"
fi
if [ "$soak" -gt 0 ]; then
    # Soak: every scenario's paths, shuffled into one mix, for $soak seconds
    # on $connections connections; the server's memory sampled every 10 s.
    mix="$work/paths/mix.txt"
    for name in $scenarios; do
        for variant in "$name" "${name}_cached"; do
            file="$work/paths/$variant.txt"
            [ -f "$file" ] || continue
            status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$(head -n 1 "$file" | cut -f1)")
            [ "$status" = 404 ] || [ "$status" = 405 ] || cat "$file"
        done
    done | python3 -c 'import random,sys; lines=sys.stdin.read().splitlines(); random.Random(7).shuffle(lines); print("\n".join(lines))' >"$mix"
    samples="$work/rss.tsv"
    echo "==> soak: $(wc -l <"$mix") paths, ${soak}s, $connections connections" >&2
    taskset -c "$load_cpu" wrk -t1 -c"$connections" -d"${soak}s" --latency --timeout 10s \
        -s benches/wrk/paths.lua "http://127.0.0.1:$port" -- "$mix" >"$work/soak.txt" 2>&1 &
    wrk_pid=$!
    start=$(date +%s)
    while kill -0 "$wrk_pid" 2>/dev/null; do
        printf '%s\t%s\t%s\n' "$(($(date +%s) - start))" \
            "$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")" \
            "$(awk '/RssAnon/ {print $2}' "/proc/$server_pid/status")" >>"$samples"
        sleep 10
    done
    read -r _ requests rps p50 p99 sock_errors status_errors <<<"$(grep '^RESULT' "$work/soak.txt")"
    minute1=$(awk -F'\t' '$1 >= 60 {print $2; exit}' "$samples")
    last=$(tail -n 1 "$samples" | cut -f2)
    out=${out:-$root/benches/results/$(date +%F)-$backend-soak.md}
    {
        echo "# Soak $(date +%F), $backend: ${soak} s, $connections connections, mixed scenarios"
        echo
        echo "Commit $(git rev-parse --short HEAD 2>/dev/null). Server pinned to CPU $server_cpu (1 worker, read cache ${cache_mb} MiB, no rate limits), wrk pinned to CPU $load_cpu; $(wc -l <"$mix") distinct paths from every read scenario, shuffled."
        echo
        echo "Requests $requests ($rps/s), p50 $p50 ms, p99 $p99 ms, socket errors $sock_errors, non-2xx/3xx answers $status_errors."
        echo "Server RSS: $((minute1 / 1024)) MiB at the end of minute 1, $((last / 1024)) MiB at the end ($(((last - minute1) / 1024)) MiB, $((last - minute1)) KiB difference)."
        echo
        echo "| s | RSS KiB | anon KiB |"
        echo "| ---: | ---: | ---: |"
        awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$samples"
    } >"$out"
    cat "$out"
    exit 0
fi

table="$work/table.md"
ceiling=""
skipped=()
# The ceiling moves while a run goes on (this VM's healthz has read 94,000
# and 121,000 minutes apart), so it is measured again after each scenario:
# a scenario's ratio is to the mean of the two measurements around it.
# `x first` keeps the ratio to the run's first reading, as older tables had.
ceiling_s=$(( smoke ? 1 : duration > 9 ? duration / 2 : duration ))
ceilings=()
measure_ceiling() {
    local result
    result=$(taskset -c "$load_cpu" wrk -t1 -c"$connections" -d"${ceiling_s}s" \
        -s benches/wrk/paths.lua "http://127.0.0.1:$port" -- "$work/paths/healthz.txt" | grep '^RESULT')
    ceilings+=("$(awk '{print $3}' <<<"$result")")
}
# One table row: the scenario's figures, the ceiling readings before and after it.
row() {
    awk -v before="$2" -v after="$3" -v first="$ceiling" '{
        around = (before + after) / 2
        printf "| %s | %s | %.0f | %.3f | %.2f | %.0f | %s | %s | %s | %s | %s |\n",
            $1, $3, $2, $2 / around, $2 / first, around, $4, $5, $6, $7, $8
    }' <<<"$1" >>"$table"
}
for name in $scenarios; do
    for variant in "$name" "${name}_cached"; do
        file="$work/paths/$variant.txt"
        [ -f "$file" ] || continue
        first=$(head -n 1 "$file" | cut -f1)
        status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$first")
        if [ "$status" = 404 ] || [ "$status" = 405 ]; then
            [ "$variant" = "$name" ] && skipped+=("$name")
            continue
        fi
        echo "==> $variant (${duration}s, $connections connections)" >&2
        result=$(taskset -c "$load_cpu" wrk -t1 -c"$connections" -d"${duration}s" --latency \
            -s benches/wrk/paths.lua "http://127.0.0.1:$port" -- "$file" | grep '^RESULT' || true)
        [ -n "$result" ] || { echo "wrk produced no result for $variant" >&2; exit 1; }
        read -r _ requests rps p50 p99 sock_errors status_errors <<<"$result"
        rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
        # Anonymous memory: the process's own. Peak RSS also counts the
        # database file's pages that SQLite reads through mmap, which are
        # the OS page cache, shared and reclaimable.
        anon_kb=$(awk '/RssAnon/ {print $2}' "/proc/$server_pid/status")
        line=$(printf '%s %s %s %.2f %.2f %s %s %s' "$variant" "$rps" "$(wc -l <"$file")" \
            "$p50" "$p99" "$((sock_errors + status_errors))" "$((rss_kb / 1024))" "$((anon_kb / 1024))")
        if [ "$variant" = healthz ]; then
            ceiling="$rps"
            ceilings+=("$rps")
            row "$line" "$rps" "$rps"
        else
            measure_ceiling
            row "$line" "${ceilings[-2]}" "${ceilings[-1]}"
        fi
    done
done

big_line=""
if [ -z "$only" ]; then
    # 64 clients downloading one 20 MiB poster at once: every download is
    # served from one shared copy, so the server's memory barely moves.
    big_url=$(upload_poster bench-big "$work/posters/big.png" | file_url)
    big_bytes=$(curl -sf "http://127.0.0.1:$port$big_url" | wc -c)
    rss_mib() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server_pid/status"; }
    rss_before=$(rss_mib)
    rss_peak=$rss_before
    taskset -c "$load_cpu" wrk -t1 -c64 -d"${duration}s" --timeout 60s "http://127.0.0.1:$port$big_url" >"$work/big.txt" 2>&1 &
    wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        now=$(rss_mib)
        [ "$now" -gt "$rss_peak" ] && rss_peak=$now
        sleep 0.2
    done
    big_rps=$(awk '/Requests\/sec/ {print $2}' "$work/big.txt")
    big_line="64 concurrent downloads of a $((big_bytes / 1048576)) MiB poster for ${duration} s: ${big_rps} downloads/s; server RSS ${rss_before} MiB before, ${rss_peak} MiB at most during ($((rss_peak - rss_before)) MiB growth)."
fi

date_tag=$(date +%F)
if [ -z "$out" ]; then
    if [ "$smoke" = 1 ]; then out="$work/results.md"; else out="$root/benches/results/$date_tag-$backend$([ "$cache_mb" = 0 ] && echo -uncached || true)$([ "$scale" = 1 ] || echo "-x$scale")$([ -z "$only" ] || [ "$scale" != 1 ] || echo "-partial").md"; fi
fi
mkdir -p "$(dirname "$out")"
{
    echo "# Load run $date_tag, $backend$([ "$smoke" = 1 ] && echo ' (smoke)')"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
        "server pinned to CPU $server_cpu (1 worker, read cache ${cache_mb} MiB), wrk pinned to CPU $load_cpu,${pg_where:+ $pg_where,} $connections connections, ${duration} s per scenario, gzip requested."
    echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Data: $(python3 -c "import json,sys; d=json.load(open('$work/import.json')); print(', '.join(f'{len(v)} {k}' for k, v in d.items()))") imported in ${import_ms} ms; database size ${db_size}."
    echo
    echo "| scenario | distinct URLs | req/s | × ceiling | × first | ceiling around | p50 ms | p99 ms | errors | peak RSS MiB | anon RSS MiB |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    cat "$table"
    echo
    echo "Skipped (endpoint not built yet): ${skipped[*]:-none}."
    echo
    echo "$big_line"
} >"$out"
cat "$out"
[ "$smoke" = 1 ] || echo "wrote $out" >&2
