#!/usr/bin/env bash
# README command 2: install dependencies, build, generate fixtures, and run the
# whole test suite, then the same suite under AddressSanitizer+UBSan, then a
# short libFuzzer run of every fuzz target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Free disk at each phase: a CI machine once ran out of it (stop 24), and this
# says where the space went if it happens again.
disk() { df -h "$root" | awk -v phase="$1" 'NR == 2 {print "== disk before " phase ": " $4 " free of " $2}'; }
"$root/scripts/install-deps.sh" --test
disk "the build"
"$root/scripts/build.sh" "$root/build"
disk "the fixtures (build $(du -sh "$root/build" | cut -f1))"
"$root/scripts/fixtures.sh" "$root/build"
export EDGESPLIT_FIXTURES="$root/build/fixtures"
export EDGESPLIT_REQUIRE_FIXTURES=1
jobs=$(nproc 2>/dev/null || echo 2)

echo "== test suite (RelWithDebInfo)"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== install, then the example project against the installed tree (find_package, pkg-config, add_subdirectory)"
"$root/scripts/test-install.sh" "$root/build"

disk "the sanitizer build"
echo "== test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/build.sh" "$root/build-asan" -DEDGESPLIT_SANITIZE=ON -DEDGESPLIT_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
  ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure

disk "fuzzing (build-asan $(du -sh "$root/build-asan" | cut -f1))"
echo "== fuzzing (${EDGESPLIT_FUZZ_SECONDS:-60} s per target)"
"$root/scripts/fuzz.sh" "${EDGESPLIT_FUZZ_SECONDS:-60}"
