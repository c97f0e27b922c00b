#!/usr/bin/env bash
# bench/rss.sh: mcmux's resident memory, idle and holding many idle client connections.
#
#   bench/rss.sh                                   the default JVM options (MCMUX_JVM_OPTS below)
#   bench/rss.sh "-Xmx64m" "-Xmx64m -Xss256k"      one row per set of JVM options, same memcached
#   bench/rss.sh "MALLOC_ARENA_MAX=2 -Xmx64m"      leading NAME=VALUE words go to the environment
#   IDLE_CLIENTS=2000 bench/rss.sh                 fewer clients (a short open-files limit)
#   NMT=1 bench/rss.sh                             also keep the JVM's native memory summaries
#
# Starts one TLS memcached (certificates made for this run), then for each set of JVM options a
# fresh mcmux in front of it, and reads VmRSS from /proc SETTLE seconds after each step: idle after
# /readyz, holding IDLE_CLIENTS idle clients, after one `version` request on each; and the peak
# (VmHWM). Prints a markdown table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
SETTLE=${SETTLE:-10}
JAR=${JAR:-$ROOT/proxy/target/mcmux.jar}
NMT=${NMT:-0}
KEEP_WORKDIR=${KEEP_WORKDIR:-0}
# What deploy/systemd/mcmux.service sets (the image and the chart differ only in sizing the heap
# from the memory limit); docs/deployment.md explains each option.
MCMUX_JVM_OPTS=${MCMUX_JVM_OPTS:-MALLOC_ARENA_MAX=2 -XX:+UseSerialGC -Xms16m -Xmx128m -Xmn4m -Xss256k -XX:MaxDirectMemorySize=64m -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData}

log() { printf '%s rss: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'rss.sh: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
VARIANTS=("$@")
((${#VARIANTS[@]})) || VARIANTS=("$MCMUX_JVM_OPTS")

for c in memcached java openssl python3 curl; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' not found"
done
[[ -f $JAR ]] || die "mcmux jar not found at $JAR. Build it: mvn -B -q -DskipTests package"
want_fds=$((IDLE_CLIENTS + 1024))
if (($(ulimit -n) < want_fds)); then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
(($(ulimit -n) >= want_fds)) || die "ulimit -n is $(ulimit -n); $want_fds needed for IDLE_CLIENTS=$IDLE_CLIENTS"

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcmux-rss.XXXXXX")
PIDS=()

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if ((rc != 0)) || [[ $KEEP_WORKDIR == 1 || $NMT == 1 ]]; then
    echo "rss.sh: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


wait_listen() { # pid, port, log
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$1" 2>/dev/null || { tail -20 "$3" >&2; die "process exited at start (log: $3)"; }
    is_listening "$2" && return 0
    sleep 0.1
  done
  die "nothing listens on $2 after 30 s (log: $3)"
}

make_certs "$WORK" || die "could not make certificates"

MC_USER=()
((EUID != 0)) || MC_USER=(-u root)
read -r MC_PORT <<<"$(free_ports 1)"
memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 1 "${MC_USER[@]}" \
  -Z -o "ssl_chain_cert=$WORK/server.pem,ssl_key=$WORK/server.key" >"$WORK/memcached.log" 2>&1 &
MC_PID=$!
PIDS+=("$MC_PID")
wait_listen "$MC_PID" "$MC_PORT" "$WORK/memcached.log"

# Opens N connections, holds them idle, sends one `version` on each, then counts those still
# open. Steps are files, so the caller measures in between.
cat >"$WORK/hold.py" <<'EOF'
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
while len(socks) < n:
    try:
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    except OSError:
        failures += 1
        if failures > 1000:
            break
        time.sleep(0.01)
step("connected", "%d\n" % len(socks))
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
step("checked", "%d\n" % (len(socks) - len(p.poll(0))))
EOF

wait_step() { # dir, file, helper pid
  local i
  for ((i = 0; i < 2400; i++)); do
    [[ -f $1/$2 ]] && return 0
    kill -0 "$3" 2>/dev/null || die "the idle-client helper exited early"
    sleep 0.1
  done
  die "the idle-client helper did not reach step '$2' in 240 s"
}

ROWS=()
n=0
for opts in "${VARIANTS[@]}"; do
  n=$((n + 1))
  read -r -a words <<<"$opts"
  envs=() jvm=()
  for w in "${words[@]}"; do
    if ((${#jvm[@]} == 0)) && [[ $w =~ ^[A-Z_][A-Z0-9_]*= ]]; then
      envs+=("$w")
    else
      jvm+=("$w")
    fi
  done
  ((NMT == 0)) || jvm+=(-XX:NativeMemoryTracking=summary)
  read -r -a p <<<"$(free_ports 2)"
  mlog=$WORK/mcmux-$n.log
  env "${envs[@]}" java "${jvm[@]}" "-Dio.netty.native.workdir=$WORK" -jar "$JAR" run \
    --listen "127.0.0.1:${p[0]}" --admin-listen "127.0.0.1:${p[1]}" \
    --upstream "localhost:$MC_PORT" --ca-file "$WORK/ca.pem" >"$mlog" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_listen "$pid" "${p[0]}" "$mlog"
  ready=0
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:${p[1]}/readyz" 2>/dev/null && { ready=1; break; }
    sleep 0.1
  done
  ((ready)) || { tail -20 "$mlog" >&2; die "mcmux not ready after 10 s (log: $mlog)"; }
  sleep "$SETTLE"
  idle=$(kib_field "$pid" VmRSS)
  ((NMT == 0)) || jcmd "$pid" VM.native_memory summary >"$WORK/nmt-$n-idle.txt" 2>&1 || true
  hold=$WORK/hold-$n
  mkdir -p "$hold"
  python3 "$WORK/hold.py" "${p[0]}" "$IDLE_CLIENTS" "$hold" >"$WORK/hold-$n.log" 2>&1 &
  hpid=$!
  PIDS+=("$hpid")
  wait_step "$hold" connected "$hpid"
  held=$(<"$hold/connected")
  sleep "$SETTLE"
  holding=$(kib_field "$pid" VmRSS)
  touch "$hold/go-request"
  wait_step "$hold" requested "$hpid"
  answered=$(<"$hold/requested")
  sleep "$SETTLE"
  used=$(kib_field "$pid" VmRSS)
  ((NMT == 0)) || jcmd "$pid" VM.native_memory summary >"$WORK/nmt-$n-held.txt" 2>&1 || true
  touch "$hold/go-check"
  wait_step "$hold" checked "$hpid"
  open=$(<"$hold/checked")
  peak=$(kib_field "$pid" VmHWM)
  stop_pid "$hpid"
  stop_pid "$pid"
  ROWS+=("| \`$opts\` | $(mib "$idle") | $(mib "$holding") | $(mib "$used") | $(mib "$peak") | $held / $answered / $open |")
  log "$opts: idle $(mib "$idle") MiB, $held clients $(mib "$holding") MiB, after requests $(mib "$used") MiB, peak $(mib "$peak") MiB"
done

echo "mcmux RSS (MiB), $IDLE_CLIENTS idle clients, ${SETTLE} s settle, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
echo
echo "| JVM options | idle | clients held | after 1 request each | peak (VmHWM) | held / answered / open |"
echo "|:--|--:|--:|--:|--:|--:|"
printf '%s\n' "${ROWS[@]}"
