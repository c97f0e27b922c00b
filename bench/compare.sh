#!/usr/bin/env bash
# bench/compare.sh: mcmux against other ways of reaching a TLS memcached, on one machine.
#
#   bench/compare.sh                          warmup 30s, measured 30s per target and workload
#   WARMUP=3s DURATION=5s bench/compare.sh    quick check that everything works
#   bench/compare.sh --out /tmp/report.md
#
# Starts memcached (plaintext, and with TLS) on SERVER_CPU, and the proxies under test with the
# mcmux bench load generator on CLIENT_CPU, measures three workloads with one bench run each
# (all targets in one run, so the ratios come from one run), and writes a markdown report.
# See bench/README.md for what is measured and how to read it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

WARMUP=${WARMUP:-30s}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WORKLOADS=${WORKLOADS:-50x1 4x16 cpr8}
TARGETS=${TARGETS:-plain tls stunnel haproxy nutcracker-stunnel nutcracker-plain mcmux}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
# Seconds between a memory phase and its reading: mcmux gives freed native memory back every 5 s.
MEM_SETTLE=${MEM_SETTLE:-10}
JAR=${JAR:-$ROOT/proxy/target/mcmux.jar}
SIDECAR_JVM_OPTS=${SIDECAR_JVM_OPTS:--XX:+UseSerialGC -Xms16m -Xmx128m -Xmn4m -Xss256k -XX:MaxDirectMemorySize=64m -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData}
BENCH_JVM_OPTS=${BENCH_JVM_OPTS:--XX:-UsePerfData}
SIDECAR_MALLOC_ARENA_MAX=${SIDECAR_MALLOC_ARENA_MAX:-2}
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=${OUT:-$ROOT/bench/results/compare-$STAMP.md}
KEEP_WORKDIR=${KEEP_WORKDIR:-0}

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<EOF

Environment (defaults in brackets):
  WARMUP [30s]  DURATION [30s]      per target, passed to mcmux bench
  ROUNDS [1]                        mcmux bench --rounds: every target again, order reversed
                                    every other round, rounds combined (evens out drift)
  WORKLOADS [50x1 4x16 cpr8]        50 connections x pipeline 1; 4 x 16; connect per request, 8 workers
  TARGETS [plain tls stunnel haproxy nutcracker-stunnel nutcracker-plain mcmux]
  SERVER_CPU [0]  CLIENT_CPU [1]    cores for memcached, and for the bench + proxies
  IDLE_CLIENTS [10000]              idle client connections held against mcmux (0 skips)
  MEM_SETTLE [10]                   seconds before each memory reading
  JAR [proxy/target/mcmux.jar]  SIDECAR_JVM_OPTS  SIDECAR_MALLOC_ARENA_MAX [2]  BENCH_JVM_OPTS  OUT  KEEP_WORKDIR=1
EOF
}

