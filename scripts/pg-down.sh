#!/usr/bin/env bash
# scripts/pg-down.sh DIR: stops the server scripts/pg-up.sh started in DIR and removes DIR.
set -euo pipefail
DIR=${1:?usage: pg-down.sh DIR}
[ -d "$DIR" ] || exit 0
if [ -f "$DIR/pg_bin" ] && [ -d "$DIR/data" ]; then
  PG_BIN=$(cat "$DIR/pg_bin")
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  else "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
fi
rm -rf "$DIR"
