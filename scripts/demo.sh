#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the demo on built-in
# defaults. The demo grows with every capability that lands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
es="$root/build/edgesplit"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

banner() { printf '\n==== %s\n' "$*"; }

banner "1. The seed paper's model: MobileNetV2 (alpha 0.35, 224x224). Cut points, activation memory, bottlenecks"
"$es" inspect mobilenet_v2:alpha=0.35,res=224

banner "2. Split after block_16_project_BN (the paper's cut): two ONNX segments and a manifest"
"$es" split mobilenet_v2:alpha=0.35,res=224 --split block_16_project_BN -o "$out/mbv2"
python3 - "$out/mbv2/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for c in m["cut_tensors"]:
    print(f"cut tensor after {c['after']} (aliases {', '.join(c['aliases'])}): shape {c['shape']}, "
          f"{c['bytes_int8']} bytes int8, {c['bytes_f32']} bytes f32")
PY

banner "3. Real f32 inference (reference kernels): head then tail at the cut, bit-identical to the whole model"
/usr/bin/python3 -c "import numpy as np; np.save('$out/input.npy', np.random.RandomState(0).uniform(-1, 1, (1, 3, 224, 224)).astype('float32'))"
"$es" infer mobilenet_v2:alpha=0.35,res=224 --input "$out/input.npy" --split block_16_project_BN --top 3 --output "$out/split.npy"
"$es" infer mobilenet_v2:alpha=0.35,res=224 --input "$out/input.npy" --output "$out/whole.npy" >/dev/null
cmp "$out/split.npy" "$out/whole.npy" && echo "split output == whole-model output, byte for byte"

banner "4. ResNet50 split into three segments (what several ESP32-S3 boards would share)"
"$es" split resnet50 --split conv3_block4_out,conv4_block6_out -o "$out/r50"

banner "5. Natural bottlenecks of ResNet18 (strict rule), as CSV"
"$es" inspect resnet18 --format csv | awk -F, 'NR==1 || $NF==1'

banner "6. Where to split MobileNetV2-0.35 over two ESP32-S3 boards on ESP-NOW (emulated device and link profiles, calibrated: docs/calibration.md)"
"$es" plan mobilenet_v2:alpha=0.35,res=224 --devices esp32s3,esp32s3 --link espnow --use-all

banner "7. The seed paper's optimizer experiment: every algorithm vs the exact dp, 1..5 ESP32-S3 on ESP-NOW (emulated profiles)"
"$es" compare mobilenet_v2:alpha=0.35,res=224 --devices esp32s3,esp32s3,esp32s3,esp32s3,esp32s3 --link espnow --use-all

banner "8. ResNet50 int8 (24 MiB of weights) needs at least three 13 MiB ESP32-S3 flash partitions; dp finds the best chain"
"$es" plan resnet50 --devices esp32s3,esp32s3,esp32s3,esp32s3 --link espnow

banner "9. This machine measured: per-layer timing, a fitted device profile, its error on models it was not fitted on"
"$es" profile --measure -o "$out/host.json"
