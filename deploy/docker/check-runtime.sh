#!/usr/bin/env bash
# Smoke test of a linked runtime and the shaded jar for one target architecture: the jar must
# carry the epoll and BoringSSL natives for it, and `mcmux --version` on that runtime must load
# BoringSSL from the native work directory. Run by the Dockerfile's jlink stage (on the target
# platform) and by deploy/ci-checks.sh (here).
#
#   deploy/docker/check-runtime.sh RUNTIME_DIR JAR TARGETARCH     TARGETARCH: amd64 or arm64
set -euo pipefail

if [ $# -ne 3 ]; then
  sed -n '7p' "$0" | sed 's/^# *//' >&2
  exit 2
fi
runtime=$1
jar=$2
target=$3

case "$target" in
  amd64) arch=x86_64 ;;
  arm64) arch=aarch_64 ;;
  *)
    echo "check-runtime.sh: mcmux ships natives for amd64 and arm64 only, not '$target'" >&2
    exit 1
    ;;
esac

if command -v unzip >/dev/null; then
  entries=$(unzip -Z1 "$jar")
else
  entries=$(jar tf "$jar") # the JDK image has no unzip, but has the JDK's jar tool
fi
for lib in "libnetty_transport_native_epoll_${arch}.so" "libnetty_tcnative_linux_${arch}.so"; do
  if ! grep -qx "META-INF/native/$lib" <<<"$entries"; then
    echo "check-runtime.sh: $jar has no META-INF/native/$lib" >&2
    exit 1
  fi
done

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
version=$("$runtime/bin/java" -XX:-UsePerfData -Dio.netty.native.workdir="$workdir" \
  -jar "$jar" --version)
echo "$version"
if ! grep -q "OpenSSL (BoringSSL) available" <<<"$version"; then
  echo "check-runtime.sh: BoringSSL does not load on this runtime" >&2
  exit 1
fi
