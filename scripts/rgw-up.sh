#!/usr/bin/env bash
# scripts/rgw-up.sh DIR [PORT]
# Tessera's own way to start a throwaway Ceph RADOS Gateway (a real S3 server)
# for tests and benchmarks: used by test/helpers/rgw.ts and by hand, e.g.
#   sudo scripts/rgw-up.sh /tmp/rgw 7480 && . /tmp/rgw/env   # ... scripts/rgw-down.sh /tmp/rgw
# Single-host Ceph (Pacific, Debian bookworm packages, installed with apt-get
# on first use: about a minute) + radosgw on 127.0.0.1:PORT.  Everything lives
# under DIR; daemons are started directly (no systemd) and their pids are in
# DIR/run/*.pid.  Stop with scripts/rgw-down.sh DIR.  Must run as root
# (apt-get; ceph daemons run as root here).  Start takes 3-25 s.
#
# Ceph 16 quirks a client must cope with (see src/util/s3-client.ts):
#   - no aws-chunked uploads with trailing checksums: clients must compute
#     checksums only "when required" (the env file below says so for the SDKs);
#   - CompleteMultipartUpload answers an empty ETag (HeadObject has it);
#   - IPv4 only: http://127.0.0.1:PORT, path-style, region us-east-1.
#
# Env overrides:
#   RGW_ACCESS_KEY / RGW_SECRET_KEY   S3 credentials (default hotkey / hotsecret)
#   RGW_UID                           S3 user id (default hot)
#   RGW_EC=k+m                        make the zone's data pool erasure coded
#                                     (e.g. 2+1); starts k+m OSDs by default
#   RGW_NUM_OSDS                      number of memstore OSDs (default 1, or k+m)
#   RGW_STORE=memstore|bluestore      OSD backend (default memstore: data in
#                                     RAM, fastest start; bluestore: sparse
#                                     file DIR/osd/*/block, data on disk; use it
#                                     for anything over a few GB)
#   RGW_OSD_BYTES                     capacity per OSD (default 8 GiB; memstore
#                                     reports it, bluestore sizes its file)
#   RGW_MON_PORT                      monitor port (default: a free port)
#   RGW_TIMEOUT                       seconds to wait for each stage (default 180)
# Prints `export AWS_...` lines on stdout (also written to DIR/env); logs go to
# stderr and DIR/log/.  The last stdout line is `READY <endpoint>`.
set -euo pipefail

DIR=${1:-/tmp/rgw}
PORT=${2:-7480}
ACCESS=${RGW_ACCESS_KEY:-hotkey}
SECRET=${RGW_SECRET_KEY:-hotsecret}
S3UID=${RGW_UID:-hot}
EC=${RGW_EC:-}
OSD_BYTES=${RGW_OSD_BYTES:-$((8 * 1024 * 1024 * 1024))}
TIMEOUT=${RGW_TIMEOUT:-180}
STORE=${RGW_STORE:-memstore}
T0=$(date +%s%N)
elapsed() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)); }

log() { printf '[rgw-up %6ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
alive() { # running (not zombie) process?
  local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ $PORT =~ ^[0-9]+$ ]] || die "PORT must be a number"
[[ $STORE == memstore || $STORE == bluestore ]] || die "RGW_STORE must be memstore or bluestore"
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
DIR=${DIR%/}
[[ -n $DIR && $DIR != / ]] || die "refusing DIR=/"
[[ $DIR =~ ^[A-Za-z0-9_./-]+$ ]] || die "DIR may only contain [A-Za-z0-9_./-]"

EC_K=; EC_M=
if [[ -n $EC ]]; then
  [[ $EC =~ ^([0-9]+)\+([0-9]+)$ ]] || die "RGW_EC must look like 2+1"
  EC_K=${BASH_REMATCH[1]}; EC_M=${BASH_REMATCH[2]}
  NUM_OSDS=${RGW_NUM_OSDS:-$((EC_K + EC_M))}
  (( NUM_OSDS >= EC_K + EC_M )) || die "RGW_EC=$EC needs at least $((EC_K + EC_M)) OSDs"
else
  NUM_OSDS=${RGW_NUM_OSDS:-1}
fi

