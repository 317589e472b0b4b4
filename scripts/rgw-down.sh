#!/usr/bin/env bash
# scripts/rgw-down.sh DIR  (Tessera; pairs with scripts/rgw-up.sh)
# Stops the daemons that rgw-up.sh started in DIR -- only by their pid files,
# and only if that pid's command line still names DIR/ceph.conf -- then removes DIR.
# Order: radosgw, then OSDs, then the monitor (radosgw needs RADOS to shut down
# quickly; killed all at once it can hang up to its 120 s SIGTERM alarm).
set -uo pipefail

DIR=${1:-/tmp/rgw}
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
DIR=${DIR%/}
[[ -n $DIR && $DIR != / ]] || { echo "rgw-down: refusing DIR=/" >&2; exit 1; }
[[ -d $DIR ]] || { echo "rgw-down: $DIR does not exist, nothing to do" >&2; exit 0; }
if [[ ! -e $DIR/ceph.conf ]]; then
  echo "rgw-down: $DIR/ceph.conf missing; not an rgw-up.sh dir, leaving it alone" >&2
  exit 1
fi

ours() { # live (non-zombie) process whose command line names our ceph.conf
  local p=$1 st
  st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$DIR/ceph.conf"
}

stopped=0
stop_group() { # stop_group SECONDS PIDFILE...
  local secs=$1 pf p i alive; shift
  local pids=()
  for pf in "$@"; do
    [[ -e $pf ]] || continue
    p=$(cat "$pf" 2>/dev/null || true)
    [[ $p =~ ^[0-9]+$ ]] || continue
    if ours "$p"; then kill -TERM "$p" 2>/dev/null && pids+=("$p"); fi
  done
  (( ${#pids[@]} )) || return 0
  stopped=$(( stopped + ${#pids[@]} ))
  for (( i = 0; i < secs * 10; i++ )); do
    alive=0
    for p in "${pids[@]}"; do ours "$p" && alive=1; done
    (( alive )) || return 0
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if ours "$p"; then
      echo "rgw-down: pid $p still running after ${secs}s SIGTERM, sending SIGKILL" >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  for (( i = 0; i < 50; i++ )); do
    alive=0
    for p in "${pids[@]}"; do ours "$p" && alive=1; done
    (( alive )) || return 0
    sleep 0.1
  done
}

stop_group 15 "$DIR"/run/rgw.pid
stop_group 10 "$DIR"/run/osd.*.pid
stop_group 10 "$DIR"/run/mon.*.pid

rm -rf "$DIR"
echo "rgw-down: stopped $stopped daemon(s), removed $DIR" >&2
