#!/usr/bin/env bash
# bench/soak.sh: a long verifying load on mcmux while memcached restarts and TLS files reload.
#
#   bench/soak.sh                                        10 minutes, restart 90s, reload 60s
#   DURATION=90s RESTART_EVERY=30s RELOAD_EVERY=20s bench/soak.sh      quick mode
#   bench/soak.sh --out /tmp/soak.md
#
# Starts a TLS memcached (certificates made for the run) and mcmux in front of it, runs
# `mcmux bench` against mcmux for DURATION, and meanwhile restarts memcached on the same port,
# re-issues the TLS files and sends SIGHUP to mcmux, and samples mcmux's RSS and metrics.
# Writes a markdown report; exits non-zero on mismatches, Netty leak reports or growing RSS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DURATION=${DURATION:-10m}
RESTART_EVERY=${RESTART_EVERY:-90s}
RELOAD_EVERY=${RELOAD_EVERY:-60s}
SAMPLE_EVERY=${SAMPLE_EVERY:-10s}
WARMUP=${WARMUP:-5s}
CONNECTIONS=${CONNECTIONS:-20}
GET_RATIO=${GET_RATIO:-0.8}
MAX_CONNECTION_AGE=${MAX_CONNECTION_AGE:-60s}
JAR=${JAR:-$ROOT/proxy/target/mcmux.jar}
SIDECAR_JVM_OPTS=${SIDECAR_JVM_OPTS:--XX:+UseSerialGC -Xms16m -Xmx128m -Xmn4m -XX:TrimNativeHeapInterval=5000 -Dio.netty.leakDetection.level=paranoid}
BENCH_JVM_OPTS=${BENCH_JVM_OPTS:--XX:-UsePerfData}
STAMP=$(date -u +%Y-%m-%d-%H%M%S)
OUT=${OUT:-$ROOT/bench/results/soak-$STAMP.md}
KEEP_WORKDIR=${KEEP_WORKDIR:-0}

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<EOF

Environment (defaults in brackets):
  DURATION [10m]  RESTART_EVERY [90s]  RELOAD_EVERY [60s]  SAMPLE_EVERY [10s]   (s, m or h)
  WARMUP [5s]  CONNECTIONS [20]  GET_RATIO [0.8]       passed to mcmux bench
  MAX_CONNECTION_AGE [60s]                             MCMUX_UPSTREAM_MAX_CONNECTION_AGE
  JAR  SIDECAR_JVM_OPTS  BENCH_JVM_OPTS  OUT  KEEP_WORKDIR=1
EOF
}

while (($#)); do
  case $1 in
    -o | --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '%s soak: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'soak.sh: %s\n' "$*" >&2; exit 1; }

secs() { # 90, 90s, 10m, 1h -> seconds
  local v=$1
  case $v in
    *[0-9]s) echo "${v%s}" ;;
    *[0-9]m) echo $((${v%m} * 60)) ;;
    *[0-9]h) echo $((${v%h} * 3600)) ;;
    *[0-9]) echo "$v" ;;
    *) die "bad duration '$v' (use e.g. 90s, 10m)" ;;
  esac
}
DURATION_S=$(secs "$DURATION")
RESTART_S=$(secs "$RESTART_EVERY")
RELOAD_S=$(secs "$RELOAD_EVERY")
SAMPLE_S=$(secs "$SAMPLE_EVERY")
((DURATION_S > 0 && RESTART_S > 0 && RELOAD_S > 0 && SAMPLE_S > 0)) || die "durations must be > 0"

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found. Install it: $2"; }
need memcached "apt-get install -y memcached"
need java "apt-get install -y openjdk-17-jre-headless"
need openssl "apt-get install -y openssl"
need python3 "apt-get install -y python3"
need curl "apt-get install -y curl"
[[ -f $JAR ]] || die "mcmux jar not found at $JAR. Build it: mvn -B -q package -DskipTests"
[[ $(memcached -h 2>/dev/null || true) == *ssl_chain_cert* ]] \
  || die "this memcached has no TLS support (-Z). Debian's package has it: apt-get install -y memcached"

read -r -a SIDECAR_JVM <<<"$SIDECAR_JVM_OPTS"
read -r -a BENCH_JVM <<<"$BENCH_JVM_OPTS"

