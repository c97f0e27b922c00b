#!/usr/bin/env bash
# bench/profile.sh: where mcmux spends its CPU and what it allocates, under mcmux bench load.
#
#   bench/profile.sh                                     50 connections x 1, 15 s warmup, 60 s
#   bench/profile.sh --connections 4 --pipeline 16       any mcmux bench options
#   DURATION=2m bench/profile.sh                         a longer recording
#
# Starts a TLS memcached and mcmux with Java Flight Recorder, loads mcmux with `mcmux bench`, and
# writes the recording and a summary (hottest frames of the I/O threads, by self time and
# including callees; allocation by class and site; GC) to bench/results/profile-<time>/.
#
# JFR samples a thread only while it runs Java code (jdk.ExecutionSample); time in epoll, socket
# writes and OpenSSL is jdk.NativeMethodSample. Its default period (20 ms, 10 ms in the "profile"
# settings) leaves an event loop that is mostly in native code with a few hundred samples a
# minute, too few to rank frames: this script samples every millisecond, and turns on
# DebugNonSafepoints so inlined frames are attributed to the right method.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WARMUP=${WARMUP:-15s}
DURATION=${DURATION:-60s}
JAR=${JAR:-$ROOT/proxy/target/mcmux.jar}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MCMUX_JVM_OPTS=${MCMUX_JVM_OPTS:--XX:+UseSerialGC -Xms16m -Xmx128m -Xmn4m -Xss256k -XX:MaxDirectMemorySize=64m -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData}
OUT=${OUT:-$ROOT/bench/results/profile-$(date +%Y-%m-%d-%H%M%S)}

