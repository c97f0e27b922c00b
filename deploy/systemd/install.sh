#!/usr/bin/env bash
# Installs mcmux as a systemd service. Safe to run again: files that are already in place are
# left alone, an existing /etc/mcmux/mcmux.conf or /etc/default/mcmux is never overwritten.
#
#   deploy/systemd/install.sh [options]
#
#   --jar FILE       the shaded jar (default: proxy/target/mcmux.jar; build it with
#                    `mvn -B package -DskipTests`)
#   --config FILE    install FILE as /etc/mcmux/mcmux.conf, replacing what is there (the old
#                    file is kept as mcmux.conf.bak); default: an example, only if none exists
#   --runtime DIR    copy this Java runtime (e.g. one made by deploy/docker/build-runtime.sh)
#                    to /opt/mcmux/runtime; default: link /opt/mcmux/bin/java to the system's
#                    `java`, which must be 17 or newer (Debian: openjdk-17-jre-headless)
#   --enable         systemctl enable mcmux (starts at boot)
#   --now            --enable, and (re)start it now
#   --root DIR       install under DIR instead of / (packaging, tests): no user is created,
#                    nothing is chowned and systemctl is not called
#   --dry-run        print what would be done, change nothing
#   -h, --help       this text
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

jar=$repo/proxy/target/mcmux.jar
config=
runtime=
enable=false
now=false
root=
dry_run=false

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --jar) jar=${2:?--jar needs a file}; shift 2 ;;
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --runtime) runtime=${2:?--runtime needs a directory}; shift 2 ;;
    --enable) enable=true; shift ;;
    --now) enable=true; now=true; shift ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

[ -f "$jar" ] || die "no jar at $jar (build it with: mvn -B package -DskipTests)"
[ -z "$config" ] || [ -f "$config" ] || die "no config file at $config"
[ -z "$runtime" ] || [ -x "$runtime/bin/java" ] || die "$runtime has no bin/java"
if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a directory"
  root=$(cd "$root" && pwd)
  [ "$root" != / ] || root=
fi
if [ -z "$root" ] && ! $dry_run && [ "$(id -u)" -ne 0 ]; then
  die "run as root (or with --dry-run, or --root DIR)"
fi

# Runs a command, or prints it under --dry-run.
run() {
  if $dry_run; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Installs SRC as DEST with MODE unless DEST already has the same content and mode.
put() {
  local src=$1 dest=$root$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "$mode" ]; then
    echo "unchanged  $2"
    return
  fi
  echo "install    $2"
  run install -D -m "$mode" "$src" "$dest"
}

# Installs SRC as DEST only when DEST does not exist yet (operator-owned files).
put_once() {
  local src=$1 dest=$2 mode=$3
  if [ -e "$root$dest" ]; then
    echo "kept       $dest (exists; not overwritten)"
    return
  fi
  put "$src" "$dest" "$mode"
}

# Points the symlink LINK at TARGET unless it already does.
link() {
  local target=$1 link=$root$2
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
    echo "unchanged  $2 -> $target"
    return
  fi
  echo "link       $2 -> $target"
  run mkdir -p "$(dirname "$link")"
  run ln -sfn "$target" "$link"
}

java_major() {
  "$1" -XX:-UsePerfData -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

# 1. The service account (a dedicated system user; no login, no home).
if [ -z "$root" ]; then
  if getent passwd mcmux >/dev/null; then
    echo "unchanged  user mcmux"
  else
    echo "create     user mcmux"
    run useradd --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin --comment "mcmux memcached TLS sidecar" mcmux
  fi
fi

# 2. The program: jar, Java, and the deployment notes the unit points to.
put "$jar" /opt/mcmux/mcmux.jar 644
if [ -f "$repo/docs/deployment.md" ]; then
  put "$repo/docs/deployment.md" /opt/mcmux/docs/deployment.md 644
fi
if [ -n "$runtime" ]; then
  release_src=$runtime/release
  release_dest=$root/opt/mcmux/runtime/release
  if [ -f "$release_dest" ] && cmp -s "$release_src" "$release_dest" \
    && cmp -s "$runtime/lib/modules" "$root/opt/mcmux/runtime/lib/modules"; then
    echo "unchanged  /opt/mcmux/runtime"
  else
    echo "install    /opt/mcmux/runtime (from $runtime)"
    run rm -rf "$root/opt/mcmux/runtime"
    run mkdir -p "$root/opt/mcmux"
    run cp -a "$runtime" "$root/opt/mcmux/runtime"
  fi
  link ../runtime/bin/java /opt/mcmux/bin/java
else
  system_java=$(command -v java || true)
  [ -n "$system_java" ] || die "no java on PATH: install Java 17+ (apt-get install openjdk-17-jre-headless) or pass --runtime DIR"
  system_java=$(readlink -f "$system_java")
  major=$(java_major "$system_java")
  [ "${major:-0}" -ge 17 ] || die "$system_java is Java ${major:-?}; mcmux needs 17 or newer"
  link "$system_java" /opt/mcmux/bin/java
fi

# 3. Configuration: never overwrite the operator's files unless --config says so.
if [ -n "$config" ]; then
  if [ -f "$root/etc/mcmux/mcmux.conf" ] && ! cmp -s "$config" "$root/etc/mcmux/mcmux.conf"; then
    echo "backup     /etc/mcmux/mcmux.conf -> /etc/mcmux/mcmux.conf.bak"
    run cp -p "$root/etc/mcmux/mcmux.conf" "$root/etc/mcmux/mcmux.conf.bak"
  fi
  put "$config" /etc/mcmux/mcmux.conf 640
else
  put_once "$here/mcmux.conf" /etc/mcmux/mcmux.conf 640
fi
put_once "$here/mcmux.default" /etc/default/mcmux 644
if [ -z "$root" ]; then
  # The service reads its config as group mcmux; root keeps ownership.
  run chgrp mcmux /etc/mcmux /etc/mcmux/mcmux.conf
  run chmod 750 /etc/mcmux
fi

# 4. The unit.
put "$here/mcmux.service" /etc/systemd/system/mcmux.service 644

# 5. systemd, on the live system only.
if [ -n "$root" ]; then
  echo "skipped    systemctl (installing under $root)"
elif [ ! -d /run/systemd/system ]; then
  echo "skipped    systemctl (systemd is not running here)"
else
  run systemctl daemon-reload
  if $enable; then
    run systemctl enable mcmux.service
  fi
  if $now; then
    # restart, not start: a running service picks up a new jar or unit as well.
    run systemctl restart mcmux.service
  fi
fi

cat <<EOF
done. Next: set mcmux.upstream.endpoints in /etc/mcmux/mcmux.conf (or MCMUX_UPSTREAM_ENDPOINTS in
/etc/default/mcmux), then: systemctl enable --now mcmux; journalctl -u mcmux -f
EOF
