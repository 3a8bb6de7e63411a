#!/usr/bin/env bash
# Installs edgesplit's dependencies from Debian 12 packages.
#   scripts/install-deps.sh          what building and running the CLI and library needs
#                                    (README command 1, scripts/demo.sh)
#   scripts/install-deps.sh --test   that, plus the test, fixture, fuzzing and MCU toolchains
#                                    (README command 2, scripts/test.sh)
# Idempotent: packages already installed are skipped, and nothing is fetched
# when everything is present. apt's output goes to a log file; one line is printed.
set -euo pipefail

# Fresh Debian 12 (debootstrap minbase): BASE is 100 packages with dependencies (docs/install.md).
BASE=(
  # toolchain: g++-12 itself (scripts/build.sh points CMake at it when there is no c++); the g++
  # metapackage only adds the c++/g++ links and pulls gcc and cpp (test toolchains bring it)
  g++-12 cmake ninja-build
  # libraries (the build uses no protoc: libonnx-dev ships the generated ONNX headers)
  libonnx-dev libprotobuf-dev libcli11-dev nlohmann-json3-dev libfmt-dev libasio-dev
  # host kernels (oneDNN 2.6, OpenMP); dnnl-config.cmake also looks for OpenCL
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  # image input (stb_image, header-only)
  libstb-dev
  # flat segment files (FlatBuffers, flatc at build time) (docs/mcu.md)
  libflatbuffers-dev flatbuffers-compiler
  # over-the-air segment delivery: SHA-256 and Ed25519 signatures (docs/mcu.md)
  libsodium-dev
  # the edge server's MQTT scale-out: the client library (the broker comes with --test; docs/serve.md)
  libmosquitto-dev
  # IDX data sets (zlib) and the cut-tensor codecs' lz4/zstd (docs/codecs.md); pkgconf's pkg-config finds them
  zlib1g-dev liblz4-dev libzstd-dev pkgconf
  # the wire CRC on the host: ISA-L's carry-less-multiply CRC32 (src/wire/crc32.cc)
  libisal-dev
)
TEST=(
  git ccache g++
  # the MQTT broker the scale-out tests and demo 17b run (docs/serve.md)
  mosquitto
  # the .deb's run-time dependencies (CPack runs dpkg-shlibdeps; scripts/test-install.sh)
  dpkg-dev
  # the man page, from --help (the build skips it, with a warning, without help2man)
  help2man
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libonnx-testdata
  # fuzzing (libFuzzer) and sanitizers
  clang-14 libclang-rt-14-dev
  # fixtures: torchvision models exported to ONNX with Debian's own python
  python3 python3-numpy python3-onnx python3-torchvision
  # int8 accuracy fixtures (digits) and the PyTorch speed peer
  python3-torch python3-sklearn
  # network namespaces, netem (tc) or, where the kernel lacks sch_netem, nftables loss
  # rules, for the runtime's real-impairment tests (scripts/netns.sh)
  iproute2 nftables
  # the Cortex-M4 build + QEMU run (docs/mcu.md)
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
  # Fashion-MNIST: the measured-accuracy tests and fixtures (edgesplit eval)
  dataset-fashion-mnist
  # the report's browser test: headless Chromium renders `edgesplit report` (docs/report.md)
  chromium
)

PACKAGES=("${BASE[@]}")
set_name="base"
case "${1:-}" in
  "") ;;
  --test) PACKAGES+=("${TEST[@]}"); set_name="base + test" ;;
  --list) printf '%s\n' "${BASE[@]}"; exit 0 ;;
  --list-test) printf '%s\n' "${TEST[@]}"; exit 0 ;;
  *) echo "usage: install-deps.sh [--test | --list | --list-test]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The report's charting library (Vega, Vega-Lite, vega-embed) from npm, pinned by
# third_party/vega/package-lock.json, into third_party/vega/node_modules (git-ignored);
# CMake copies the three bundles and their licences into the build tree. Skipped when
# the installed tree matches the lock file. Without npm, `edgesplit report` says what is missing.
install_report_charts() {
  local dir="$root/third_party/vega" stamp
  stamp=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f "$dir/node_modules/.edgesplit-stamp" && $(cat "$dir/node_modules/.edgesplit-stamp") == "$stamp" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "install-deps: npm not found: the report's charts (Vega) are not installed; edgesplit report will say so" >&2
    return 0
  fi
  if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >>"$log" 2>&1; then
    # Not fatal: the build goes on without the charts, and `edgesplit report` says what is missing.
    echo "install-deps: npm ci failed in $dir (the report's charts are not installed); the last lines of $log:" >&2
    tail -n 20 "$log" >&2
    return 0
  fi
  echo "$stamp" >"$dir/node_modules/.edgesplit-stamp"
  echo "install-deps: installed the report's charting library (Vega) into $dir/node_modules"
}
root=$(cd "$(dirname "$0")/.." && pwd)
log=${EDGESPLIT_APT_LOG:-${TMPDIR:-/tmp}/edgesplit-install-deps.log}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages ($set_name) already installed"
  install_report_charts
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
start=$(date +%s)
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "install-deps: apt-get failed; the last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
unpacked=$(grep -c '^Unpacking ' "$log" || true)
echo "install-deps: installed ${#missing[@]} requested packages ($unpacked with dependencies, $set_name) in $(( $(date +%s) - start )) s; apt log: $log"
install_report_charts
