#!/usr/bin/env bash
# medusa-dev.sh - a real Medusa v2 backend on 127.0.0.1 for development, tests and the demo.
# Medusa (from the npm registry) runs on a private PostgreSQL cluster; the admin dashboard is disabled.
#
# Usage:
#   scripts/medusa-dev.sh up       install on first use, start postgres + medusa, write the env file
#   scripts/medusa-dev.sh stop     stop medusa and its postgres (the install is kept)
#   scripts/medusa-dev.sh status   what is running
#   scripts/medusa-dev.sh env      print `export MEDUSA_URL=... MEDUSA_API_KEY=...` lines (after `up`)
#                                  use: eval "$(scripts/medusa-dev.sh env)"
#   scripts/medusa-dev.sh reset    empty the store (products, categories, tags) for a clean run or a recording;
#                                  only ever touches the Medusa this script started
#
# Needs Node >= 20.19 (or >= 22.12) with npm and the PostgreSQL server binaries (postgresql-15); as root on
# Debian/Ubuntu both are installed with apt-get when missing. The first `up` downloads ~1100 npm packages
# (~750 MB node_modules, about a minute); later runs reuse them and take seconds. `up` is idempotent.
#
# Settings (environment variables):
#   MEDUSA_DEV_DIR         working dir (install, database, logs)  default ${TMPDIR:-/tmp}/medusa-dev
#                          (outside the repository; the postgres OS user must be able to reach it)
#   MEDUSA_PORT            HTTP port on 127.0.0.1                 default 9000
#   MEDUSA_PG_PORT         postgres port on 127.0.0.1             default 54329
#   MEDUSA_ADMIN_EMAIL     admin user                             default admin@example.com
#   MEDUSA_ADMIN_PASSWORD  admin password                         default supersecret
#   MEDUSA_PG_PASSWORD     password of the database role medusa   default medusa
#   PG_BIN                 postgres bin dir                       default /usr/lib/postgresql/15/bin
#   MEDUSA_BOOT_TIMEOUT    seconds to wait for /health            default 180
set -euo pipefail

# ---- pinned versions (verified together) ------------------------------------------------------------
MEDUSA_VERSION=2.21.2
SWC_CORE_VERSION=1.7.28
TS_NODE_VERSION=10.9.2
TYPESCRIPT_VERSION=5.6.2
TYPES_NODE_VERSION=20.12.11

# ---- settings ----------------------------------------------------------------------------------------
DIR=${MEDUSA_DEV_DIR:-${MEDUSA_LAB_DIR:-${TMPDIR:-/tmp}/medusa-dev}}
HOST=127.0.0.1
PORT=${MEDUSA_PORT:-9000}
PG_PORT=${MEDUSA_PG_PORT:-54329}
ADMIN_EMAIL=${MEDUSA_ADMIN_EMAIL:-admin@example.com}
ADMIN_PASSWORD=${MEDUSA_ADMIN_PASSWORD:-supersecret}
PG_PASSWORD=${MEDUSA_PG_PASSWORD:-medusa}
BOOT_TIMEOUT=${MEDUSA_BOOT_TIMEOUT:-180}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=medusa
DB_USER=medusa

