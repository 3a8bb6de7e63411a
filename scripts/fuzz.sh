#!/usr/bin/env bash
# Fuzzes the ONNX importer, then the profile/instance parsers (fuzz/profile_fuzz.cc), then the wire format (fuzz/wire_fuzz.cc), for N seconds each (default 60) with libFuzzer, ASan and
# UBSan. Builds build-fuzz/ with clang++-14, seeds a temporary corpus with
# models from Debian's libonnx-testdata and the ONNX tests' crafted models
# (fuzz/make_onnx_seeds.cc), and exits non-zero when the fuzzer
# finds a crash, a sanitizer report, a leak or a hang. Crashing inputs are kept
# in build-fuzz/fuzz-artifacts/ to reproduce with:
#   build-fuzz/fuzz/onnx_import_fuzz build-fuzz/fuzz-artifacts/crash-...
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
testdata=/usr/share/libonnx-testdata/data
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1  # as scripts/build.sh

CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGESPLIT_FUZZ=ON -DEDGESPLIT_TESTS=OFF -DEDGESPLIT_BENCH=OFF >/dev/null
cmake --build "$build" --target onnx_import_fuzz make_onnx_seeds profile_fuzz wire_fuzz make_wire_seeds trace_fuzz segment_fuzz make_segment_seeds net_fuzz -j2

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
# Seeds covering convs, pooling, shape-constant folding and legacy attribute forms.
seeds=(
  node/test_conv_with_strides_padding node/test_maxpool_2d_pads node/test_averagepool_2d_pads
  node/test_gemm_all_attributes node/test_concat_3d_axis_1 node/test_softmax_axis_1 node/test_clip
  node/test_reshape_negative_dim node/test_slice node/test_split_variable_parts_2d node/test_unsqueeze_two_axes
  node/test_batchnorm_example node/test_qlinearconv node/test_quantizelinear_axis node/test_constant_pad
  node/test_gather_0 node/test_shape node/test_reduce_mean_keepdims_example node/test_transpose_default
  pytorch-converted/test_PixelShuffle pytorch-converted/test_GLU pytorch-operator/test_operator_index
  pytorch-operator/test_operator_pad pytorch-converted/test_MaxPool2d_stride_padding_dilation
)
for seed in "${seeds[@]}"; do
  if [[ -f "$testdata/$seed/model.onnx" ]]; then
    cp "$testdata/$seed/model.onnx" "$corpus/$(basename "$seed").onnx"
  fi
done

"$build/fuzz/make_onnx_seeds" "$corpus"

mkdir -p "$build/fuzz-artifacts"
"$build/fuzz/onnx_import_fuzz" "$corpus" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1

# Profile and planner-instance parsers, seeded with the shipped profiles and a
# dumped instance; same time budget.
profile_corpus="$(mktemp -d)"
trap 'rm -rf "$corpus" "$profile_corpus"' EXIT
cp "$root"/profiles/devices/*.json "$root"/profiles/links/*.json "$profile_corpus/"
cat > "$profile_corpus/problem.json" <<'JSON'
{"schema_version":1,"input_bytes":100,"devices":[{"name":"a","weight_capacity_bytes":1000,"ram_bytes":1000},
 {"name":"b","weight_capacity_bytes":500,"ram_bytes":800,"active_w":0.2,"idle_w":0.1,"tx_w":1,"rx_w":0.3}],
 "layers":[{"name":"g0","weight_bytes":400,"out_bytes":50,"arena_bytes":300,"compute_s":[0.1,0.2]},
 {"name":"g1","weight_bytes":300,"out_bytes":10,"arena_bytes":700,"compute_s":[0.3,0.1]}],
 "link":{"per_message_s":0.004,"per_frame_s":0.0012,"payload_bytes":250,"bytes_per_s":125000,"loss":0.1,"shared_medium":true}}
JSON
"$build/fuzz/profile_fuzz" "$profile_corpus" \
  -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1

# Wire format: messages, datagrams and the reassembler/sender state machines,
# seeded with valid frames and datagram sequences (fuzz/make_wire_seeds.cc).
wire_corpus="$(mktemp -d)"
trap 'rm -rf "$corpus" "$profile_corpus" "$wire_corpus"' EXIT
"$build/fuzz/make_wire_seeds" "$wire_corpus"
"$build/fuzz/wire_fuzz" "$wire_corpus" \
  -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1

# Trace CSV parser + simulator (fuzz/trace_fuzz.cc), seeded with small traces.
trace_corpus="$(mktemp -d)"
trap 'rm -rf "$corpus" "$profile_corpus" "$wire_corpus" "$trace_corpus"' EXIT
printf 'time_s,rate_bytes_per_s,server_load\n0,12500,1\n1,2500000,3.5\n2,0,1\n' > "$trace_corpus/basic.csv"
printf '# comment\r\ntime_s,rate_bytes_per_s,server_load,extra\r\n0, 1e5 ,1,x\r\n' > "$trace_corpus/crlf.csv"
"$build/fuzz/trace_fuzz" "$trace_corpus" \
  -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1

# Flat segment files (fuzz/segment_fuzz.cc), seeded with small f32 and int8
# segments of zoo models (fuzz/make_segment_seeds.cc).
segment_corpus="$(mktemp -d)"
trap 'rm -rf "$corpus" "$profile_corpus" "$wire_corpus" "$trace_corpus" "$segment_corpus"' EXIT
"$build/fuzz/make_segment_seeds" "$segment_corpus"
"$build/fuzz/segment_fuzz" "$segment_corpus" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1

# Addresses and transport names (fuzz/net_fuzz.cc), seeded with valid ones.
net_corpus="$(mktemp -d)"
trap 'rm -rf "$corpus" "$profile_corpus" "$wire_corpus" "$trace_corpus" "$segment_corpus" "$net_corpus"' EXIT
printf '127.0.0.1:5000' > "$net_corpus/endpoint"
printf '6001' > "$net_corpus/port"
printf 'espnow' > "$net_corpus/transport"
"$build/fuzz/net_fuzz" "$net_corpus" \
  -max_total_time="$seconds" -max_len=256 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1
