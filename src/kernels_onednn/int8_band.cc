// Banded pointwise int8 convs (see BandPlan in onednn_internal.h). An NHWC
// 1x1 conv with stride 1 and no padding is a GEMM over the N*H*W pixel rows:
// a primitive made for a [1, C, 1, band] image runs on successive row offsets
// of the input. Each band's int32 sums are requantized right after, while
// they are still in L2, instead of writing the whole int32 output and reading
// it back in a second pass. The threads share the bands in one OpenMP region
// (oneDNN runs single-threaded inside it), so a conv costs one fork-join
// instead of two. A pointwise conv too small for bands but not for two
// threads, and a dense conv on one image, run as one part per thread instead
// (RowPart, onednn_internal.h).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

// A band's int32 sums up to this size stay in L2 (1 MiB a core here) next to
// its input and output; convs whose whole int32 output is no larger run whole.
constexpr int64_t kBandAccBytes = 256 << 10;
// Fewer rows per execution make oneDNN's GEMM inefficient: such convs run whole.
constexpr int64_t kMinBandRows = 16;

int64_t AttrOr(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return i < v.size() ? v[i] : fallback; }

}  // namespace

int64_t PointwiseRows(const Graph& g, const Node& n, const PreparedKernel& k) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  const Tensor& w = g.tensors[n.inputs[1]];
  if (x.rank != 4 || y.rank != 4 || x.layout != TensorLayout::kChannelsLast || y.layout != TensorLayout::kChannelsLast)
    return 0;
  if (n.GetInt("group", 1) != 1 || w.shape.size() != 4 || w.shape[2] != 1 || w.shape[3] != 1) return 0;
  const std::vector<int64_t> s = n.GetInts("strides"), p = n.GetInts("pads");
  if (AttrOr(s, 0, 1) != 1 || AttrOr(s, 1, 1) != 1) return 0;
  if (std::any_of(p.begin(), p.end(), [](int64_t v) { return v != 0; })) return 0;
  const int64_t rows = y.dims[0] * y.dims[2] * y.dims[3];
  if (rows != x.dims[0] * x.dims[2] * x.dims[3] || y.dims[1] <= 0) return 0;
  return rows;
}

int64_t RowParts(const Graph& g, const Node& n, const PreparedKernel& k, int threads, int64_t band) {
  if (band > 0 || threads < 2) return 0;
  // Runs shorter than this leave oneDNN's GEMM too little to do per call.
  constexpr int64_t kMinPartRows = 8;
  if (const int64_t rows = PointwiseRows(g, n, k)) return rows >= kMinPartRows * threads ? threads : 0;
  // Any other dense int8 conv on one channels-last image (MobileNet's stem,
  // ResNet's 3x3s): runs of output image rows, each thread's int32 sums in
  // its own L2 until it requantizes them (oneDNN splits the conv its own
  // way, and the requantization pass then read half the sums from the other
  // core's cache).
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  if (x.rank != 4 || y.rank != 4 || x.layout != TensorLayout::kChannelsLast || y.layout != TensorLayout::kChannelsLast ||
      x.dims[0] != 1 || n.GetInt("group", 1) != 1 || g.tensors[n.inputs[1]].shape.size() != 4)
    return 0;
  constexpr int64_t kMinPartImageRows = 4;
  if (y.dims[2] < kMinPartImageRows * threads) return 0;
  // Every part's window must cover some input row (not only padding).
  const std::vector<int64_t> s = n.GetInts("strides"), d = n.GetInts("dilations"), p = n.GetInts("pads");
  const int64_t sh = AttrOr(s, 0, 1), dh = AttrOr(d, 0, 1), pt = AttrOr(p, 0, 0), kh = g.tensors[n.inputs[1]].shape[2];
  for (int64_t i = 0; i < threads; ++i) {
    const int64_t first = y.dims[2] * i / threads, last = y.dims[2] * (i + 1) / threads - 1;
    if (std::max<int64_t>(0, first * sh - pt) >= std::min(x.dims[2], last * sh - pt + (kh - 1) * dh + 1)) return 0;
  }
  return threads;
}