# ---------------------------------------------------------------- packages
install_pkgs() {
  local missing=0 b
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl uuidgen; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  (( missing )) || return 0
  log "installing Debian ceph packages (radosgw ceph-mon ceph-osd ceph-common)"
  local out; out=$(mktemp)
  if ! (
    # serialize concurrent installs (two clusters started in parallel)
    flock -w 900 9 || exit 1
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
      radosgw ceph-mon ceph-osd ceph-common curl uuid-runtime
  ) 9>/var/lock/rgw-up-apt.lock >"$out" 2>&1; then
    tail -n 30 "$out" >&2; rm -f "$out"; die "apt-get install failed"
  fi
  rm -f "$out"
  log "packages installed"
}
install_pkgs
log "ceph: $(ceph-mon --version 2>/dev/null | cut -d' ' -f1-3,5)"

# ---------------------------------------------------------------- sanity
if [[ -d $DIR/run ]]; then
  for pf in "$DIR"/run/*.pid; do
    [[ -e $pf ]] || continue
    p=$(cat "$pf" 2>/dev/null || true)
    if [[ $p =~ ^[0-9]+$ ]] && alive "$p" && grep -qF "$DIR/ceph.conf" "/proc/$p/cmdline" 2>/dev/null; then
      die "$DIR has a running daemon (pid $p from $pf); run rgw-down.sh $DIR first"
    fi
  done
fi
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }  # something accepts connections
port_busy "$PORT" && die "port $PORT is already in use"
free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MON_PORT=${RGW_MON_PORT:-$(free_port)}
port_busy "$MON_PORT" && die "mon port $MON_PORT is already in use"

if [[ -e $DIR && ! -e $DIR/ceph.conf && -n $(ls -A "$DIR" 2>/dev/null) ]]; then
  die "$DIR exists, is not empty and is not an rgw-up.sh dir; refusing to wipe it"
fi
rm -rf "$DIR"
mkdir -p "$DIR"/{mon,osd,run,log,rgw,crash,tmp}
CONF=$DIR/ceph.conf
FSID=$(uuidgen)

# On any failure after this point: stop whatever we started, keep DIR for logs.
stop_started() { # radosgw first, then OSDs, then the monitor
  local grp pf p i
  for grp in "$DIR/run/rgw.pid" "$DIR/run/osd.*.pid" "$DIR/run/mon.*.pid"; do
    for pf in $grp; do
      [[ -e $pf ]] || continue
      p=$(cat "$pf" 2>/dev/null || true)
      [[ $p =~ ^[0-9]+$ ]] && alive "$p" && kill -TERM "$p" 2>/dev/null || true
    done
    for pf in $grp; do
      [[ -e $pf ]] || continue
      p=$(cat "$pf" 2>/dev/null || true)
      [[ $p =~ ^[0-9]+$ ]] || continue
      for i in $(seq 100); do alive "$p" || break; sleep 0.1; done
      alive "$p" && kill -KILL "$p" 2>/dev/null || true
    done
  done
}
READY=0
on_exit() {
  local rc=$?
  (( READY )) && return 0
  (( rc )) || rc=1
  log "failed (rc=$rc); last log lines:"
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [[ -s $f ]] || continue
    echo "==> $f" >&2; tail -n 15 "$f" >&2
  done
  stop_started
  log "daemons stopped; logs kept in $DIR/log"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- config
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# with auth=none msgr2 "secure" mode is impossible; radosgw insists on it for
# mon connections unless told otherwise (get_initial_auth_request returned -13)
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
run dir = $DIR/run
crash dir = $DIR/crash
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$type.\$id.pid
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
log to stderr = false
err to stderr = true
log to syslog = false
# single host, tiny, throwaway
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd crush initial weight = 1
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim allowed = false
# commit map changes quickly (each pool RGW creates is one osdmap epoch)
paxos propose interval = 0.1
paxos min wait = 0.01
[mon]
mon data = $DIR/mon/\$cluster-\$id
[osd]
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = $STORE
memstore device bytes = $OSD_BYTES
# bluestore variant: one sparse file per OSD, small caches
bluestore block create = true
bluestore block size = $OSD_BYTES
bluestore block db create = false
bluestore block wal create = false
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
bluestore fsck on mount = false
bluestore fsck on mkfs = false
osd max object name len = 460
osd max object namespace len = 64
[client]
# radosgw-admin / ceph CLI
log file = $DIR/log/\$name.\$pid.log
admin socket = $DIR/run/\$name.\$pid.asok
[client.rgw.gw]
log file = $DIR/log/rgw.log
admin socket = $DIR/run/rgw.asok
pid file = $DIR/run/rgw.pid
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 256
# RGW defers deleting the data of removed/overwritten objects to its garbage
# collector (default: wait 2 h, run hourly).  memstore keeps data in RAM, so
# collect quickly or memory grows with every overwrite/delete.
rgw gc obj min wait = 10
rgw gc processor period = 10
rgw gc processor max time = 10
EOF
C=(-c "$CONF")
ceph_() { timeout 60 ceph "${C[@]}" --connect-timeout 20 "$@"; }

# ---------------------------------------------------------------- monitor
log "creating monitor (v2 127.0.0.1:$MON_PORT)"
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" \
  --enable-all-features --set-min-mon-release pacific "$DIR/tmp/monmap" >"$DIR/log/mkfs.out" 2>&1
ceph-mon "${C[@]}" -i a --mkfs --monmap "$DIR/tmp/monmap" >>"$DIR/log/mkfs.out" 2>&1
timeout "$TIMEOUT" ceph-mon "${C[@]}" -i a >"$DIR/log/mon.out" 2>&1 </dev/null
deadline=$(( $(date +%s) + TIMEOUT ))
until ceph_ mon stat >/dev/null 2>&1; do
  (( $(date +%s) < deadline )) || die "monitor did not come up"
  sleep 0.5
done
log "monitor up"

# ---------------------------------------------------------------- OSDs
starters=()
for i in $(seq 0 $((NUM_OSDS - 1))); do
  uuid=$(uuidgen)
  id=$(ceph_ osd new "$uuid")
  mkdir -p "$DIR/osd/ceph-$id"
  # mkfs + start in parallel; the foreground ceph-osd returns once its
  # daemonized child has initialised
  ( ceph-osd "${C[@]}" -i "$id" --mkfs --osd-uuid "$uuid" >"$DIR/log/mkfs.osd.$id.out" 2>&1 &&
    ceph-osd "${C[@]}" -i "$id" >"$DIR/log/osd.$id.out" 2>&1 </dev/null ) &
  starters+=($!)
done
for p in "${starters[@]}"; do wait "$p" || die "an OSD failed to start (see $DIR/log/osd.*)"; done
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  up=$(ceph_ osd stat -f json 2>/dev/null | /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null || echo 0)
  (( up >= NUM_OSDS )) && break
  (( $(date +%s) < deadline )) || die "only $up of $NUM_OSDS OSDs came up"
  sleep 0.5
done
log "$NUM_OSDS OSD(s) up ($STORE)"

# ---------------------------------------------------------------- EC data pool
if [[ -n $EC ]]; then
  log "creating erasure-coded data pool default.rgw.buckets.data (k=$EC_K m=$EC_M)"
  ceph_ osd erasure-code-profile set rgw-ec k="$EC_K" m="$EC_M" crush-failure-domain=osd >/dev/null
  ceph_ osd pool create default.rgw.buckets.data 8 8 erasure rgw-ec >/dev/null 2>&1
  ceph_ osd pool application enable default.rgw.buckets.data rgw >/dev/null 2>&1
fi

# ---------------------------------------------------------------- radosgw
log "starting radosgw on 127.0.0.1:$PORT"
# the launching process blocks until it has talked to the monitor (up to 300 s
# if it cannot), then daemonizes (setsid) and returns; hence the timeout
timeout "$TIMEOUT" radosgw "${C[@]}" -n client.rgw.gw >"$DIR/log/rgw.out" 2>&1 </dev/null
deadline=$(( $(date +%s) + TIMEOUT ))
until curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; do
  (( $(date +%s) < deadline )) || die "radosgw did not answer on port $PORT"
  if [[ -e $DIR/run/rgw.pid ]] && ! alive "$(cat "$DIR/run/rgw.pid")"; then
    die "radosgw exited"
  fi
  sleep 0.5
done
log "S3 answering on http://127.0.0.1:$PORT"

# ---------------------------------------------------------------- S3 user
timeout 120 radosgw-admin "${C[@]}" -n client.admin user create --uid="$S3UID" --display-name="$S3UID" \
  --access-key="$ACCESS" --secret-key="$SECRET" >"$DIR/log/user.json" 2>"$DIR/log/user.err"
log "user $S3UID created (access key $ACCESS)"

READY=1
ENDPOINT=http://127.0.0.1:$PORT
cat >"$DIR/env" <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$ENDPOINT
export S3_ENDPOINT=$ENDPOINT
# Ceph 16 RGW cannot parse aws-chunked uploads with trailing checksums, which
# current AWS SDKs send by default for streamed bodies (HTTP 411/400). These
# env vars make SDK JS v3 / botocore send checksums only when required.
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export CEPH_CONF=$CONF
EOF
cat "$DIR/env"
echo "READY $ENDPOINT"
log "ready in $(elapsed)s; stop with: scripts/rgw-down.sh $DIR"