# ---------------------------------------------------------------------------------------------
# Processes: everything started is stopped on exit (memcached's pid changes on every restart,
# so it lives in a file)
# ---------------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcmux-soak.XXXXXX")
PIDS=()
MC_PIDFILE=$WORK/memcached.pid

# shellcheck disable=SC2317 # used by the EXIT trap
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
  touch "$WORK/stop" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ -s $MC_PIDFILE ]]; then
    stop_pid "$(<"$MC_PIDFILE")"
  fi
  if ((rc != 0)) || [[ $KEEP_WORKDIR == 1 ]]; then
    echo "soak.sh: work directory with logs kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_listen() { # name, pid, port, log
  local name=$1 pid=$2 port=$3 logfile=$4 i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$logfile" >&2; die "$name exited at start (log: $logfile)"; }
    is_listening "$port" && return 0
    sleep 0.1
  done
  tail -20 "$logfile" >&2
  die "$name is not listening on 127.0.0.1:$port after 30s (log: $logfile)"
}

now() { date +%s; }
T0=$(now)
elapsed() { echo $(($(now) - T0)); }

# Sleeps until T0 + the given number of seconds, returning early (status 1) once the stop file
# exists. The loops schedule on absolute times, so their periods do not drift.
nap_until() { # seconds since T0
  while (($(date +%s) < T0 + $1)); do
    [[ ! -e $WORK/stop ]] || return 1
    sleep 0.2
  done
  [[ ! -e $WORK/stop ]]
}

# ---------------------------------------------------------------------------------------------
# Certificates: a CA and a localhost server certificate; re-issued from the same CA on reload
# ---------------------------------------------------------------------------------------------
CA=$WORK/ca.pem
issue_server_cert() { # writes server.pem/server.key (replaced atomically)
  (
    cd "$WORK"
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key.new -out server.csr
    openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -extfile server.ext -out server.pem.new
    mv -f server.key.new server.key
    mv -f server.pem.new server.pem
  ) >>"$WORK/openssl.log" 2>&1
}
log "work directory $WORK"
(
  cd "$WORK"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcmux-soak-ca \
    -keyout ca.key -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  printf '%s\n' 'subjectAltName = DNS:localhost, IP:127.0.0.1' 'basicConstraints = CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' >server.ext
) >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; die "could not make certificates"; }
issue_server_cert || { cat "$WORK/openssl.log" >&2; die "could not make the server certificate"; }

read -r MC_PORT PORT ADMIN_PORT <<<"$(free_ports 3)"

# ---------------------------------------------------------------------------------------------
# memcached (TLS), restarted on the same port by the restarter
# ---------------------------------------------------------------------------------------------
MC_USER=()
((EUID != 0)) || MC_USER=(-u root)
MC_STARTS=0
start_memcached() {
  MC_STARTS=$((MC_STARTS + 1))
  local logfile=$WORK/memcached-$MC_STARTS.log
  memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 2 -c 4096 "${MC_USER[@]}" \
    -Z -o "ssl_chain_cert=$WORK/server.pem,ssl_key=$WORK/server.key" >"$logfile" 2>&1 &
  echo $! >"$MC_PIDFILE"
  wait_listen memcached "$!" "$MC_PORT" "$logfile"
}
start_memcached

# ---------------------------------------------------------------------------------------------
# mcmux
# ---------------------------------------------------------------------------------------------
MCMUX_LOG=$WORK/mcmux.log
MCMUX_UPSTREAM_MAX_CONNECTION_AGE=$MAX_CONNECTION_AGE MALLOC_ARENA_MAX=2 \
  java "${SIDECAR_JVM[@]}" "-Dio.netty.native.workdir=$WORK" \
  -jar "$JAR" run --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --upstream "localhost:$MC_PORT" --ca-file "$CA" >"$MCMUX_LOG" 2>&1 &
MCMUX_PID=$!
PIDS+=("$MCMUX_PID")
wait_listen mcmux "$MCMUX_PID" "$PORT" "$MCMUX_LOG"
ready=0
for ((i = 0; i < 100; i++)); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
((ready)) || { tail -20 "$MCMUX_LOG" >&2; die "mcmux is not ready (/readyz) after 10s"; }
log "memcached on $MC_PORT (TLS), mcmux on $PORT (admin $ADMIN_PORT), pid $MCMUX_PID"

