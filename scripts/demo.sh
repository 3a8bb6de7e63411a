#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the demo on built-in
# defaults. The demo grows with every capability that lands.
set -euo pipefail  # (output is cut with sed, which reads to the end: head would SIGPIPE the writer)
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
es="$root/build/edgesplit"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

banner() { printf '\n==== %s\n' "$*"; }

# A [1,3,224,224] float32 .npy input without Python: a numpy 1.0 header, then 16
# values in [-1, 1] repeated (150528 = 9408 x 16 floats).
write_input_npy() {
  local header="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }"
  header=$(printf '%-117s' "$header")  # 10 + 118 bytes: a multiple of 64 with the newline
  local block='\x00\x00\x80\xbf\x00\x00\x20\xbf\x00\x00\x80\xbe\x00\x00\x00\x3e\x00\x00\x00\x3f\x00\x00\x60\x3f\x00\x00\x60\xbf\x00\x00\x00\xbf\x00\x00\x00\xbe\x00\x00\x80\x3e\x00\x00\x20\x3f\x00\x00\x80\x3f\x00\x00\x40\xbf\x00\x00\xc0\xbe\x00\x00\x00\x00\x00\x00\xc0\x3e'
  { printf '\x93NUMPY\x01\x00\x76\x00%s\n' "$header"; for ((i = 0; i < 9408; i++)); do printf "$block"; done; } >"$1"
}

banner "1. The seed paper's model: MobileNetV2 (alpha 0.35, 224x224). Cut points, activation memory, bottlenecks"
"$es" inspect mobilenet_v2:alpha=0.35,res=224

banner "2. Split after block_16_project_BN (the paper's cut): two ONNX segments and a manifest"
"$es" split mobilenet_v2:alpha=0.35,res=224 --split block_16_project_BN --out-dir "$out/mbv2"
# The cut tensor, from the manifest (no JSON tool needed: the manifest is indented one key a line).
grep -A12 '"cut_tensors"' "$out/mbv2/manifest.json" | grep -E '"(after|bytes_int8|bytes_f32)"' | tr -d ' ,' | paste -sd' '

banner "3. Real f32 inference (oneDNN backend): head then tail at the cut, bit-identical to the whole model"
write_input_npy "$out/input.npy"
"$es" infer mobilenet_v2:alpha=0.35,res=224 --input "$out/input.npy" --split block_16_project_BN --top 3 --output "$out/split.npy"
"$es" infer mobilenet_v2:alpha=0.35,res=224 --input "$out/input.npy" --output "$out/whole.npy" >/dev/null
cmp "$out/split.npy" "$out/whole.npy" && echo "split output == whole-model output, byte for byte"

banner "4. The two backends on MobileNetV2-1.0 @224: oneDNN (channels-last, fused) vs the portable reference loops"
"$es" bench-engine mobilenet_v2:alpha=1.0,res=224 --threads 2 --repeat 20 | sed -n 1,1p
"$es" bench-engine mobilenet_v2:alpha=1.0,res=224 --backend reference --repeat 3 | sed -n 1,1p

banner "5. int8 (TFLite scheme): quantize to QDQ ONNX, run it split at the paper's cut; the cut tensor crosses as 5,488 int8 bytes"
"$es" quantize mobilenet_v2:alpha=0.35,res=224 -o "$out/mbv2_int8.onnx"
"$es" infer "$out/mbv2_int8.onnx" --input "$out/input.npy" --split block_16_project_BN --backend reference --top 3 --output "$out/split8.npy"
"$es" infer "$out/mbv2_int8.onnx" --input "$out/input.npy" --backend reference --output "$out/whole8.npy" >/dev/null
cmp "$out/split8.npy" "$out/whole8.npy" && echo "int8 split output == int8 whole-model output, byte for byte"
"$es" sqnr mobilenet_v2:alpha=0.35,res=96 --samples 4 | sed -n 1,8p
echo "int8 ResNet50 on oneDNN's VNNI s8 kernels (same bits as the reference int8 kernels) against f32:"
"$es" bench-engine resnet50 --dtype int8 --threads 2 --repeat 10 | sed -n 1,1p
"$es" bench-engine resnet50 --threads 2 --repeat 10 | sed -n 1,1p

