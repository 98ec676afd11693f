#!/usr/bin/env bash
# The first ten minutes of a portal developer, a mobile developer and a
# journalist, with real tools against a real server:
#
#   1. a TypeScript client generated from openapi/openapi.json
#      (openapi-typescript + openapi-fetch), type-checked, runs the portal journey;
#   2. a Python client generated from it (openapi-python-client) runs the
#      portal and journalist journeys (csv module, icalendar package);
#   3. headless Chromium (Debian's chromium, driven by playwright-core) opens
#      /docs/ with the network closed, checks every operation renders and that
#      "Try it out" on GET /api/v1/events answers 200; screenshot kept at
#      target/clients/docs.png;
#   4. the same browser renders the embeddable widget on a plain portal page
#      and checks its items against the API (target/clients/widget.png);
#   5. every recipe of the README's cookbook runs as written;
#   6. the contract fuzzer, schemathesis, with every check against every
#      operation (writes with a national token), fixed seed: zero failures
#      (settings and the rules a schema cannot state: schemathesis.toml,
#      fuzz_hooks.py).
#
#   tests/clients/run.sh             on a fresh SQLite database
#   tests/clients/run.sh --pg URL    on a fresh schema in URL's PostgreSQL database
#   tests/clients/run.sh --serve     set up the server and data, print TICWEEK and
#                                    TICWEEK_TOKEN, and keep serving (to work on a test)
#
# Installs what it needs (npm packages from the lock file, a Python venv with
# pinned packages, Debian's chromium) and leaves it under target/clients and
# tests/clients/node_modules for the next run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/tests/clients"
out="$root/target/clients"
mkdir -p "$out"

pg_url="" serve=0
while [ $# -gt 0 ]; do
    case "$1" in
        --pg) pg_url="$2"; shift 2 ;;
        --serve) serve=1; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

step() { printf '\n==> clients: %s\n' "$*"; }

work=$(mktemp -d /tmp/ticweek-clients.XXXXXX)
port=$((20000 + RANDOM % 20000))
server_pid="" schema=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    if [ -n "$schema" ]; then psql -q "$pg_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

step "tools: npm packages, Python venv, chromium"
if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv "$out/venv"
fi
"$out/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
# A CJK font, so that the screenshots show the Chinese a reader sees.
if [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh | grep -q .; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
fi

step "server on 127.0.0.1:$port ($([ -n "$pg_url" ] && echo PostgreSQL || echo SQLite)) with the bundled data"
cargo build --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/debug/ticweek"
if [ -n "$pg_url" ]; then
    schema="clients_$$"
    psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
    sep=$([[ "$pg_url" == *\?* ]] && echo '&' || echo '?')
    export DATABASE_URL="${pg_url}${sep}options=-csearch_path%3D${schema}"
else
    export DATABASE_URL="$work/clients.db"
fi
export RUST_LOG=warn
# The fuzzer and the journeys load the server from this machine on purpose.
export TICWEEK_RATE_LIMIT=off
"$bin" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
export TICWEEK="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$TICWEEK/readyz" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

step "data: synthetic national records (CLI import), upcoming records and a poster (write API, with a token)"
python3 benches/gen.py --events 60 --labs 40 --sessions 120 --products 300 --out "$work/national.json" >/dev/null
"$bin" import "$work/national.json" >/dev/null
TICWEEK_TOKEN=$("$bin" token create --role national --name "clients-$$")
export TICWEEK_TOKEN
python3 "$here/fixture.py" >"$work/fixture.json"
curl -sf -X POST -H "Authorization: Bearer $TICWEEK_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "@$work/fixture.json" "$TICWEEK/api/v1/import" >/dev/null
python3 benches/gen_posters.py "$work/posters" --small-only
curl -sf -X POST -H "Authorization: Bearer $TICWEEK_TOKEN" \
    -F 'meta={"id":"clients-poster","title":"有机产品认证宣传周海报","kind":"organic_week","year":2026,"language":"zh-CN","source":"ticweek client tests (synthetic)"};type=application/json' \
    -F "file=@$work/posters/small.png;type=image/png" "$TICWEEK/api/v1/posters" >/dev/null
# The CLI import reaches the server through the data-version poll (250 ms).
sleep 0.5
if [ "$serve" = 1 ]; then
    printf 'export TICWEEK=%s TICWEEK_TOKEN=%s\n' "$TICWEEK" "$TICWEEK_TOKEN"
    wait "$server_pid" || true
    exit 0
fi

step "TypeScript: openapi-typescript → tsc → portal journey"
(cd "$here" && npx --no-install openapi-typescript "$root/openapi/openapi.json" -o generated/api.d.ts >/dev/null)
(cd "$here" && npx --no-install tsc -p tsconfig.json)
node "$here/build/portal.js"

step "Python: openapi-python-client → portal and journalist journeys"
rm -rf "$out/python-client"
"$out/venv/bin/openapi-python-client" generate --path "$root/openapi/openapi.json" \
    --config "$here/openapi-python-client.yml" --meta setup --output-path "$out/python-client" \
    >"$out/python-generator.log" 2>&1 || { cat "$out/python-generator.log" >&2; exit 1; }
PYTHONPATH="$out/python-client" "$out/venv/bin/python" "$here/journey.py"

step "browser: /docs/ and the embeddable widget in headless Chromium"
node "$here/docs.mjs"
node "$here/widget.mjs"

step "README cookbook: every recipe, as written"
python3 "$here/cookbook.py" "$root/README.md"

step "contract fuzzing: schemathesis, all checks, every operation"
fuzz() {
    (cd "$here" && SCHEMATHESIS_HOOKS=fuzz_hooks timeout 600 "$out/venv/bin/schemathesis" \
        --config-file schemathesis.toml run "$TICWEEK/openapi.json" --url "$TICWEEK" \
        -H "Authorization: Bearer $TICWEEK_TOKEN" --checks all --continue-on-failure \
        --seed 1 --max-examples 20 --no-color "$@")
}
# Reads and deletes: every check, "valid requests are accepted" included.
fuzz --include-method GET --include-method DELETE
# Writes with bodies: every check but that one. A body can keep to its schema
# and still break a rule JSON Schema cannot state (a session ends after it
# starts; a record names stored records); those are refused, rightly, and
# each rule has an integration test.
fuzz --include-method POST --include-method PUT --include-method PATCH \
    --exclude-checks positive_data_acceptance

if grep -E '(ERROR|panicked)' "$work/server.log" >&2; then
    echo "the server logged errors during the client tests" >&2
    exit 1
fi
step "clients passed"