# ---------------------------------------------------------------------------------------------
# Background: restarts, reloads, samples. Each appends "elapsed<TAB>..." lines to a TSV.
# ---------------------------------------------------------------------------------------------
restarter() {
  local pid t next=$((LOAD_START + RESTART_S))
  while nap_until "$next"; do
    next=$((next + RESTART_S))
    pid=$(<"$MC_PIDFILE")
    t=$(elapsed)
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    start_memcached
    printf '%s\t%s\t%s\t%s\n' "$t" "$(date -u +%H:%M:%S)" "$pid" "$(<"$MC_PIDFILE")" >>"$WORK/restarts.tsv"
  done
}

reloader() {
  local t next=$((LOAD_START + RELOAD_S))
  while nap_until "$next"; do
    next=$((next + RELOAD_S))
    t=$(elapsed)
    # A new server certificate from the same CA (memcached picks it up on its next start), and
    # the CA file rewritten (same content, new file) so that mcmux re-reads it.
    issue_server_cert || log "warning: re-issuing the server certificate failed (see $WORK/openssl.log)"
    cp "$CA" "$CA.new"
    mv -f "$CA.new" "$CA"
    kill -HUP "$MCMUX_PID"
    printf '%s\t%s\n' "$t" "$(date -u +%H:%M:%S)" >>"$WORK/reloads.tsv"
  done
}

