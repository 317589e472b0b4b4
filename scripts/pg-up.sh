#!/usr/bin/env bash
# scripts/pg-up.sh DIR [PORT]
# Tessera's own way to start a throwaway PostgreSQL server for tests and benchmarks (test/helpers/postgres.ts,
# bench/pg-listing.mjs) and by hand:
#   scripts/pg-up.sh /tmp/tessera-pg 55432 && . /tmp/tessera-pg/env   # ... scripts/pg-down.sh /tmp/tessera-pg
# Uses the Debian postgresql package's binaries (PG_BIN, default: the newest /usr/lib/postgresql/*/bin; or initdb on
# PATH). initdb in DIR/data (trust auth, UTF8, C.UTF-8 locale, no fsync: throwaway data only), listening on
# 127.0.0.1:PORT (default: a free port) and a socket in DIR. As root the server runs as the `postgres` user.
# Prints `export TESSERA_DATABASE_URL=...` and writes it to DIR/env. Starts in about a second.
set -euo pipefail
DIR=${1:?usage: pg-up.sh DIR [PORT]}
PORT=${2:-}

if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN" ] && command -v initdb >/dev/null 2>&1; then PG_BIN=$(dirname "$(command -v initdb)"); fi
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "pg-up.sh: no PostgreSQL binaries (install the postgresql package, or set PG_BIN)" >&2
  exit 3
fi
if [ -z "$PORT" ]; then
  PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
  chown postgres "$DIR"
  if ! runuser -u postgres -- test -w "$DIR"; then
    echo "pg-up.sh: user postgres cannot reach $DIR (a parent directory is private, e.g. made by mktemp -d); use a DIR directly under /tmp" >&2
    exit 1
  fi
fi

if [ ! -d "$DIR/data" ]; then
  as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/pg.log" -w -t 30 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$DIR/pg.log" >&2; exit 1; }
echo "$PG_BIN" >"$DIR/pg_bin"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
echo "export TESSERA_DATABASE_URL=$URL" | tee "$DIR/env"