APP=$DIR/app
PGDATA=$DIR/pg
PGSOCK=$DIR/pgsock
LOGS=$DIR/logs
STATE=$DIR/state
PIDFILE=$DIR/medusa.pid
ENVFILE=$DIR/medusa.env
KEYFILE=$DIR/secret-api-key
BASE_URL="http://$HOST:$PORT"
SELF=${0##*/}

export MEDUSA_DISABLE_TELEMETRY=true
export NODE_ENV=development

log() { printf '[medusa-dev] %s\n' "$*" >&2; }
die() { printf '[medusa-dev] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# postgres refuses to run as root: as root, run its commands as the postgres OS user
PG_OS_USER=""
if [ "$(id -u)" = 0 ]; then PG_OS_USER=postgres; fi
as_pg() {
  if [ -n "$PG_OS_USER" ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u "$PG_OS_USER" -- "$@"
    else su "$PG_OS_USER" -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else "$@"; fi
}

# ---- prerequisites -------------------------------------------------------------------------------------
node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && node -e '
    const [M, m] = process.versions.node.split(".").map(Number)
    process.exit((M === 20 && m >= 19) || (M === 22 && m >= 12) || M > 22 ? 0 : 1)'
}

ensure_node() {
  node_ok && return 0
  if can_apt; then
    log "installing nodejs and npm with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs >/dev/null
  fi
  node_ok || die "need Node ^20.19.0 || >=22.12.0 with npm for Medusa $MEDUSA_VERSION (found: $(node --version 2>/dev/null || echo none)); install Node 20 LTS"
}

find_pg_bin() {
  [ -x "$PG_BIN/initdb" ] && return 0
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then PG_BIN=$found; return 0; fi
  return 1
}

ensure_postgres() {
  if ! find_pg_bin; then
    can_apt || die "PostgreSQL server binaries not found (install postgresql-15, or set PG_BIN)"
    log "installing postgresql-15 with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
    PG_BIN=/usr/lib/postgresql/15/bin
  fi
  [ -x "$PG_BIN/initdb" ] || die "no initdb in $PG_BIN"
}

# ---- postgres ----------------------------------------------------------------------------------------
pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

psql_admin() { # superuser over the private unix socket
  as_pg "$PG_BIN/psql" -h "$PGSOCK" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
}

start_postgres() {
  mkdir -p "$DIR" "$LOGS" "$STATE"
  chmod 755 "$DIR"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initdb $PGDATA"
    rm -rf "$PGDATA" "$STATE"/migrated-*
    mkdir -p "$PGDATA" "$PGSOCK"
    if [ -n "$PG_OS_USER" ]; then chown "$PG_OS_USER": "$PGDATA" "$PGSOCK"; fi
    chmod 700 "$PGDATA"
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 \
      || { cat "$LOGS/initdb.log" >&2; die "initdb failed"; }
  fi
  mkdir -p "$PGSOCK"
  touch "$LOGS/pg.log"
  if [ -n "$PG_OS_USER" ]; then chown "$PG_OS_USER": "$PGSOCK" "$LOGS/pg.log"; fi
  if ! pg_running; then
    log "starting postgres on $HOST:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$LOGS/pg.log" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=$HOST -c unix_socket_directories=$PGSOCK" start >/dev/null \
      || { tail -20 "$LOGS/pg.log" >&2; die "postgres failed to start"; }
  fi
  if [ "$(psql_admin -c "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
    psql_admin -c "create role $DB_USER login createdb password '$PG_PASSWORD'"
  else
    psql_admin -c "alter role $DB_USER password '$PG_PASSWORD'"
  fi
  if [ "$(psql_admin -c "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
    psql_admin -c "create database $DB_NAME owner $DB_USER"
  fi
}

stop_postgres() {
  if pg_running; then
    log "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
}

# ---- medusa project ----------------------------------------------------------------------------------
write_project() {
  mkdir -p "$APP"
  local tmp
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
{
  "name": "medusa-local",
  "version": "0.0.1",
  "private": true,
  "scripts": {
    "start": "medusa start",
    "dev": "medusa develop",
    "migrate": "medusa db:migrate"
  },
  "dependencies": {
    "@medusajs/cli": "$MEDUSA_VERSION",
    "@medusajs/framework": "$MEDUSA_VERSION",
    "@medusajs/medusa": "$MEDUSA_VERSION"
  },
  "devDependencies": {
    "@swc/core": "$SWC_CORE_VERSION",
    "@types/node": "$TYPES_NODE_VERSION",
    "ts-node": "$TS_NODE_VERSION",
    "typescript": "$TYPESCRIPT_VERSION"
  },
  "engines": { "node": "^20.19.0 || >=22.12.0" }
}
EOF
  # an unchanged package.json keeps its mtime, so the install below is reused
  if ! cmp -s "$tmp" "$APP/package.json"; then mv "$tmp" "$APP/package.json"; else rm -f "$tmp"; fi

  cat >"$APP/medusa-config.ts" <<'EOF'
import { loadEnv, defineConfig } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "development", process.cwd())

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      storeCors: process.env.STORE_CORS!,
      adminCors: process.env.ADMIN_CORS!,
      authCors: process.env.AUTH_CORS!,
      jwtSecret: process.env.JWT_SECRET!,
      cookieSecret: process.env.COOKIE_SECRET!,
    },
  },
  admin: { disable: true },
})
EOF

  cat >"$APP/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "ES2021",
    "esModuleInterop": true,
    "module": "Node16",
    "moduleResolution": "Node16",
    "emitDecoratorMetadata": true,
    "experimentalDecorators": true,
    "skipLibCheck": true,
    "declaration": false,
    "outDir": "./.medusa/server",
    "rootDir": "./",
    "resolveJsonModule": true,
    "strictNullChecks": true
  },
  "ts-node": { "swc": true },
  "include": ["**/*", ".medusa/types/*"],
  "exclude": ["node_modules", ".medusa/server", ".medusa/admin", ".cache"]
}
EOF

  ( umask 077
    [ -f "$STATE/jwt-secret" ] || node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))' >"$STATE/jwt-secret"
    [ -f "$STATE/cookie-secret" ] || node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))' >"$STATE/cookie-secret"
    cat >"$APP/.env" <<EOF
