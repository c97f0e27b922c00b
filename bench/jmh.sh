#!/usr/bin/env bash
# Runs the JMH micro-benchmarks of the request/response hot path and the key placement.
#   bench/jmh.sh                 all benchmarks
#   bench/jmh.sh decodeGet -f 2  any JMH arguments (a name filter, forks, ...)
set -euo pipefail
cd "$(dirname "$0")/../proxy"
mvn -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/jmh.classpath \
  -Dmdep.includeScope=test
exec java -cp "target/test-classes:target/classes:$(cat target/jmh.classpath)" \
  org.openjdk.jmh.Main "${@:-dev.mcmux.jmh}"