banner "6. ResNet50 split into three segments (what several ESP32-S3 boards would share)"
"$es" split resnet50 --split conv3_block4_out,conv4_block6_out --out-dir "$out/r50"

banner "7. Natural bottlenecks of ResNet18 (strict rule), as CSV"
"$es" inspect resnet18 --format csv | awk -F, 'NR==1 || $NF==1'

banner "8. Where to split MobileNetV2-0.35 over two ESP32-S3 boards on ESP-NOW (emulated device and link profiles, calibrated: docs/calibration.md)"
"$es" plan mobilenet_v2:alpha=0.35,res=224 --devices esp32s3,esp32s3 --link espnow --use-all

banner "9. The seed paper's optimizer experiment: every algorithm vs the exact dp, 1..5 ESP32-S3 on ESP-NOW (emulated profiles)"
"$es" compare mobilenet_v2:alpha=0.35,res=224 --devices esp32s3,esp32s3,esp32s3,esp32s3,esp32s3 --link espnow --use-all

banner "10. ResNet50 int8 (24 MiB of weights) needs at least three 13 MiB ESP32-S3 flash partitions; dp finds the best chain"
"$es" plan resnet50 --devices esp32s3,esp32s3,esp32s3,esp32s3 --link espnow

banner "11. This machine measured: per-layer timing, a fitted device profile, its error on models it was not fitted on"
"$es" profile --measure -o "$out/host.json"

banner "12. Two node processes over emulated ESP-NOW (250-byte frames), int8, results checked against local inference (EMULATED timing, time scale 0.1)"
"$es" run mobilenet_v2:alpha=0.35,res=224 --split block_16_project_BN --link espnow --devices esp32s3,esp32s3 --dtype int8 --repeat 3 --time-scale 0.1

banner "12b. Over-the-air delivery: the nodes start empty and receive their flat int8 segments over ESP-NOW, SHA-256 + Ed25519 signed, then serve (EMULATED, time scale 0.01)"
"$es" keygen -o "$out/ota"
"$es" run mobilenet_v2:alpha=0.35,res=224 --split block_16_project_BN --link espnow --devices esp32s3,esp32s3 --dtype int8 --repeat 2 --time-scale 0.01 --deliver --sign-key "$out/ota"

banner "12c. Real TCP under 20% real packet loss: a network namespace whose loopback drops packets (netem or nftables), results still bit-exact (REAL sockets and kernel TCP; root only)"
if mech=$("$root/scripts/netns.sh" check 2>"$out/netns.err"); then
  echo "impairment: $mech"
  "$root/scripts/netns.sh" loss-lo es_demo 20 --bounded-rto
  ip netns exec es_demo "$es" run mobilenet_v2:alpha=0.35,res=96 --split block_3_depthwise_relu --link tcp --repeat 3 --timeout 120 || echo "(run under loss failed)"
  echo "packets dropped by the impairment: $("$root/scripts/netns.sh" dropped es_demo)"
  "$root/scripts/netns.sh" down es_demo
else
  echo "skipped: $(cat "$out/netns.err")"
fi

banner "12d. Attach instead of spawn: two sealed 'edgesplit node' processes started on their own (as on two machines), then 'run --attach' sends through them (REAL sockets, host speed)"
port=$(( 20000 + RANDOM % 20000 ))
rm -f "$out"/{client,head,tail}{,.pub}
for k in client head tail; do "$es" keygen -o "$out/$k" > /dev/null; done
echo "client $(cat "$out/client.pub")" > "$out/head.allow"   # each enrols its sender
echo "head $(cat "$out/head.pub")" > "$out/tail.allow"
echo "tail $(cat "$out/tail.pub")" > "$out/client.allow"
"$es" node --model mobilenet_v2:alpha=0.35,res=96 --segment block_3_project_BN:output --listen 127.0.0.1:$((port + 1)) \
  --next 127.0.0.1:$port --link udp --shape off --key "$out/tail" --allow "$out/tail.allow" --server-key "$out/client.pub" > "$out/tail.log" &
tail_pid=$!
"$es" node --model mobilenet_v2:alpha=0.35,res=96 --segment input:block_3_project_BN --listen 127.0.0.1:$((port + 2)) \
  --next 127.0.0.1:$((port + 1)) --link udp --shape off --key "$out/head" --allow "$out/head.allow" --server-key "$out/tail.pub" > "$out/head.log" &