while (($#)); do
  case $1 in
    -o | --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

COMMAND="WARMUP=$WARMUP DURATION=$DURATION"
[[ $ROUNDS == 1 ]] || COMMAND+=" ROUNDS=$ROUNDS"
[[ $WORKLOADS == "50x1 4x16 cpr8" ]] || COMMAND+=" WORKLOADS='$WORKLOADS'"
[[ $TARGETS == "plain tls stunnel haproxy nutcracker-stunnel nutcracker-plain mcmux" ]] || COMMAND+=" TARGETS='$TARGETS'"
[[ $IDLE_CLIENTS == 10000 ]] || COMMAND+=" IDLE_CLIENTS=$IDLE_CLIENTS"
COMMAND+=" bench/compare.sh --out ${OUT#"$ROOT"/}"

log() { printf '%s compare: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------------
need() { # command, install hint
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found. Install it: $2"
}
need memcached "apt-get install -y memcached"
need haproxy "apt-get install -y haproxy"
need nutcracker "apt-get install -y nutcracker"
need java "apt-get install -y openjdk-17-jre-headless"
need openssl "apt-get install -y openssl"
need python3 "apt-get install -y python3"
need taskset "apt-get install -y util-linux"
need curl "apt-get install -y curl"
need timeout "apt-get install -y coreutils"
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
[[ -n $STUNNEL ]] || die "'stunnel4' not found. Install it: apt-get install -y stunnel4"
[[ -f $JAR ]] || die "mcmux jar not found at $JAR. Build it: mvn -B -DskipTests -pl proxy -am package"
[[ $(memcached -h 2>/dev/null || true) == *ssl_chain_cert* ]] \
  || die "this memcached has no TLS support (-Z). Debian's package has it: apt-get install -y memcached"
for cpu in "$SERVER_CPU" "$CLIENT_CPU"; do
  taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu (nproc=$(nproc)); set SERVER_CPU/CLIENT_CPU"
done
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || log "warning: SERVER_CPU and CLIENT_CPU are the same core"

for t in $TARGETS; do
  case $t in
    plain | tls | stunnel | haproxy | nutcracker-stunnel | nutcracker-plain | mcmux) ;;
    *) die "unknown target '$t' in TARGETS" ;;
  esac
done
for w in $WORKLOADS; do
  case $w in
    50x1 | 4x16 | cpr8) ;;
    *) die "unknown workload '$w' in WORKLOADS (50x1, 4x16, cpr8)" ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a whole number from 1, not '$ROUNDS'"
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# 10,000 idle clients need file descriptors in python and in mcmux.
want_fds=$((IDLE_CLIENTS + 1024))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
(($(ulimit -n) >= want_fds)) || die "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $want_fds needed for IDLE_CLIENTS=$IDLE_CLIENTS"

read -r -a SIDECAR_JVM <<<"$SIDECAR_JVM_OPTS"
read -r -a BENCH_JVM <<<"$BENCH_JVM_OPTS"

# ---------------------------------------------------------------------------------------------
# Processes: everything started is recorded and stopped on exit
# ---------------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcmux-compare.XXXXXX")
PIDS=()
LAST_PID=
STATUS=0

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if ((rc != 0)) || [[ $KEEP_WORKDIR == 1 ]]; then
    echo "compare.sh: work directory with logs kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # cpu, log file, command...: runs it pinned, in the background; sets LAST_PID
  local cpu=$1 logfile=$2
  shift 2
  taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_listen() { # name, pid, port, log: waits without connecting (a connection would be counted)
  local name=$1 pid=$2 port=$3 logfile=$4 i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$logfile" >&2; die "$name exited at start (log: $logfile)"; }
    is_listening "$port" && return 0
    sleep 0.1
  done
  tail -20 "$logfile" >&2
  die "$name is not listening on 127.0.0.1:$port after 30s (log: $logfile)"
}

kib_field() { # pid, field (VmRSS, VmHWM): value in KiB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

cpu_ticks() { # pid: user + system clock ticks of the whole process
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  awk '{ print $12 + $13 }' <<<"$stat"
}
TICKS=$(getconf CLK_TCK)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
seconds() { awk -v t="$1" -v hz="$TICKS" 'BEGIN { printf "%.1f", t / hz }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------------------------------------
# Certificates: a CA and a localhost server certificate, made for this run
# ---------------------------------------------------------------------------------------------
log "work directory $WORK"
CA=$WORK/ca.pem
(
  cd "$WORK"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcmux-compare-ca \
    -keyout ca.key -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr
  printf '%s\n' 'subjectAltName = DNS:localhost, IP:127.0.0.1' 'basicConstraints = CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' >server.ext
  openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -extfile server.ext -out server.pem
) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; die "could not make certificates"; }

# ---------------------------------------------------------------------------------------------
# memcached: one plaintext instance for plain and one for nutcracker-plain, and one TLS instance
# per TLS target (so that each target's connections and CPU are counted on its own server), all
# pinned to SERVER_CPU with one worker thread.
# ---------------------------------------------------------------------------------------------
MC_USER=()
((EUID != 0)) || MC_USER=(-u root)
declare -A MC_PORT MC_PID
tls_targets=() plain_targets=(plain)
for t in $TARGETS; do
  case $t in
    plain) ;;
    nutcracker-plain) plain_targets+=("$t") ;;
    *) tls_targets+=("$t") ;;
  esac
