#!/usr/bin/env bash
# Generates the torchvision ONNX fixtures (random seeded weights, PyTorch outputs
# as the oracle) into BUILD_DIR/fixtures, unless they are already up to date.
# Uses Debian's /usr/bin/python3, which has python3-torchvision.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
/usr/bin/python3 "$root/tools/make_fixtures.py" "$build/fixtures"
# Fashion-MNIST models trained on the CPU (a few minutes once; stamped, then skipped).
/usr/bin/python3 "$root/tools/train_fashion.py" "$build/fixtures"