head_pid=$!
for _ in $(seq 100); do grep -q listening "$out/head.log" "$out/tail.log" 2>/dev/null && [[ $(grep -l listening "$out/head.log" "$out/tail.log" | wc -l) -eq 2 ]] && break; sleep 0.2; done
"$es" run mobilenet_v2:alpha=0.35,res=96 --split block_3_project_BN --link udp --shape off --repeat 3 \
  --attach 127.0.0.1:$((port + 2)),127.0.0.1:$((port + 1)) --listen 127.0.0.1:$port \
  --key "$out/client" --server-key "$out/head.pub" --allow "$out/client.allow" || echo "(attach run failed)"
kill -TERM "$head_pid" "$tail_pid" 2>/dev/null; wait "$head_pid" "$tail_pid" 2>/dev/null || true

banner "13. A 3-device plan executed as a chain of processes: predictions beside measurements (EMULATED timing, time scale 0.25)"
"$es" plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,esp32s3,esp32s3 --link espnow --use-all --dtype f32 --format json > "$out/p3.json"
"$es" run mobilenet_v2:alpha=0.35,res=96 --plan "$out/p3.json" --time-scale 0.25 --repeat 3

banner "13b. A link per hop: ESP32-S3 sensor -ESP-NOW-> RPi4 gateway -Ethernet-> x86 server -UDP-> sensor, each hop shaped by its own link (EMULATED, real time)"
"$es" plan mobilenet_v2:alpha=0.35,res=96 --devices esp32s3,rpi4,edge-x86 --links "$root/examples/links/sensor_gateway_server.json" --use-all --dtype int8 --format json > "$out/p3links.json"
"$es" run mobilenet_v2:alpha=0.35,res=96 --plan "$out/p3links.json" --repeat 3 | sed -n '2p;/^plan/,$p'

banner "14. The seed paper's protocol experiment: UDP, TCP, ESP-NOW, BLE (EMULATED radios and devices, time scale 0.25; figures in emulated seconds)"
"$es" bench-protocols --time-scale 0.25

banner "15. Dynamic split computing: where the best split changes with the data rate, and a step trace replayed through every policy"
"$es" policy mobilenet_v2 --device esp32s3-espnn --server edge-x86 --link udp | sed -n 1,22p
"$es" simulate mobilenet_v2 --device esp32s3-espnn --server edge-x86 --link udp --generate step --seed 1 --steps 200

banner "15b. Live dynamic split: the sensor (esp32s3-espnn; the request path of 'device --dynamic') picks the split per request against 'serve --emulate edge-x86' as the UDP rate drops to 1 Mbit/s and recovers, then the server dies and comes back (EMULATED)"
printf 'request,rate_bytes_per_s,server_load,server\n1,1.6e6,1,up\n9,125000,1,up\n17,1.6e6,1,up\n25,1.6e6,1,down\n29,1.6e6,1,up\n' > "$out/schedule.csv"
"$es" run mobilenet_v2:alpha=0.35,res=96 --dynamic --devices esp32s3-espnn,edge-x86 --link udp --repeat 34 --probe-interval 0.2 --schedule "$out/schedule.csv"

banner "15c. One page of charts: cut points, the planners, the round trip per protocol beside the paper, a dynamic trace (predicted; docs/report.md)"
if "$es" report -o "$root/build/edgesplit-report.html"; then
  echo "report: $root/build/edgesplit-report.html (one self-contained file: open it in a browser, works offline)"
else
  echo "(report skipped: the message above says what is missing)"
fi

banner "16. The device core on a Cortex-M4 (QEMU mps2-an386): flat int8 segment, flash/RAM per module, the cut tensor it computes (tests/mcu_test.cc: equal to the host's, byte for byte)"
"$es" split mobilenet_v2:alpha=0.35,res=224 --split block_16_project_BN --format flat --dtype int8 --out-dir "$out/flat"
if command -v arm-none-eabi-g++ >/dev/null && command -v qemu-system-arm >/dev/null; then
  "$root/tools/build-mcu.sh" --res 96 --run --edgesplit "$es"
else
  echo "skipped: the Arm toolchain and QEMU come with the test command (scripts/install-deps.sh --test)"
