#!/usr/bin/env bash
# Configures and builds edgesplit. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
# ccache: paths relative to the checkout, so a fresh clone elsewhere (CI) hits
# the cache of an earlier build of the same sources.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
# README command 1 installs g++-12 without the g++ metapackage's c++ link (docs/install.md).
if [[ -z ${CXX:-} ]] && ! command -v c++ >/dev/null && command -v g++-12 >/dev/null; then export CXX=g++-12; fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$jobs"