DATABASE_URL=postgres://$DB_USER:$PG_PASSWORD@$HOST:$PG_PORT/$DB_NAME
JWT_SECRET=$(cat "$STATE/jwt-secret")
COOKIE_SECRET=$(cat "$STATE/cookie-secret")
STORE_CORS=http://$HOST:8000,http://localhost:8000
ADMIN_CORS=http://$HOST:$PORT,http://localhost:$PORT
AUTH_CORS=http://$HOST:$PORT,http://localhost:$PORT
MEDUSA_DISABLE_TELEMETRY=true
EOF
  )
}

installed_version() {
  node -e 'try{console.log(require(process.argv[1]).version)}catch(e){console.log("")}' \
    "$APP/node_modules/@medusajs/medusa/package.json"
}

install_deps() {
  if [ "$(installed_version)" = "$MEDUSA_VERSION" ] && [ -f "$STATE/installed-$MEDUSA_VERSION" ] \
     && [ "$APP/package.json" -ot "$STATE/installed-$MEDUSA_VERSION" ]; then
    return 0
  fi
  log "npm install (@medusajs/medusa@$MEDUSA_VERSION): this takes a minute or more"
  local t0; t0=$(now)
  (cd "$APP" && npm install --no-audit --no-fund --loglevel=error >"$LOGS/npm-install.log" 2>&1) \
    || { tail -30 "$LOGS/npm-install.log" >&2; die "npm install failed (see $LOGS/npm-install.log)"; }
  [ "$(installed_version)" = "$MEDUSA_VERSION" ] || die "installed @medusajs/medusa is not $MEDUSA_VERSION"
  touch "$STATE/installed-$MEDUSA_VERSION"
  log "npm install done in $(since "$t0")s ($(du -sh "$APP/node_modules" | cut -f1) node_modules)"
}

medusa_cli() { (cd "$APP" && node "$APP/node_modules/@medusajs/cli/cli.js" "$@"); }

migrate() {
  if [ -f "$STATE/migrated-$MEDUSA_VERSION" ]; then return 0; fi
  log "medusa db:migrate"
  local t0; t0=$(now)
  medusa_cli db:migrate >"$LOGS/migrate.log" 2>&1 \
    || { tail -30 "$LOGS/migrate.log" >&2; die "db:migrate failed (see $LOGS/migrate.log)"; }
  touch "$STATE/migrated-$MEDUSA_VERSION"
  log "migrations done in $(since "$t0")s"
}

ensure_admin() {
  # `medusa user` fails when the email exists, so look first
  local exists
  exists=$(PGPASSWORD=$PG_PASSWORD "$PG_BIN/psql" -h "$HOST" -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -Atq \
    -c "select 1 from \"user\" where email='$ADMIN_EMAIL' and deleted_at is null limit 1" 2>/dev/null || true)
  if [ "$exists" != 1 ]; then
    log "creating admin user $ADMIN_EMAIL"
    medusa_cli user -e "$ADMIN_EMAIL" -p "$ADMIN_PASSWORD" >"$LOGS/user.log" 2>&1 \
      || { tail -30 "$LOGS/user.log" >&2; die "medusa user failed (see $LOGS/user.log)"; }
  fi
}

medusa_pid_alive() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "@medusajs/cli/cli.js start"
}