done
read -r -a ports <<<"$(free_ports $((${#plain_targets[@]} + ${#tls_targets[@]})))"
i=0
for t in "${plain_targets[@]}"; do
  MC_PORT[$t]=${ports[$i]}
  i=$((i + 1))
  start "$SERVER_CPU" "$WORK/memcached-plain-$t.log" \
    memcached -l 127.0.0.1 -p "${MC_PORT[$t]}" -U 0 -t 1 -c 4096 "${MC_USER[@]}"
  MC_PID[$t]=$LAST_PID
done
for t in "${tls_targets[@]}"; do
  MC_PORT[$t]=${ports[$i]}
  i=$((i + 1))
  start "$SERVER_CPU" "$WORK/memcached-tls-$t.log" \
    memcached -l 127.0.0.1 -p "${MC_PORT[$t]}" -U 0 -t 1 -c 4096 "${MC_USER[@]}" \
    -Z -o "ssl_chain_cert=$WORK/server.pem,ssl_key=$WORK/server.key"
  MC_PID[$t]=$LAST_PID
done
for t in "${plain_targets[@]}"; do
  wait_listen "memcached (plaintext, for $t)" "${MC_PID[$t]}" "${MC_PORT[$t]}" "$WORK/memcached-plain-$t.log"
done
for t in "${tls_targets[@]}"; do
  wait_listen "memcached (TLS, for $t)" "${MC_PID[$t]}" "${MC_PORT[$t]}" "$WORK/memcached-tls-$t.log"
done

# total_connections of a TLS memcached, asked over verified TLS. Each call is one connection.
mc_total_connections() { # port
  local out n
  out=$(printf 'stats\r\nquit\r\n' | timeout 15 openssl s_client -quiet -connect "127.0.0.1:$1" \
    -servername localhost -verify_hostname localhost -CAfile "$CA" -verify_return_error 2>/dev/null) || true
  n=$(awk '$1 == "STAT" && $2 == "total_connections" { print $3 + 0 }' <<<"${out//$'\r'/}")
  [[ -n $n ]] || die "could not read stats over TLS from memcached on port $1"
  echo "$n"
}

# ---------------------------------------------------------------------------------------------
# Proxies (started fresh for every workload, so peak RSS and counts belong to that workload)
# ---------------------------------------------------------------------------------------------
declare -A ADDR PROXY_PIDS
ADDR[plain]=127.0.0.1:${MC_PORT[plain]}
has_target tls && ADDR[tls]=tls://localhost:${MC_PORT[tls]}

start_stunnel() { # name, accept port, memcached port; sets LAST_PID
  local conf=$WORK/$1.conf
  cat >"$conf" <<EOF
foreground = yes
pid =
debug = warning
output = $WORK/$1.log
[memcached]
client = yes
accept = 127.0.0.1:$2
connect = 127.0.0.1:$3
sni = localhost
verifyChain = yes
CAfile = $CA
checkHost = localhost
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
EOF
  start "$CLIENT_CPU" "$WORK/$1.stdout" "$STUNNEL" "$conf"
  wait_listen stunnel "$LAST_PID" "$2" "$WORK/$1.log"
}

start_mcmux() { # name, listen port, admin port, memcached port; sets LAST_PID
  start "$CLIENT_CPU" "$WORK/$1.log" env "MALLOC_ARENA_MAX=$SIDECAR_MALLOC_ARENA_MAX" java "${SIDECAR_JVM[@]}" "-Dio.netty.native.workdir=$WORK" \
    -jar "$JAR" run --listen "127.0.0.1:$2" --admin-listen "127.0.0.1:$3" \
    --upstream "localhost:$4" --ca-file "$CA"
  local pid=$LAST_PID i
  wait_listen mcmux "$pid" "$2" "$WORK/$1.log"
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$3/readyz" 2>/dev/null && return 0
    sleep 0.1
  done
  tail -20 "$WORK/$1.log" >&2
  die "mcmux is not ready (/readyz) after 10s (log: $WORK/$1.log)"
}

