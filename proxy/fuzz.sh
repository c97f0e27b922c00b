#!/usr/bin/env bash
# Runs Jazzer fuzz tests in real fuzzing mode (coverage-guided, new inputs), each for a given time.
# Plain `mvn test` only replays the committed seed corpus; this explores beyond it.
#
# Usage: proxy/fuzz.sh [DURATION] [Class#method ...]
#   DURATION   per fuzz test, in Jazzer's format: 30s, 10m, 2h (default 30s)
#   Class#...  fuzz tests to run (default: every @FuzzTest under src/test/java)
#
# A finding fails the run; Jazzer writes the input as crash-<sha1> into the test's
# src/test/resources/.../<Class>Inputs/<method>/ directory, where plain `mvn test` then replays it.
# Inputs that reached new coverage are kept in .cifuzz-corpus/ (not committed) for the next run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

duration="${1:-30s}"
if (($# > 0)); then
  shift
fi

tests=("$@")
if ((${#tests[@]} == 0)); then
  # Class#method for every method annotated @FuzzTest (the method follows its annotation).
  while IFS= read -r file; do
    class="$(basename "$file" .java)"
    while IFS= read -r method; do
      tests+=("${class}#${method}")
    done < <(awk '/@FuzzTest/ { want = 1; next }
                  want && match($0, /void [A-Za-z0-9_]+\(/) {
                    print substr($0, RSTART + 5, RLENGTH - 6); want = 0 }' "$file")
  done < <(grep -rl --include='*.java' '@FuzzTest' src/test/java | sort)
fi

if ((${#tests[@]} == 0)); then
  echo "fuzz.sh: no @FuzzTest found" >&2
  exit 1
fi

# A bounded heap keeps the process under libFuzzer's RSS limit; Netty's leak detector is off
# because the fuzz tests check reference counts exactly and its stack traces cost throughput.
arg_line="-Xmx1g -Dio.netty.leakDetection.level=disabled"

status=0
for test in "${tests[@]}"; do
  echo "== fuzzing ${test} for ${duration}"
  if ! JAZZER_FUZZ=1 mvn -B test \
    -Dtest="${test}" \
    -Dsurefire.failIfNoSpecifiedTests=false \
    -Djazzer.max_duration="${duration}" \
    -Djazzer.hooks=true \
    -Dtest.argLine="${arg_line}"; then
    echo "== ${test}: FINDING (see the crash- file named above)" >&2
    status=1
  fi
done
exit "${status}"