# elapsed, RSS KiB, requests by result (result=n,...), reloads_total, tls_handshakes_total
sample() {
  local rss metrics
  rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$MCMUX_PID/status" 2>/dev/null || echo 0)
  metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null || true)
  awk -v t="$(elapsed)" -v rss="${rss:-0}" '
    function lbl(s, name,   r) {
      r = s
      if (match(r, name "=\"[^\"]*\"")) { r = substr(r, RSTART + length(name) + 2, RLENGTH - length(name) - 3); return r }
      return "-"
    }
    /^#/ { next }
    $1 ~ /^mcmux_requests_total([{ ]|$)/ { req[lbl($1, "result")] += $NF; seen = 1 }
    $1 ~ /^mcmux_reloads_total([{ ]|$)/ { rel[lbl($1, "result")] += $NF }
    $1 ~ /^mcmux_tls_handshakes_total([{ ]|$)/ { hs += $NF }
    END {
      n = 0
      for (r in req) k[++n] = r
      for (i = 2; i <= n; i++) for (j = i; j > 1 && k[j - 1] > k[j]; j--) { x = k[j]; k[j] = k[j - 1]; k[j - 1] = x }
      s = ""
      for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") k[i] "=" sprintf("%.0f", req[k[i]])
      if (!seen) s = "-"
      rs = ""
      for (r in rel) rs = rs (rs == "" ? "" : " ") r "=" sprintf("%.0f", rel[r])
      if (rs == "") rs = "-"
      printf "%s\t%s\t%s\t%s\t%.0f\n", t, rss, s, rs, hs
    }' <<<"$metrics"
}

sampler() {
  local next=$((LOAD_START + SAMPLE_S))
  sample >>"$WORK/samples.tsv" || true
  while nap_until "$next"; do
    next=$((next + SAMPLE_S))
    sample >>"$WORK/samples.tsv" || true
  done
}

: >"$WORK/restarts.tsv"
: >"$WORK/reloads.tsv"
: >"$WORK/samples.tsv"
curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" >"$WORK/metrics-start.txt" 2>/dev/null || true
LOAD_START=$(elapsed)
sampler &
PIDS+=("$!")
restarter &
PIDS+=("$!")
reloader &
PIDS+=("$!")

# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------
BENCH_CMD=(java "${BENCH_JVM[@]}" "-Dio.netty.native.workdir=$WORK" -jar "$JAR" bench
  --target "mcmux=127.0.0.1:$PORT" --connections "$CONNECTIONS" --get-ratio "$GET_RATIO"
  --warmup "$WARMUP" --duration "${DURATION_S}s")
log "bench for ${DURATION_S}s (restart every ${RESTART_S}s, reload every ${RELOAD_S}s)"
# In the background so that INT/TERM reach the trap at once (bash defers traps while a
# foreground command runs); the cleanup stops it.
"${BENCH_CMD[@]}" >"$WORK/bench.out" 2>"$WORK/bench.err" &
BENCH_PID=$!
PIDS+=("$BENCH_PID")
BENCH_RC=0
wait "$BENCH_PID" || BENCH_RC=$?
log "bench exit code $BENCH_RC"

# Stop the background loops (they finish their current step), take a last sample.
touch "$WORK/stop"
for pid in "${PIDS[@]:1:3}"; do
  wait "$pid" 2>/dev/null || true
done
MCMUX_ALIVE=yes
kill -0 "$MCMUX_PID" 2>/dev/null || MCMUX_ALIVE=no
[[ $MCMUX_ALIVE == no ]] || sample >>"$WORK/samples.tsv"
curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" >"$WORK/metrics-end.txt" 2>/dev/null || true
END_ELAPSED=$(elapsed)

# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
table_col() { # column header -> value summed over the table's data rows ("" when absent)
  awk -F'|' -v want="$1" '
    /^\| *target/ { for (i = 2; i < NF; i++) { h = $i; gsub(/^ +| +$/, "", h); if (h == want) c = i }; next }
    /^\|[:-]/ { next }
    /^\|/ && c { v = $c; gsub(/[ ,]/, "", v); s += v; found = 1 }
    END { if (found) print s }' "$WORK/bench.out"
}
ERRORS=$(table_col errors)
MISMATCHES=$(table_col mismatches)
HAS_TABLE=yes
if [[ -z $MISMATCHES ]]; then
  HAS_TABLE=no
  ERRORS=${ERRORS:-?}
  # No table: a mismatch still shows in the exit code.
  if ((BENCH_RC == 3)); then MISMATCHES="≥1"; else MISMATCHES="?"; fi
fi
RESTARTS=$(wc -l <"$WORK/restarts.tsv")
RELOADS=$(wc -l <"$WORK/reloads.tsv")
LEAKS=$(grep -c 'LEAK:' "$MCMUX_LOG" || true)

read -r RSS_FIRST RSS_LAST RSS_MAX MID_MAX LAST_MAX PLATEAU N_SAMPLES < <(awk -F'\t' '
  $2 > 0 { r[n++] = $2 }
  END {
    if (n == 0) { print "0 0 0 0 0 no 0"; exit }
    max = 0; for (i = 0; i < n; i++) if (r[i] > max) max = r[i]
    a = int(n / 3); b = int(2 * n / 3)
    mid = 0; for (i = a; i < b; i++) if (r[i] > mid) mid = r[i]
    last = 0; for (i = b; i < n; i++) if (r[i] > last) last = r[i]
    p = (n >= 3 && mid > 0 && last <= mid * 1.1) ? "yes" : "no"
    print r[0], r[n - 1], max, mid, last, p, n
  }' "$WORK/samples.tsv")
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

FINAL_METRICS=$(tail -1 "$WORK/samples.tsv" 2>/dev/null || true)
RELOADS_METRIC=$(cut -f4 <<<"$FINAL_METRICS")
HANDSHAKES_METRIC=$(cut -f5 <<<"$FINAL_METRICS")
REQUESTS_METRIC=$(cut -f3 <<<"$FINAL_METRICS")

STATUS=0
REASONS=()
if [[ $MISMATCHES != 0 ]]; then STATUS=1; REASONS+=("mismatches: $MISMATCHES"); fi
if ((LEAKS > 0)); then STATUS=1; REASONS+=("Netty leak reports: $LEAKS"); fi
if [[ $PLATEAU != yes ]]; then STATUS=1; REASONS+=("RSS has no plateau"); fi
if [[ $MCMUX_ALIVE != yes ]]; then STATUS=1; REASONS+=("mcmux exited during the run"); fi
if [[ $HAS_TABLE != yes ]]; then STATUS=1; REASONS+=("bench printed no table (exit $BENCH_RC)"); fi
if ((BENCH_RC != 0 && BENCH_RC != 3)); then STATUS=1; REASONS+=("bench exit code $BENCH_RC"); fi
VERDICT=pass
((STATUS == 0)) || VERDICT="FAIL ($(IFS=';'; echo "${REASONS[*]}"))"

COMMAND="DURATION=$DURATION RESTART_EVERY=$RESTART_EVERY RELOAD_EVERY=$RELOAD_EVERY bench/soak.sh"

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
{
  echo "# mcmux soak, $(date -u -d "@$T0" '+%Y-%m-%d %H:%M') UTC"
  echo
  echo "\`$COMMAND\`: mcmux bench for ${DURATION_S}s (warmup $WARMUP, $CONNECTIONS connections," \
    "get ratio $GET_RATIO) while memcached (TLS) restarts every ${RESTART_S}s and the TLS files" \
    "are re-issued with SIGHUP to mcmux every ${RELOAD_S}s;" \
    "MCMUX_UPSTREAM_MAX_CONNECTION_AGE=$MAX_CONNECTION_AGE; mcmux JVM: \`$SIDECAR_JVM_OPTS\`."
  echo "Machine: $(nproc) CPUs, $(uname -sr), $(java -version 2>&1 | head -1), $(memcached -V)."
  echo
  echo "**Verdict: $VERDICT**"
  echo
  echo "| figure | value |"
  echo "|:--|--:|"
  echo "| errors (bench; expected around restarts) | $ERRORS |"
  echo "| mismatches (must be 0) | $MISMATCHES |"
  echo "| bench exit code | $BENCH_RC |"
  echo "| memcached restarts | $RESTARTS |"
  echo "| reloads (SIGHUP sent) | $RELOADS |"
  echo "| mcmux_reloads_total by result | ${RELOADS_METRIC:--} |"
  echo "| mcmux_tls_handshakes_total | ${HANDSHAKES_METRIC:--} |"
  echo "| mcmux_requests_total by result | ${REQUESTS_METRIC:--} |"
  echo "| RSS first / last / max (MiB) | $(mib "$RSS_FIRST") / $(mib "$RSS_LAST") / $(mib "$RSS_MAX") |"
  echo "| RSS max, middle third / last third (MiB) | $(mib "$MID_MAX") / $(mib "$LAST_MAX") |"
  echo "| plateau (last-third max ≤ 1.1 × middle-third max) | $PLATEAU |"
  echo "| Netty \`LEAK:\` reports in mcmux's log (must be 0) | $LEAKS |"
  echo "| mcmux alive at the end | $MCMUX_ALIVE |"
  echo
  echo "## Bench"
  echo
  if [[ $HAS_TABLE == yes ]]; then
    grep '^|' "$WORK/bench.out"
  else
    echo '```'
    tail -30 "$WORK/bench.out" "$WORK/bench.err"
    echo '```'
  fi
  echo
  echo "## Restarts and reloads"
  echo
  echo "| # | memcached restart at (s) | UTC | old pid → new pid |"
  echo "|--:|--:|:--|:--|"
  awk -F'\t' '{ printf "| %d | %s | %s | %s → %s |\n", NR, $1, $2, $3, $4 }' "$WORK/restarts.tsv"
  echo
  echo "| # | reload (SIGHUP) at (s) | UTC |"
  echo "|--:|--:|:--|"
  awk -F'\t' '{ printf "| %d | %s | %s |\n", NR, $1, $2 }' "$WORK/reloads.tsv"
  echo
  echo "## mcmux RSS and metrics over time ($N_SAMPLES samples, every ${SAMPLE_S}s)"
  echo
  echo "| t (s) | RSS (MiB) | mcmux_requests_total by result | reloads_total by result | tls_handshakes_total |"
  echo "|--:|--:|:--|:--|--:|"
  awk -F'\t' '{ printf "| %s | %.1f | %s | %s | %s |\n", $1, $2 / 1024, $3, $4, $5 }' "$WORK/samples.tsv"
  echo
  echo "Run time ${END_ELAPSED}s from mcmux start to the end of the bench."
  echo
  echo "<details><summary>bench stderr (last lines) and mcmux log (warnings, reloads, upstream connections)</summary>"
  echo
  echo '```'
  tail -15 "$WORK/bench.err" | tr '\r' '\n' | grep -v '^$' | tail -15 || true
  echo '---'
  grep -E 'WARN|ERROR|LEAK|reloaded|connected|closed' "$MCMUX_LOG" | cut -c1-300 | tail -40 || true
  echo '```'
  echo
  echo "</details>"
} >"$OUT"

cat "$OUT"
log "report written to ${OUT#"$ROOT"/}"
((STATUS == 0)) || log "$VERDICT"
exit "$STATUS"
