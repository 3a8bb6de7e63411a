#!/usr/bin/env bash
# README command 2: install dependencies, build, generate fixtures, and run the
# whole test suite, then the same suite under AddressSanitizer+UBSan, then a
# short libFuzzer run of every fuzz target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" --test
"$root/scripts/build.sh" "$root/build"
"$root/scripts/fixtures.sh" "$root/build"
export EDGESPLIT_FIXTURES="$root/build/fixtures"
export EDGESPLIT_REQUIRE_FIXTURES=1
jobs=$(nproc 2>/dev/null || echo 2)

echo "== test suite (RelWithDebInfo)"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== install, then the example project against the installed tree (find_package, pkg-config, add_subdirectory)"
"$root/scripts/test-install.sh" "$root/build"

echo "== test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/build.sh" "$root/build-asan" -DEDGESPLIT_SANITIZE=ON -DEDGESPLIT_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
  ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure

echo "== fuzzing (${EDGESPLIT_FUZZ_SECONDS:-60} s per target)"
"$root/scripts/fuzz.sh" "${EDGESPLIT_FUZZ_SECONDS:-60}"