start_nutcracker() { # name, listen port, stats port, server port; sets LAST_PID
  local conf=$WORK/$1.yml
  cat >"$conf" <<EOF
memcached:
  listen: 127.0.0.1:$2
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  backlog: 1024
  preconnect: true
  auto_eject_hosts: false
  server_connections: 1
  servers:
   - 127.0.0.1:$4:1
EOF
  nutcracker -t -c "$conf" >"$WORK/$1.check" 2>&1 || { cat "$WORK/$1.check" >&2; die "nutcracker rejects $conf"; }
  start "$CLIENT_CPU" "$WORK/$1.stdout" nutcracker -c "$conf" -v 4 -o "$WORK/$1.log" \
    -s "$3" -a 127.0.0.1 -p "$WORK/$1.pid"
  wait_listen nutcracker "$LAST_PID" "$2" "$WORK/$1.log"
}

start_proxies() { # workload
  local w=$1 p conf
  read -r -a p <<<"$(free_ports 9)"
  PROXY_PIDS=()
  if has_target stunnel; then
    start_stunnel "stunnel-$w" "${p[0]}" "${MC_PORT[stunnel]}"
    PROXY_PIDS[stunnel]=$LAST_PID
    ADDR[stunnel]=127.0.0.1:${p[0]}
  fi
  if has_target haproxy; then
    conf=$WORK/haproxy-$w.cfg
    cat >"$conf" <<EOF
global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend memcached
  bind 127.0.0.1:${p[1]}
  default_backend memcached
backend memcached
  server mc 127.0.0.1:${MC_PORT[haproxy]} ssl verify required ca-file $CA sni str(localhost) verifyhost localhost
EOF
    haproxy -c -q -f "$conf" || die "haproxy rejects $conf"
    start "$CLIENT_CPU" "$WORK/haproxy-$w.log" haproxy -db -f "$conf"
    wait_listen haproxy "$LAST_PID" "${p[1]}" "$WORK/haproxy-$w.log"
    PROXY_PIDS[haproxy]=$LAST_PID
    ADDR[haproxy]=127.0.0.1:${p[1]}
  fi
  if has_target nutcracker-stunnel; then
    start_stunnel "stunnel-for-nutcracker-$w" "${p[2]}" "${MC_PORT[nutcracker-stunnel]}"
    local tunnel=$LAST_PID
    start_nutcracker "nutcracker-$w" "${p[3]}" "${p[4]}" "${p[2]}"
    PROXY_PIDS[nutcracker-stunnel]="$LAST_PID $tunnel"
    ADDR[nutcracker-stunnel]=127.0.0.1:${p[3]}
  fi
  if has_target nutcracker-plain; then
    start_nutcracker "nutcracker-plain-$w" "${p[7]}" "${p[8]}" "${MC_PORT[nutcracker-plain]}"
    PROXY_PIDS[nutcracker-plain]=$LAST_PID
    ADDR[nutcracker-plain]=127.0.0.1:${p[7]}
  fi
  if has_target mcmux; then
    start_mcmux "mcmux-$w" "${p[5]}" "${p[6]}" "${MC_PORT[mcmux]}"
    PROXY_PIDS[mcmux]=$LAST_PID
    ADDR[mcmux]=127.0.0.1:${p[5]}
  fi
}

stop_proxies() {
  local t pid
  for t in "${!PROXY_PIDS[@]}"; do
    for pid in ${PROXY_PIDS[$t]}; do
      stop_pid "$pid"
    done
  done
}

# ---------------------------------------------------------------------------------------------
# Facts about the machine
# ---------------------------------------------------------------------------------------------
first_line() { # command...: its first output line, whatever it exits with
  local out
  out=$("$@" 2>&1 || true)
  printf '%s\n' "${out%%$'\n'*}"
}
version_of() {
  case $1 in
    memcached) first_line memcached -V ;;
    stunnel) { "$STUNNEL" -version 2>&1 || true; } | awk '/^stunnel [0-9]/ { print $1, $2; exit }' ;;
    haproxy) first_line haproxy -v | sed 's/ - https.*//' ;;
    nutcracker) first_line nutcracker -V ;;
    java) java -version 2>&1 | sed -n 2p ;;
    openssl) openssl version ;;
    mcmux) first_line java -jar "$JAR" --version ;;
  esac
}
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV+=" (with uncommitted changes)"
LOAD_START=$(loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')

# ---------------------------------------------------------------------------------------------
# mcmux resident memory: idle, then holding IDLE_CLIENTS idle client connections
# ---------------------------------------------------------------------------------------------
MEM_SECTION=
if has_target mcmux && ((IDLE_CLIENTS > 0)); then
  log "mcmux memory: idle, then $IDLE_CLIENTS idle clients"
  cat >"$WORK/hold.py" <<'EOF'
# Opens N connections to a port, holds them idle, then sends one request on each, then checks
# that all of them are still open. Steps are driven by files, so the caller can measure between.
import os, select, socket, sys, time

port, n, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def step(name, text):
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))

