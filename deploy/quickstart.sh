#!/usr/bin/env bash
# Quick start: builds mcmux, starts a local memcached with TLS (a CA and a server certificate are
# made on the spot) and mcmux in front of it, then shows a set/get through the plaintext port.
#
#   deploy/quickstart.sh        build, start both, and try them
#   deploy/quickstart.sh stop   stop what the quick start started
#
# Ports: memcached with TLS on 127.0.0.1:11212, mcmux (plaintext) on 127.0.0.1:11211.
set -euo pipefail

cd "$(dirname "$0")/.."
state=proxy/target/quickstart
tls_port=11212
plain_port=11211

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

stop() {
  for name in mcmux memcached; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}

wait_for_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if nc -z 127.0.0.1 "$port" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "nothing is listening on 127.0.0.1:$port; see $state/*.log" >&2
  return 1
}

if [ "${1:-}" = stop ]; then
  stop
  echo "stopped"
  exit 0
fi

missing=()
command -v memcached >/dev/null || missing+=(memcached)
command -v nc >/dev/null || missing+=(netcat-openbsd)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -q
  as_root apt-get install -y -q "${missing[@]}"
fi

mvn -B -q package -DskipTests
stop
mkdir -p "$state"

# Installing Debian's memcached starts its plaintext service on 127.0.0.1:11211, where mcmux
# listens in this quick start.
if nc -z 127.0.0.1 "$plain_port" 2>/dev/null; then
  if command -v systemctl >/dev/null && systemctl is-active --quiet memcached 2>/dev/null; then
    echo "stopping Debian's memcached service, which holds 127.0.0.1:$plain_port"
    echo "(systemctl start memcached brings it back)"
    as_root systemctl stop memcached
  else
    echo "127.0.0.1:$plain_port is in use; stop what listens there and run this again" >&2
    exit 1
  fi
fi

# A throwaway CA and a certificate for localhost signed by it: mcmux verifies the chain and the
# host name exactly as it would against a production service.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=mcmux quick start CA" -keyout "$state/ca-key.pem" -out "$state/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout "$state/server-key.pem" -out "$state/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$state/server.ext"
openssl x509 -req -in "$state/server.csr" -CA "$state/ca.pem" -CAkey "$state/ca-key.pem" \
  -CAcreateserial -days 30 -extfile "$state/server.ext" -out "$state/server.pem" 2>/dev/null

memcached -l 127.0.0.1 -p "$tls_port" -U 0 -u "$(id -un)" -Z \
  -o "ssl_chain_cert=$state/server.pem,ssl_key=$state/server-key.pem" \
  >"$state/memcached.log" 2>&1 &
echo $! >"$state/memcached.pid"
wait_for_port "$tls_port"

java -jar proxy/target/mcmux.jar run --listen "127.0.0.1:$plain_port" \
  --upstream "localhost:$tls_port" --ca-file "$state/ca.pem" --admin-listen 127.0.0.1:9180 \
  >"$state/mcmux.log" 2>&1 &
echo $! >"$state/mcmux.pid"
wait_for_port "$plain_port"

echo "memcached (TLS only) on 127.0.0.1:$tls_port; mcmux (plaintext) on 127.0.0.1:$plain_port"
printf '%s\n' "> printf 'set k 0 0 1\\r\\nv\\r\\nget k\\r\\n' | nc -q1 127.0.0.1 $plain_port"
printf 'set k 0 0 1\r\nv\r\nget k\r\n' | nc -q1 127.0.0.1 "$plain_port"
echo "logs in $state; stop both with: deploy/quickstart.sh stop"