fi

banner "17. The edge server: one 'serve' process with two workers, 200 emulated devices at once over UDP (mixed cuts, batched where batches pay), every result checked against local inference (REAL sockets and compute)"
# Secure links (docs/security.md): keys made by keygen, the devices enrolled, every datagram sealed.
keys=$(mktemp -d)
"$es" keygen -o "$keys/server" >/dev/null && "$es" keygen -o "$keys/sensor" >/dev/null
echo "sensor $(cat "$keys/sensor.pub")" > "$keys/allow"
"$es" serve mobilenet_v2:alpha=0.35,res=96 --link udp --max-batch 8 --workers 2 --batching adaptive --id edge-demo --key "$keys/server" --allow "$keys/allow" \
  > "$out/serve.line" 2>"$out/serve.err" &
serve_pid=$!
for _ in $(seq 100); do [[ -s "$out/serve.line" ]] && break; sleep 0.1; done
cat "$out/serve.line"
addr=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$out/serve.line")
sealed=(--key "$keys/sensor" --server-key "$keys/server.pub")  # the 200 emulated devices share one enrolled identity
"$es" loadgen mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --clients 200 --requests 10 --precompute --format table "${sealed[@]}"
echo "16 periodic devices at 100 requests/s each, every one on its own seeded phase (--phases fixed), then spreading out of slots where they queue (the default):"
for phases in fixed spread; do
  "$es" loadgen mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --clients 16 --requests 200 --request-rate 100 --phases "$phases" --precompute --format table "${sealed[@]}" | grep -v "^per server"
done
echo "a device with a fixed split at block_6_project_BN:"
"$es" device mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --split block_6_project_BN --requests 3 "${sealed[@]}"
echo "a device whose key is not enrolled (exits 3):"
"$es" keygen -o "$keys/stranger" >/dev/null
"$es" device mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --split block_6_project_BN --requests 1 \
  --key "$keys/stranger" --server-key "$keys/server.pub" || echo "exit status $?"
echo "the same cut tensor through cut-tensor codecs (docs/codecs.md): the server decodes, lossy results are checked against the decoded reference:"
"$es" device mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --split block_6_project_BN --codec int4+lz4 --requests 2 "${sealed[@]}"
"$es" loadgen mobilenet_v2:alpha=0.35,res=96 --connect "$addr" --codec fp16+zstd --clients 20 --requests 5 --precompute --format table "${sealed[@]}"
kill -TERM "$serve_pid"; wait "$serve_pid" || true
cat "$out/serve.err"
rm -rf "$keys"

banner "17b. Scale-out: 3 'serve --mqtt' replicas behind one mosquitto broker (shared subscription), one killed mid-run; devices retry, nothing is lost"
if [[ -x /usr/sbin/mosquitto ]]; then
  port=$((20000 + RANDOM % 20000))  # a port nothing answers on
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 20000)); done
  sed "s/@PORT@/$port/" "$root/tests/data/mosquitto.conf" > "$out/mosquitto.conf"
  /usr/sbin/mosquitto -c "$out/mosquitto.conf" 2>"$out/mosquitto.err" &
  broker_pid=$!
  sleep 0.5
  replica_pids=()
  for r in r1 r2 r3; do
    "$es" serve mobilenet_v2:alpha=0.35,res=96 --mqtt "127.0.0.1:$port" --id "$r" --threads 1 --insecure > "$out/$r.line" 2>/dev/null &
    replica_pids+=($!)
  done
  for r in r1 r2 r3; do for _ in $(seq 100); do [[ -s "$out/$r.line" ]] && break; sleep 0.1; done; cat "$out/$r.line"; done
  ( sleep 1.5; kill -KILL "${replica_pids[1]}"; echo "(killed replica r2)" ) &
  killer=$!
  "$es" loadgen mobilenet_v2:alpha=0.35,res=96 --mqtt "127.0.0.1:$port" --clients 20 --requests 30 --request-rate 10 --mqtt-retry 0.5 --precompute --format table --insecure
  wait "$killer"
  kill -TERM "${replica_pids[0]}" "${replica_pids[2]}" 2>/dev/null || true
  kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
else
  echo "skipped: mosquitto is not installed"
fi
