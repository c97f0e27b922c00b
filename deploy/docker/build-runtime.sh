#!/usr/bin/env bash
# Builds the minimal Java runtime that the container image ships, with jlink from the JDK that
# runs this script. The Dockerfile runs it in its jlink stage and deploy/ci-checks.sh runs the
# very same script on the local JDK, so the module list below is tested where it is defined.
#
#   deploy/docker/build-runtime.sh OUTPUT_DIR     link a runtime into OUTPUT_DIR (must not exist)
#   deploy/docker/build-runtime.sh --modules      print the module list, comma-separated
#   deploy/docker/build-runtime.sh --jdeps-dropped  print the jdeps modules left out on purpose
#
# Module list. `jdeps --ignore-missing-deps --print-module-deps` on the shaded jar prints
#   java.base,java.desktop,java.naming,java.sql,jdk.jfr,jdk.management,jdk.unsupported
# which is a static view of every class in the jar, used or not. Adjusted as follows:
#   dropped java.desktop  only java.beans, from typesafe-config's ConfigBeanFactory and
#                         micrometer's Log4j2Metrics; mcmux uses neither (saves ~11 MB)
#   dropped java.sql      only from micrometer's database binders and BouncyCastle's LDAP
#                         store helper, neither used
#   added   java.xml      logback parses an operator's -Dlogback.configurationFile with JAXP
#                         (mcmux's own logging is set up in code; was pulled in by java.desktop)
#   added   java.logging  Netty, BouncyCastle and logback's JUL bridge (was pulled in by java.sql)
#   added   java.management  JMX for micrometer's JVM binders (jdk.management requires it anyway)
#   added   jdk.crypto.ec    the SunEC provider, found as a service so jdeps cannot see it;
#                         without it an EC client key fails with "EC KeyFactory not available"
#                         (checked) and the JDK TLS engine has no ECDHE
#   added   jdk.naming.dns   JNDI DNS provider that Netty's resolver falls back to for the
#                         system name servers (also a service, invisible to jdeps)
# deploy/ci-checks.sh fails when jdeps reports a module that is neither here nor listed above as
# dropped, and starts the linked runtime for real (--version, validate, run with a set/get).
set -euo pipefail

MODULES=java.base,java.logging,java.management,java.naming,java.xml,jdk.crypto.ec,jdk.jfr,jdk.management,jdk.naming.dns,jdk.unsupported
# Modules that jdeps reports but that mcmux never reaches (see above).
JDEPS_DROPPED=java.desktop,java.sql

usage() {
  sed -n '6,8p' "$0" | sed 's/^# *//' >&2
  exit 2
}

[ $# -eq 1 ] || usage
case "$1" in
  --modules) echo "$MODULES"; exit 0 ;;
  --jdeps-dropped) echo "$JDEPS_DROPPED"; exit 0 ;;
  -*) usage ;;
esac
out=$1
if [ -e "$out" ]; then
  echo "build-runtime.sh: $out already exists" >&2
  exit 2
fi

jlink=jlink
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/jlink" ]; then
  jlink=$JAVA_HOME/bin/jlink
fi

# --generate-cds-archive writes the default class-data-sharing archive for the JDK's own
# classes (faster start, shared read-only pages). --compress=2 zips lib/modules: it is read
# once at start and the CDS archive covers the hot classes.
"$jlink" \
  --add-modules "$MODULES" \
  --strip-debug \
  --no-man-pages \
  --no-header-files \
  --compress=2 \
  --generate-cds-archive \
  --output "$out"

# The no-compressed-oops archive is only used with heaps over 32 GiB, never by a sidecar.
rm -f "$out/lib/server/classes_nocoops.jsa"
echo "runtime in $out: $(du -sh "$out" | cut -f1), modules: $MODULES"