write_helpers() {
  cat >"$STATE/bootstrap.js" <<'EOF'
// Waits for /health, or logs in, keeps a working secret API key and prints the shell variables.
const fs = require("fs")
const [base, email, password, keyfile, timeoutS] = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function j(method, path, { token, key, body } = {}) {
  const headers = { "content-type": "application/json" }
  if (token) headers.authorization = "Bearer " + token
  if (key) headers.authorization = "Basic " + Buffer.from(key + ":").toString("base64")
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined })
  const text = await r.text()
  let data; try { data = JSON.parse(text) } catch { data = text }
  return { status: r.status, data }
}
;(async () => {
  if (process.env.WAIT_ONLY) {
    const deadline = Date.now() + Number(timeoutS) * 1000
    while (Date.now() < deadline) {
      try { const r = await fetch(base + "/health"); if (r.ok) process.exit(0) } catch {}
      await sleep(500)
    }
    process.exit(1)
  }
  const login = await j("POST", "/auth/user/emailpass", { body: { email, password } })
  if (login.status !== 200) throw new Error("admin login failed: " + (login.data.message || login.status))
  const token = login.data.token
  let key = fs.existsSync(keyfile) ? fs.readFileSync(keyfile, "utf8").trim() : ""
  if (key && (await j("GET", "/admin/products?limit=1&fields=id", { key })).status !== 200) key = ""
  if (!key) {
    const r = await j("POST", "/admin/api-keys", { token, body: { title: "local-sync", type: "secret" } })
    if (r.status !== 200) throw new Error("api key creation failed: " + (r.data.message || r.status))
    key = r.data.api_key.token
    fs.writeFileSync(keyfile, key + "\n", { mode: 0o600 })
  }
  const store = await j("GET", "/admin/stores?fields=id,default_sales_channel_id", { key })
  const sp = await j("GET", "/admin/shipping-profiles?fields=id,type", { key })
  const scId = store.data.stores?.[0]?.default_sales_channel_id ?? ""
  const spId = (sp.data.shipping_profiles || []).find((p) => p.type === "default")?.id ?? ""
  const out = {
    MEDUSA_URL: base, MEDUSA_ADMIN_EMAIL: email, MEDUSA_ADMIN_PASSWORD: password,
    MEDUSA_API_KEY: key, MEDUSA_SALES_CHANNEL_ID: scId, MEDUSA_SHIPPING_PROFILE_ID: spId,
  }
  for (const [k, v] of Object.entries(out)) console.log(`export ${k}='${v}'`)
})().catch((e) => { console.error(e.message || e); process.exit(1) })
EOF

  cat >"$STATE/reset.js" <<'EOF'
// Soft-deletes every product, category and tag, so the next sync starts from an empty store.
// Handles and SKUs of soft-deleted products can be used again.
const fs = require("fs")
const [base, keyfile] = process.argv.slice(2)
const key = fs.readFileSync(keyfile, "utf8").trim()
const auth = "Basic " + Buffer.from(key + ":").toString("base64")
async function j(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { "content-type": "application/json", authorization: auth },
    body: body ? JSON.stringify(body) : undefined,
  })
  const data = await r.json().catch(() => ({}))
  if (!r.ok) throw new Error(`${method} ${path.split("?")[0]}: ${r.status} ${data.message || ""}`)
  return data
}
async function ids(path, plural, fields = "id") {
  const d = await j("GET", `${path}?fields=${fields}&limit=100000&order=id`)
  return d[plural]
}
;(async () => {
  const products = (await ids("/admin/products", "products")).map((p) => p.id)
  for (let i = 0; i < products.length; i += 500) {
    await j("POST", "/admin/products/batch", { delete: products.slice(i, i + 500) })
  }
  let categories = await ids("/admin/product-categories", "product_categories", "id,parent_category_id")
  const categoryCount = categories.length
  while (categories.length) {
    const parents = new Set(categories.map((c) => c.parent_category_id).filter(Boolean))
    const leaves = categories.filter((c) => !parents.has(c.id))
    if (!leaves.length) throw new Error("categories form a cycle; delete them by hand")
    for (const c of leaves) await j("DELETE", `/admin/product-categories/${c.id}`)
    categories = categories.filter((c) => !leaves.includes(c))
  }
  const tags = (await ids("/admin/product-tags", "product_tags")).map((t) => t.id)
  for (const id of tags) await j("DELETE", `/admin/product-tags/${id}`)
  console.log(`${products.length} products, ${categoryCount} categories, ${tags.length} tags`)
})().catch((e) => { console.error(e.message || e); process.exit(1) })
EOF
}

