#!/usr/bin/env bash
# make demo: the nightly job on this machine. A real Medusa (installed on first use), the DummyJSON
# catalogue (served on 127.0.0.1 when dummyjson.com is out of reach), two runs, then a look at the store.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export ETL_STATE_DIR=${ETL_STATE_DIR:-$PWD/.etl}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting a local Medusa (scripts/medusa-dev.sh up)"
bash scripts/medusa-dev.sh up >/dev/null
eval "$(bash scripts/medusa-dev.sh env)"
export MEDUSA_URL MEDUSA_API_KEY

server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "${DUMMYJSON_URL:-}" ]; then
  if "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen("https://dummyjson.com/products?limit=1", timeout=3)' 2>/dev/null; then
    export DUMMYJSON_URL=https://dummyjson.com
  else
    say "dummyjson.com is not reachable: serving the catalogue on 127.0.0.1"
    fifo=$(mktemp -u); mkfifo "$fifo"
    "$BIN/python" scripts/dummyjson_server.py --port 0 --quiet >"$fifo" &
    server_pid=$!
    read -r banner <"$fifo"; rm -f "$fifo"
    export DUMMYJSON_URL=${banner##* }
  fi
fi
echo "source: $DUMMYJSON_URL/products    store: $MEDUSA_URL"

rc=0
say "Run 1: etl run pipelines/dummyjson.yaml"
"$BIN/etl" run pipelines/dummyjson.yaml --report "$ETL_STATE_DIR/demo-run-1.json" || rc=$?
say "Run 2 (nothing changed upstream): etl run pipelines/dummyjson.yaml"
"$BIN/etl" run pipelines/dummyjson.yaml --report "$ETL_STATE_DIR/demo-run-2.json" || rc=$?

say "The store, through Medusa's Admin API"
"$BIN/python" scripts/show_store.py
cat <<EOT

Look yourself:
  eval "\$(bash scripts/medusa-dev.sh env)"
  curl -s -u "\$MEDUSA_API_KEY:" "\$MEDUSA_URL/admin/products?fields=title,handle,external_id,*categories&limit=5" | python3 -m json.tool
  etl status pipelines/dummyjson.yaml      # the run journal
Stop Medusa with: make medusa-stop
EOT
exit "$rc"