def wait_for(name):
    while not os.path.exists(os.path.join(d, name)):
        time.sleep(0.05)

socks, failures = [], 0
t0 = time.monotonic()
while len(socks) < n:
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    except OSError:
        failures += 1
        if failures > 1000:
            step("connected", "%d 0 %d connect failures\n" % (len(socks), failures))
            sys.exit(1)
        time.sleep(0.01)
step("connected", "%d %.1f %d\n" % (len(socks), time.monotonic() - t0, failures))

wait_for("go-request")
ok = 0
for s in socks:
    s.sendall(b"version\r\n")
for s in socks:
    buf = b""
    try:
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    ok += buf.startswith(b"VERSION ")
step("requested", "%d\n" % ok)

wait_for("go-check")
p = select.poll()
for s in socks:
    p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
closed = len(p.poll(0))
step("checked", "%d\n" % (len(socks) - closed))
EOF
  wait_step() { # file
    local i
    for ((i = 0; i < 1200; i++)); do
      [[ -f $WORK/hold/$1 ]] && return 0
      kill -0 "$HOLD_PID" 2>/dev/null || die "the idle-client helper exited early"
      sleep 0.1
    done
    die "the idle-client helper did not reach step '$1' in 120s"
  }
  mkdir -p "$WORK/hold"
  read -r -a p <<<"$(free_ports 2)"
  start_mcmux mcmux-idle "${p[0]}" "${p[1]}" "${MC_PORT[mcmux]}"
  MCMUX_IDLE_PID=$LAST_PID
  sleep "$MEM_SETTLE"
  RSS_IDLE=$(kib_field "$MCMUX_IDLE_PID" VmRSS)
  start "$CLIENT_CPU" "$WORK/hold.log" python3 "$WORK/hold.py" "${p[0]}" "$IDLE_CLIENTS" "$WORK/hold"
  HOLD_PID=$LAST_PID
  wait_step connected
  read -r held connect_secs connect_failures <"$WORK/hold/connected"
  sleep "$MEM_SETTLE"
  RSS_HELD=$(kib_field "$MCMUX_IDLE_PID" VmRSS)
  touch "$WORK/hold/go-request"
  wait_step requested
  answered=$(<"$WORK/hold/requested")
  sleep "$MEM_SETTLE"
  RSS_USED=$(kib_field "$MCMUX_IDLE_PID" VmRSS)
  touch "$WORK/hold/go-check"
  wait_step checked
  still_open=$(<"$WORK/hold/checked")
  HWM_IDLE=$(kib_field "$MCMUX_IDLE_PID" VmHWM)
  stop_pid "$HOLD_PID"
  stop_pid "$MCMUX_IDLE_PID"
  per_conn=$(awk -v a="$RSS_IDLE" -v b="$RSS_USED" -v n="$held" 'BEGIN { printf "%.1f", n ? (b - a) / n : 0 }')
  MEM_SECTION=$(
    cat <<EOF
## mcmux resident memory

mcmux alone on core $CLIENT_CPU, JVM options \`$SIDECAR_JVM_OPTS\`, MALLOC_ARENA_MAX=$SIDECAR_MALLOC_ARENA_MAX, one upstream node (TLS).

| state | RSS (MiB) |
|:------|----------:|
| idle, $MEM_SETTLE s after /readyz, before any load | $(mib "$RSS_IDLE") |
| $held idle client connections open ($MEM_SETTLE s after the last connect) | $(mib "$RSS_HELD") |
| the same connections after one \`version\` request each, idle again ($MEM_SETTLE s) | $(mib "$RSS_USED") |
| peak (VmHWM) over this phase | $(mib "$HWM_IDLE") |

- $held of $IDLE_CLIENTS connections opened in ${connect_secs} s (${connect_failures} connect retries); $answered answered \`version\`; $still_open still open at the end.
- Growth per client connection: about $per_conn KiB (RSS after the requests minus idle RSS, divided by the connections).
EOF
  )
  log "mcmux RSS idle $(mib "$RSS_IDLE") MiB, $held clients $(mib "$RSS_HELD") MiB, after requests $(mib "$RSS_USED") MiB"
fi

# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------
workload_args() {
  case $1 in
    50x1) echo "--connections 50 --pipeline 1" ;;
    4x16) echo "--connections 4 --pipeline 16" ;;
    cpr8) echo "--connect-per-request --workers 8" ;;
  esac
}
workload_title() {
  case $1 in
    50x1) echo "50×1: 50 persistent connections, pipeline 1" ;;
    4x16) echo "4×16: 4 persistent connections, pipeline 16" ;;
    cpr8) echo "connect per request, 8 workers" ;;
  esac
}

# Rebuilds the bench's table with the columns measured around it.
# Input: bench stdout, and a TSV of target, TLS conns, peak RSS, proxy CPU, memcached CPU, and
# the client core's CPU per request (bench + proxy).
merge_table() { # bench stdout, extra tsv
  awk -F'|' -v extra="$2" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    BEGIN {
      while ((getline line < extra) > 0) { split(line, f, "\t"); x[f[1]] = f[2] "\t" f[3] "\t" f[4] "\t" f[5] "\t" f[6] }
      n = 0
    }
    /^\| / && !done {
      name = trim($2)
      if (name == "target") { inside = 1; next }
      if (!inside) next
      row = name
      for (i = 3; i <= 10; i++) row = row "\t" trim($i)
      e = (name in x) ? x[name] : "-\t-\t-\t-\t-"
      rows[++n] = row "\t" e
      next
    }
    inside && !/^\|/ { done = 1 }
    END {
      hdr = "target\tops/s\t% of plain\tp50 (ms)\tp99 (ms)\tp99.9 (ms)\tmax (ms)\terrors\tmismatches\tTLS conns at memcached\tpeak RSS (MiB)\tproxy CPU (s)\tmemcached CPU (s)\tCPU µs per request, bench + proxy"
      rows[0] = hdr
      for (r = 0; r <= n; r++) {
        c = split(rows[r], cell, "\t")
        for (i = 1; i <= c; i++) if (length(cell[i]) > w[i]) w[i] = length(cell[i])
      }
      for (r = 0; r <= n; r++) {
        c = split(rows[r], cell, "\t")
        line = "|"
        for (i = 1; i <= c; i++) {
          pad = sprintf("%" (w[i] - length(cell[i])) "s", "")
          line = line " " (i == 1 ? cell[i] pad : pad cell[i]) " |"
        }
        print line
        if (r == 0) {
          line = "|"
          for (i = 1; i <= c; i++) {
            dash = sprintf("%" (w[i] + 1) "s", ""); gsub(/ /, "-", dash)
            line = line (i == 1 ? ":" dash : dash ":") "|"
          }
          print line
        }
      }
    }' "$1"
}

FENCE='```'
SECTIONS=()
BENCH_RCS=()
for w in $WORKLOADS; do
  log "workload $w: starting proxies"
  read -r -a wargs <<<"$(workload_args "$w")"
  declare -A BEFORE=() MC_TICKS=()
  for t in "${tls_targets[@]}"; do
    BEFORE[$t]=$(mc_total_connections "${MC_PORT[$t]}")
  done
  for t in $TARGETS; do
    MC_TICKS[$t]=$(cpu_ticks "${MC_PID[$t]}")
  done
  start_proxies "$w"
  declare -A PROXY_TICKS=()
  for t in "${!PROXY_PIDS[@]}"; do
    PROXY_TICKS[$t]=0
    for pid in ${PROXY_PIDS[$t]}; do
      PROXY_TICKS[$t]=$((PROXY_TICKS[$t] - $(cpu_ticks "$pid")))
    done
  done

  cmd=(taskset -c "$CLIENT_CPU" java "${BENCH_JVM[@]}" "-Dio.netty.native.workdir=$WORK" -jar "$JAR" bench)
  for t in $TARGETS; do
    cmd+=(--target "$t=${ADDR[$t]}")
    [[ -z ${PROXY_PIDS[$t]:-} ]] || cmd+=(--proxy-pid "$t=${PROXY_PIDS[$t]// /,}")
  done
  ! has_target tls || cmd+=(--ca-file "$CA")
  cmd+=(--value-size 100 --get-ratio 0.9 "${wargs[@]}" --warmup "$WARMUP" --duration "$DURATION" --rounds "$ROUNDS")
  load_before=$(loadavg)
  log "workload $w: bench (${#cmd[@]} args), load average $load_before"
  rc=0
  "${cmd[@]}" >"$WORK/bench-$w.out" 2>"$WORK/bench-$w.err" || rc=$?
  load_after=$(loadavg)
  BENCH_RCS+=("$w=$rc")
  log "workload $w: bench exit code $rc, load average $load_after"
  grep -q '^| target' "$WORK/bench-$w.out" || { cat "$WORK/bench-$w.out" "$WORK/bench-$w.err" >&2; die "bench printed no table for $w (exit $rc)"; }

  : >"$WORK/extra-$w.tsv"
  for t in $TARGETS; do
    conns=-
    if [[ " ${tls_targets[*]} " == *" $t "* ]]; then
      conns=$(($(mc_total_connections "${MC_PORT[$t]}") - BEFORE[$t] - 1))
    fi
    rss=- pcpu=-
    if [[ -n ${PROXY_PIDS[$t]:-} ]]; then
      total=0 parts=() dead=0
      for pid in ${PROXY_PIDS[$t]}; do
        if ! kill -0 "$pid" 2>/dev/null; then
          log "workload $w: a $t process (pid $pid) died during the run"
          dead=1
          continue
        fi
        kb=$(kib_field "$pid" VmHWM)
        total=$((total + kb))
        parts+=("$(mib "$kb")")
        PROXY_TICKS[$t]=$((PROXY_TICKS[$t] + $(cpu_ticks "$pid")))
      done
      if ((dead)); then
        rss="died" pcpu="died"
      else
        rss=$(mib "$total")
        ((${#parts[@]} < 2)) || rss+=" (${parts[0]} + ${parts[1]})"
        pcpu=$(seconds "${PROXY_TICKS[$t]}")
      fi
    fi
    mcpu=$(seconds $(($(cpu_ticks "${MC_PID[$t]}") - MC_TICKS[$t])))
    # The bench's note on the target: "CPU per request: bench X us (S of it system)" and then
    # ", proxy Y us (S of it system; Z cores)", or ", proxy unknown (...)" when it could not be read.
    per_req=$(sed -n \
      -e "s/^- $t (.*; CPU per request: bench \([0-9.]*\) us[^,;]*, proxy \([0-9.]*\) us.*/\1 + \2/p" \
      -e "s/^- $t (.*; CPU per request: bench \([0-9.]*\) us[^,;]*, proxy unknown.*/\1 + ?/p" \
      -e "s/^- $t (.*; CPU per request: bench \([0-9.]*\) us[^,;]*\(;.*\)\{0,1\}$/\1/p" \
      "$WORK/bench-$w.out" | head -1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$conns" "$rss" "$pcpu" "$mcpu" "${per_req:--}" >>"$WORK/extra-$w.tsv"
  done
  stop_proxies

  printable=$(printf '%q ' "${cmd[@]}")
  printable=${printable% }
  printable=${printable//$WORK/\$WORK}
  printable=${printable//$ROOT\//}
  # The report names no path of the machine it ran on.
  stderr_lines=$(grep -v '^\s*$' "$WORK/bench-$w.err" | sed -e "s|$WORK|\$WORK|g" -e "s|$ROOT/||g" || true)
  SECTIONS+=("$(
    cat <<EOF
## $(workload_title "$w")

$(merge_table "$WORK/bench-$w.out" "$WORK/extra-$w.tsv")

- load average (1, 5, 15 min) before: $load_before; after: $load_after. Bench exit code: $rc.
- TLS conns at memcached: connections that memcached accepted during this workload (its \`total_connections\`, before the proxies started and after the bench, minus the stats query itself).
- peak RSS: VmHWM of the proxy process(es), started fresh for this workload, read at the end. proxy CPU / memcached CPU: user + system CPU seconds used during this bench run (preload, warmup and measurement) by the proxy and by the memcached that served the target.

<details><summary>mcmux bench output and command</summary>

\`\`\`
$(sed 's/\r$//' "$WORK/bench-$w.out")
\`\`\`
$(if [[ -n $stderr_lines ]]; then printf '\nstderr:\n\n%s\n%s\n%s\n' "$FENCE" "$stderr_lines" "$FENCE"; fi)

\`\`\`sh
$printable
\`\`\`
</details>
EOF
  )")
  unset BEFORE MC_TICKS PROXY_TICKS
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
{
  cat <<EOF
# mcmux compared with stunnel, haproxy and nutcracker in front of TLS memcached

Run $STARTED from mcmux $GIT_REV.

\`\`\`sh
$COMMAND
\`\`\`

## Machine

- $(nproc) CPUs available, CPU model: $CPU_MODEL; kernel $(uname -r); $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM
- load average (1, 5, 15 min) at start: $LOAD_START; at end: $(loadavg). Other jobs share this machine, so compare ratios within one table, not absolute numbers across runs.
- $(version_of memcached); $(version_of stunnel); $(version_of haproxy); $(version_of nutcracker); $(version_of java); $(version_of openssl); $(version_of mcmux)

## Setup

- memcached on core $SERVER_CPU (\`taskset -c $SERVER_CPU\`, \`-t 1\`): one plaintext instance (\`plain\`), and one TLS instance (\`-Z\`, RSA 2048 certificate for localhost from a CA made for this run) for each other target, so that each target's TLS connections are counted on its own server. Only one target is loaded at a time.
- On core $CLIENT_CPU, as an app and its sidecar would: the \`mcmux bench\` generator and every proxy.
- Targets: \`plain\` memcached without TLS (the limit); \`tls\` the generator does TLS itself (BoringSSL, verified, no session resumption); \`stunnel\` stunnel in client mode (\`verifyChain\`, \`checkHost = localhost\`, SNI, TCP_NODELAY); \`haproxy\` TCP mode, \`ssl verify required ... sni str(localhost) verifyhost localhost\`, 1 thread; \`nutcracker-stunnel\` twemproxy (ketama, 1 server connection, timeout 2 s) to its own stunnel; \`nutcracker-plain\` the same twemproxy straight to a plaintext memcached, no TLS anywhere: a C multiplexer that pays only for the client-side connections, so it shows what any proxy sharing the generator's core can reach on this machine; \`mcmux\` with \`$SIDECAR_JVM_OPTS\` and default settings (1 event loop, 1 TLS connection per node). stunnel and haproxy keep their TLS defaults: OpenSSL's cipher order (AES-256-GCM first, where mcmux and the generator prefer AES-128-GCM) and session resumption on reconnect, which memcached allows (it issues TLS 1.3 session tickets).
- Every workload: 100-byte values, 90 % gets, 10,000 keys, warmup $WARMUP and $DURATION measured per target$( ((ROUNDS == 1)) || echo " and round, $ROUNDS rounds with the target order reversed every other round and the rounds combined"), all targets in one \`mcmux bench\` run; proxies restarted for every workload.

EOF
  if [[ -n $MEM_SECTION ]]; then
    printf '%s\n\n' "$MEM_SECTION"
  fi
  for s in "${SECTIONS[@]}"; do
    printf '%s\n\n' "$s"
  done
} >"$OUT"
log "report written to $OUT"

for r in "${BENCH_RCS[@]}"; do
  rc=${r#*=}
  if ((rc == 3)); then
    STATUS=3
  elif ((rc != 0 && STATUS == 0)); then
    STATUS=$rc
  fi
done
((STATUS == 0)) || log "a bench run exited non-zero (${BENCH_RCS[*]}); see the report"
exit "$STATUS"