start_medusa() {
  write_helpers
  if medusa_pid_alive && WAIT_ONLY=1 node "$STATE/bootstrap.js" "$BASE_URL" x x x 3; then
    log "medusa already running (pid $(cat "$PIDFILE"))"
    return 0
  fi
  if WAIT_ONLY=1 node "$STATE/bootstrap.js" "$BASE_URL" x x x 1; then
    die "something else already answers on $BASE_URL (not started by this script); set MEDUSA_PORT"
  fi
  log "starting medusa on $BASE_URL"
  local t0; t0=$(now)
  cd "$APP"
  setsid nohup node "$APP/node_modules/@medusajs/cli/cli.js" start -H "$HOST" -p "$PORT" \
    >>"$LOGS/medusa.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  cd - >/dev/null
  if ! WAIT_ONLY=1 node "$STATE/bootstrap.js" "$BASE_URL" x x x "$BOOT_TIMEOUT"; then
    tail -30 "$LOGS/medusa.log" >&2
    die "medusa did not become healthy within ${BOOT_TIMEOUT}s (see $LOGS/medusa.log)"
  fi
  log "medusa healthy after $(since "$t0")s (pid $(cat "$PIDFILE"))"
}

stop_medusa() {
  if medusa_pid_alive; then
    local pid; pid=$(cat "$PIDFILE")
    log "stopping medusa (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$PIDFILE"
}

# ---- commands -------------------------------------------------------------------------------------------
cmd_up() {
  local t0; t0=$(now)
  ensure_node
  ensure_postgres
  mkdir -p "$DIR" "$LOGS" "$STATE"
  start_postgres
  write_project
  install_deps
  migrate
  ensure_admin
  start_medusa
  ( umask 077; node "$STATE/bootstrap.js" "$BASE_URL" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$KEYFILE" 0 >"$ENVFILE.tmp" ) \
    || die "post-start bootstrap failed"
  mv "$ENVFILE.tmp" "$ENVFILE"
  log "ready in $(since "$t0")s total"
  cat <<EOF
Medusa $MEDUSA_VERSION is up (admin dashboard disabled).
  Base URL:    $BASE_URL
  Admin user:  $ADMIN_EMAIL   (POST /auth/user/emailpass)
  Variables:   eval "\$($0 env)"   (MEDUSA_URL, MEDUSA_API_KEY, ...; file: $ENVFILE)
  Logs:        $LOGS/medusa.log
  Stop:        $0 stop
EOF
}

cmd_stop() {
  stop_medusa
  if [ -d "$PGDATA" ] && find_pg_bin; then stop_postgres; fi
  log "stopped (install kept in $DIR)"
}

cmd_status() {
  if medusa_pid_alive; then echo "medusa:   running (pid $(cat "$PIDFILE")) at $BASE_URL"; else echo "medusa:   stopped"; fi
  if [ -d "$PGDATA" ] && find_pg_bin; then
    if pg_running; then echo "postgres: running on $HOST:$PG_PORT"; else echo "postgres: stopped"; fi
  else echo "postgres: not initialised"; fi
  echo "install:  @medusajs/medusa $(installed_version 2>/dev/null || true) in $APP"
}

cmd_env() {
  [ -f "$ENVFILE" ] || die "no $ENVFILE yet: run '$SELF up'"
  cat "$ENVFILE"
}

cmd_reset() {
  medusa_pid_alive || die "no Medusa started by $SELF is running: run '$SELF up' first"
  [ -f "$KEYFILE" ] || die "no API key in $KEYFILE: run '$SELF up' first"
  write_helpers
  local deleted
  deleted=$(node "$STATE/reset.js" "$BASE_URL" "$KEYFILE") || die "reset failed"
  log "store at $BASE_URL emptied: deleted $deleted"
}

case "${1:-up}" in
  up|start) cmd_up ;;
  stop|down) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  reset) cmd_reset ;;
  -h|--help|help) sed -n '2,28p' "$0" ;;
  *) die "unknown command '$1' (use up|stop|status|env|reset)" ;;
esac
