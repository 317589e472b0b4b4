#!/usr/bin/env bash
# scripts/chaos-postgres.sh [chaos flags...]
# The multi-gateway chaos run on PostgreSQL (issue 12): a throwaway server from scripts/pg-up.sh, 3 gateways on it,
# and a db-restart fault (pg_ctl restart) among the others. Extra flags go to test/chaos/run.mjs (defaults below).
#   npm run build && bash scripts/chaos-postgres.sh --duration 120
set -euo pipefail
cd "$(dirname "$0")/.."
PGD=$(mktemp -u /tmp/tessera-chaos-pg-XXXXXX)
cleanup() { bash scripts/pg-down.sh "$PGD" >/dev/null 2>&1 || true; rm -rf "$PGD"; }
trap cleanup EXIT
bash scripts/pg-up.sh "$PGD" >/dev/null
# shellcheck disable=SC1091
. "$PGD/env"
PG_BIN=$(cat "$PGD/pg_bin")
AS=""
[ "$(id -u)" = 0 ] && AS="runuser -u postgres --"
export CHAOS_META_YAML="meta: { driver: postgres, postgres: { url: \"$TESSERA_DATABASE_URL\" } }"
export CHAOS_DB_RESTART_CMD="$AS $PG_BIN/pg_ctl -D $PGD/data -l $PGD/pg.log restart -m fast -w -t 30"
# The gateways read the URL from the config written by the harness, not from the environment.
unset TESSERA_DATABASE_URL
node test/chaos/run.mjs --gateways 3 --duration 120 --clients 8 --hot fs "$@"