log() { printf '%s profile: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'profile.sh: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi
BENCH_ARGS=("$@")
((${#BENCH_ARGS[@]})) || BENCH_ARGS=(--connections 50 --pipeline 1)

for c in memcached java jfr openssl python3 curl taskset; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' not found"
done
[[ -f $JAR ]] || die "mcmux jar not found at $JAR. Build it: mvn -B -q -DskipTests package"

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcmux-profile.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

make_certs "$WORK" || die "could not make certificates"
mkdir -p "$OUT"

# The "profile" settings of this JDK, with 1 ms Java and 5 ms native sampling.
JAVA_HOME_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
sed -E \
  -e '/<event name="jdk.ExecutionSample">/,/<\/event>/ s#<setting name="period"[^>]*>[^<]*</setting>#<setting name="period">1 ms</setting>#' \
  -e '/<event name="jdk.NativeMethodSample">/,/<\/event>/ s#<setting name="period"[^>]*>[^<]*</setting>#<setting name="period">5 ms</setting>#' \
  "$JAVA_HOME_DIR/lib/jfr/profile.jfc" >"$WORK/cpu.jfc"

MC_USER=()
((EUID != 0)) || MC_USER=(-u root)
read -r MC_PORT PORT ADMIN <<<"$(free_ports 3)"
taskset -c "$SERVER_CPU" memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -t 1 "${MC_USER[@]}" \
  -Z -o "ssl_chain_cert=$WORK/server.pem,ssl_key=$WORK/server.key" >"$WORK/memcached.log" 2>&1 &
PIDS+=("$!")

read -r -a jvm <<<"$MCMUX_JVM_OPTS"
taskset -c "$CLIENT_CPU" java "${jvm[@]}" -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints \
  "-XX:StartFlightRecording=settings=$WORK/cpu.jfc,filename=$OUT/mcmux.jfr,dumponexit=true" \
  "-Dio.netty.native.workdir=$WORK" -jar "$JAR" run \
  --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
  --upstream "localhost:$MC_PORT" --ca-file "$WORK/ca.pem" >"$OUT/mcmux.log" 2>&1 &
MCMUX_PID=$!
PIDS+=("$MCMUX_PID")
ready=0
for ((i = 0; i < 300; i++)); do
  curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN/readyz" 2>/dev/null && { ready=1; break; }
  kill -0 "$MCMUX_PID" 2>/dev/null || break
  sleep 0.1
done
((ready)) || { tail -20 "$OUT/mcmux.log" >&2; die "mcmux not ready after 30 s"; }

log "loading mcmux for $WARMUP + $DURATION: ${BENCH_ARGS[*]}"
taskset -c "$CLIENT_CPU" java -XX:-UsePerfData -jar "$JAR" bench --target "mcmux=127.0.0.1:$PORT" \
  --warmup "$WARMUP" --duration "$DURATION" "${BENCH_ARGS[@]}" >"$OUT/bench.md" 2>"$OUT/bench.log" \
  || die "the bench failed (see $OUT/bench.log)"
kill -TERM "$MCMUX_PID"
wait "$MCMUX_PID" 2>/dev/null || true
[[ -s $OUT/mcmux.jfr ]] || die "no recording written"

jfr print --json --stack-depth 64 --events jdk.ExecutionSample "$OUT/mcmux.jfr" >"$WORK/cpu.json"
jfr print --json --stack-depth 16 --events jdk.ObjectAllocationSample "$OUT/mcmux.jfr" >"$WORK/alloc.json"
jfr print --json --events jdk.NativeMethodSample --stack-depth 1 "$OUT/mcmux.jfr" >"$WORK/native.json"
jfr summary "$OUT/mcmux.jfr" >"$WORK/summary.txt"

python3 - "$WORK" "$OUT/bench.md" "${BENCH_ARGS[*]}" "$MCMUX_JVM_OPTS" >"$OUT/summary.md" <<'EOF'
import collections, json, sys

work, bench, args, opts = sys.argv[1:5]

def events(name):
    return json.load(open(f"{work}/{name}.json"))["recording"]["events"]

def frame(f):
    return f["method"]["type"]["name"].split("/")[-1] + "." + f["method"]["name"]

def io_thread(e, key):
    return (e["values"].get(key) or {}).get("javaName", "").startswith("mcmux-io")

print("# mcmux profile\n")
print(f"Load: `mcmux bench {args}`; JVM options `{opts}`.\n")
print("".join(l for l in open(bench) if l.startswith("|")))

samples = [e for e in events("cpu") if io_thread(e, "sampledThread")]
native = [e for e in events("native") if io_thread(e, "sampledThread")]
n = len(samples)
print(f"I/O threads: {n} Java samples (1 ms), {len(native)} native samples (5 ms).\n")
top, incl = collections.Counter(), collections.Counter()
for e in samples:
    names = [frame(f) for f in e["values"]["stackTrace"]["frames"]]
    top[names[0]] += 1
    for m in set(names):
        incl[m] += 1
print("## Hottest methods, self time\n\n| % | method |\n|--:|:--|")
for m, c in top.most_common(25):
    print(f"| {100 * c / n:.1f} | `{m}` |")
print("\n## Hottest methods including callees (mcmux, Netty and TLS frames)\n\n| % | method |\n|--:|:--|")
shown = 0
for m, c in incl.most_common():
    if m.split(".")[0] in ("Thread", "FastThreadLocalRunnable", "ThreadExecutorMap$2",
                           "SingleThreadEventExecutor$5"):
        continue
    print(f"| {100 * c / n:.1f} | `{m}` |")
    shown += 1
    if shown == 40:
        break
nat = collections.Counter(frame(e["values"]["stackTrace"]["frames"][0]) for e in native)
print("\n## Native methods (I/O threads)\n\n| % | method |\n|--:|:--|")
for m, c in nat.most_common(8):
    print(f"| {100 * c / max(1, len(native)):.1f} | `{m}` |")

alloc, total = collections.Counter(), 0
for e in events("alloc"):
    if not io_thread(e, "eventThread"):
        continue
    v = e["values"]
    names = [frame(f) for f in v["stackTrace"]["frames"]] if v.get("stackTrace") else []
    site = next((m for m in names if m.split(".")[0].split("$")[0] in (
        "ClientSession", "UpstreamConnection", "AsciiRequestDecoder", "AsciiRequestEncoder",
        "AsciiResponseFramer", "ResponseCopy", "MicrometerMetrics", "UpstreamPool")), names[0] if names else "?")
    alloc[(v["objectClass"]["name"].replace("/", "."), site)] += v["weight"]
    total += v["weight"]
print("\n## Heap allocation on the I/O threads (sampled, by weight)\n\n| % | class | first mcmux frame |\n|--:|:--|:--|")
for (cls, site), w in alloc.most_common(20):
    print(f"| {100 * w / max(1, total):.1f} | `{cls}` | `{site}` |")
print("\n## Recording\n\n```")
print("".join(l for l in open(f"{work}/summary.txt") if "GarbageCollection" in l or "ExecutionSample" in l
              or "NativeMethodSample" in l or "ObjectAllocationSample" in l).rstrip())
print("```")
EOF
log "wrote $OUT/summary.md and $OUT/mcmux.jfr"
cat "$OUT/summary.md"
