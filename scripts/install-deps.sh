#!/usr/bin/env bash
# Installs edgesplit's build and test dependencies from Debian 12 packages.
# Idempotent: packages already installed are skipped, and nothing is fetched
# when everything is present.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git
  # libraries
  libonnx-dev libprotobuf-dev protobuf-compiler libcli11-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libasio-dev
  # host kernels (oneDNN 2.6, OpenMP); dnnl-config.cmake also looks for OpenCL
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  # image input (stb_image, header-only)
  libstb-dev
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
  # flat segment files (FlatBuffers, flatc at build time) and the Cortex-M4 build + QEMU run (docs/mcu.md)
  libflatbuffers-dev flatbuffers-compiler
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
  # over-the-air segment delivery: SHA-256 and Ed25519 signatures (docs/mcu.md)
  libsodium-dev
  # the edge server's MQTT scale-out: the client library and the broker the tests start (docs/serve.md)
  libmosquitto-dev mosquitto
  # measured accuracy on real data (Fashion-MNIST, gzipped IDX via zlib) and the cut-tensor codecs' lz4/zstd
  dataset-fashion-mnist zlib1g-dev liblz4-dev libzstd-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
