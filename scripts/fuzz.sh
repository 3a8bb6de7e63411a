#!/usr/bin/env bash
# Fuzzes every parser of outside bytes for N seconds each (default 60) with
# libFuzzer, ASan and UBSan: the ONNX importer, the profile/instance parsers,
# the wire format, the trace CSV parser + simulator, flat segment files,
# addresses/transport names, and the secure-link handshake messages and sealed
# frames, the JSON documents `report --from` reads, plan files and MCU traces (one fuzz/<name>_fuzz.cc each). Builds build-fuzz/
# with clang++-14. Each target starts from a temporary corpus seeded from
# fuzz/seeds/<name>/ and generated seeds (valid models, frames, segments), and
# first replays fuzz/regressions/<name>/: inputs that once crashed, kept so a
# fixed bug stays fixed.
#
# The fuzzer's seed is fixed (EDGESPLIT_FUZZ_SEED, default 1) and each target's
# executions are capped (the third field below: about what a 60 s run reaches on
# the 2-core build machine). With a fixed seed libFuzzer's mutations depend only
# on the execution count, so a CI run repeats, or stops early in, a run that was
# checked before the change landed: CI does not turn red on a new finding that
# the change did not cause. Hunting for new bugs is a separate, longer run:
# EDGESPLIT_FUZZ_SEED=0 (a fresh random seed, no execution cap) and more SECONDS.
# Exits non-zero when a target finds a crash, a sanitizer report, a leak or a
# hang. Crashing inputs are kept in build-fuzz/fuzz-artifacts/; reproduce with
#   build-fuzz/fuzz/<name>_fuzz build-fuzz/fuzz-artifacts/crash-...
# and add the input to fuzz/regressions/<name>/ with the fix.
set -euo pipefail

seconds="${1:-60}"
seed="${EDGESPLIT_FUZZ_SEED:-1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
testdata=/usr/share/libonnx-testdata/data
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1  # as scripts/build.sh

# name:max_len:max_runs, in the order they run.
targets=(onnx_import:65536:500000 profile:8192:180000 wire:16384:200000 trace:4096:750000 segment:65536:1000000
         net:256:8000000 dynamic_control:4096:2400000 delivery:16384:330000 serve:32768:23000 idx:65536:300000
         codec:16384:300000 secure_link:2048:50000 report:65536:100000 secure_transport:2048:20000
         plan_file:16384:100000 mcu_trace:4096:300000)

CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDGESPLIT_FUZZ=ON -DEDGESPLIT_TESTS=OFF -DEDGESPLIT_BENCH=OFF >/dev/null
build_targets=(make_onnx_seeds make_wire_seeds make_segment_seeds make_serve_seeds)
for t in "${targets[@]}"; do build_targets+=("${t%%:*}_fuzz"); done
cmake --build "$build" --target "${build_targets[@]}" -j2

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Seeds no directory holds: generated valid inputs and files from elsewhere.
generate_seeds() {
  local name="$1" dir="$2"
  case "$name" in
    onnx_import)
      # Convs, pooling, shape-constant folding and legacy attribute forms.
      local cases=(
        node/test_conv_with_strides_padding node/test_maxpool_2d_pads node/test_averagepool_2d_pads
        node/test_gemm_all_attributes node/test_concat_3d_axis_1 node/test_softmax_axis_1 node/test_clip
        node/test_reshape_negative_dim node/test_slice node/test_split_variable_parts_2d node/test_unsqueeze_two_axes
        node/test_batchnorm_example node/test_qlinearconv node/test_quantizelinear_axis node/test_constant_pad
        node/test_gather_0 node/test_shape node/test_reduce_mean_keepdims_example node/test_transpose_default
        pytorch-converted/test_PixelShuffle pytorch-converted/test_GLU pytorch-operator/test_operator_index
        pytorch-operator/test_operator_pad pytorch-converted/test_MaxPool2d_stride_padding_dilation
      )
      local c
      for c in "${cases[@]}"; do
        if [[ -f "$testdata/$c/model.onnx" ]]; then cp "$testdata/$c/model.onnx" "$dir/$(basename "$c").onnx"; fi
      done
      "$build/fuzz/make_onnx_seeds" "$dir" ;;
    profile) cp "$root"/profiles/devices/*.json "$root"/profiles/links/*.json "$root"/profiles/codecs/*.json "$dir/" ;;
    wire) "$build/fuzz/make_wire_seeds" "$dir" ;;
    segment) "$build/fuzz/make_segment_seeds" "$dir" ;;
    serve) "$build/fuzz/make_serve_seeds" "$dir" ;;
  esac
}

mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
  IFS=: read -r name max_len max_runs <<< "$t"
  if [[ "$seed" == 0 ]]; then max_runs=-1; fi  # hunting: only the time limit
  corpus="$scratch/$name"
  mkdir -p "$corpus"
  generate_seeds "$name" "$corpus"
  if [[ -d "$root/fuzz/seeds/$name" ]]; then cp "$root/fuzz/seeds/$name"/* "$corpus/"; fi
  extra=()
  if [[ -d "$root/fuzz/regressions/$name" ]]; then extra+=("$root/fuzz/regressions/$name"); fi
  echo "== fuzz $name (${seconds} s or $max_runs runs, seed $seed)"
  "$build/fuzz/${name}_fuzz" "$corpus" "${extra[@]}" \
    -seed="$seed" -max_total_time="$seconds" -runs="$max_runs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1
done
