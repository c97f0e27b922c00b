#!/bin/bash
# Container health check: asks mcmux's admin endpoint for a path (default /healthz) with bash's
# own /dev/tcp, so the image needs no curl, wget or second JVM. Exits 0 on HTTP 200, else 1.
#
#   healthcheck [PATH]
#
# The address is MCMUX_ADMIN_LISTEN when it is set (the same variable mcmux reads), else the
# image's default 0.0.0.0:9180. A wildcard host (0.0.0.0, ::, empty) is reached on loopback.
# A different admin address set only in a mounted config file needs MCMUX_ADMIN_LISTEN too, or
# a HEALTHCHECK of your own.
set -u

path=${1:-/healthz}
listen=${MCMUX_ADMIN_LISTEN:-0.0.0.0:9180}
port=${listen##*:}
host=${listen%:*}
host=${host#[}
host=${host%]}
case $host in
  '' | 0.0.0.0 | '::' | '*') host=127.0.0.1 ;;
esac
if [ -z "$port" ] || [ "$port" = "$listen" ]; then
  echo "healthcheck: no admin port in '$listen'" >&2
  exit 1
fi

if ! exec 3<>"/dev/tcp/$host/$port"; then
  exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
# Status line: HTTP/1.1 200 OK
if ! read -r -t "${MCMUX_HEALTHCHECK_TIMEOUT:-3}" _ status _ <&3; then
  exit 1
fi
[ "$status" = 200 ]