int64_t BandRows(const Graph& g, const Node& n, const PreparedKernel& k, int threads) {
  const int64_t rows = PointwiseRows(g, n, k), channels = k.outputs[0].dims[1];
  if (rows == 0 || rows * channels * 4 <= kBandAccBytes) return 0;
  // The largest divisor of rows whose sums fit kBandAccBytes, giving every
  // thread as many bands (no tail band: one primitive serves every band; no
  // thread waits for another's extra band).
  const int64_t t = std::max(threads, 1);
  for (int64_t band = std::min(kBandAccBytes / (4 * channels), rows / t); band >= kMinBandRows; --band)
    if (rows % band == 0 && (rows / band) % t == 0) return band;
  return 0;
}

void SplitIntoBands(const PreparedKernel& k, int64_t band, int threads, PrimitiveState* st) {
  BandPlan& plan = st->bands;
  const TensorDesc& y = k.outputs[0];
  plan.band = band;
  plan.count = y.dims[0] * y.dims[2] * y.dims[3] / band;
  plan.x_row_bytes = k.inputs[0].dims[1];  // int8: a byte per channel
  plan.y_row_bytes = y.dims[1];
  plan.slice_bytes = (st->scratchpad_bytes + 63) / 64 * 64;
  const dnnl::engine& engine = Engine();
  plan.slots.assign(static_cast<size_t>(std::max(threads, 1)), {});
  for (size_t t = 0; t < plan.slots.size(); ++t) {
    BandPlan::Slot& slot = plan.slots[t];
    slot.stream = dnnl::stream(engine);
    slot.args = st->args;
    slot.eval_args = st->eval_args;
    for (EvalArg& a : slot.eval_args) {  // a memory object of its own for every argument set at Eval
      const dnnl_memory_desc_t* md = nullptr;
      if (dnnl_memory_get_memory_desc(st->args[a.slot].memory, &md) != dnnl_success)
        throw dnnl::error(dnnl_runtime_error, "cannot read a memory descriptor");
      st->memories.emplace_back(dnnl::memory::desc(*md), engine, static_cast<void*>(DNNL_MEMORY_NONE));
      slot.args[a.slot].memory = st->memories.back().get();
      a.bound = nullptr;
    }
  }
  st->scratchpad_bytes = plan.slice_bytes * static_cast<int64_t>(plan.slots.size());
  st->implementation += " in bands of " + std::to_string(band) + " rows";
}

bool RunBands(PrimitiveState& st, const void* const* inputs, void* const* outputs, void* scratch) {
  BandPlan& plan = st.bands;
  const int threads = std::min(static_cast<int>(plan.slots.size()), omp_get_max_threads());
  const unsigned char* x = static_cast<const unsigned char*>(inputs[0]);
  int8_t* y = static_cast<int8_t*>(outputs[0]);
  std::atomic<bool> ok{true};
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    BandPlan::Slot& slot = plan.slots[static_cast<size_t>(t)];
    unsigned char* slice = static_cast<unsigned char*>(scratch) + plan.slice_bytes * t;
    const int32_t* acc = reinterpret_cast<const int32_t*>(slice + st.int8.acc_offset);
    dnnl_stream_t s = slot.stream.get();
    const int64_t first = plan.count * t / nt, last = plan.count * (t + 1) / nt;
    for (int64_t b = first; b < last && ok.load(std::memory_order_relaxed); ++b) {
      for (EvalArg& a : slot.eval_args) {
        void* p = a.source == ArgSource::kInput ? const_cast<unsigned char*>(x) + b * plan.band * plan.x_row_bytes
                                                : static_cast<void*>(slice + a.offset);
        if (p == a.bound) continue;
        if (dnnl_memory_set_data_handle_v2(slot.args[a.slot].memory, p, s) != dnnl_success) ok = false;
        a.bound = p;
      }
      if (!ok || dnnl_primitive_execute(st.primitive.get(), s, static_cast<int>(slot.args.size()), slot.args.data()) !=
                     dnnl_success) {
        ok = false;
        break;
      }
      dnnl_stream_wait(s);
      RequantRows(st.int8, acc, y + b * plan.band * plan.y_row_bytes, plan.band);
    }
  }
  return ok;
}

}  // namespace edgesplit::onednn
