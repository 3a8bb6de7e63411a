// oneDNN primitives for the nodes Classify() accepts: created once, weights
// reordered into the layout the chosen implementation wants, every other
// argument bound to the arena at Eval.
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <memory>
#include <string>

#include "onednn_internal.h"

namespace edgesplit::onednn {
namespace {

using dnnl::memory;
using Dims = memory::dims;

// `d` right-aligned onto `rank` dims (numpy broadcasting), row-major.
memory::desc BroadcastDesc(const TensorDesc& d, int rank) {
  if (d.rank == rank) return ActivationDesc(d);
  TensorDesc wide = d;
  wide.rank = rank;
  const int lead = rank - d.rank;
  for (int i = rank - 1; i >= 0; --i) wide.dims[i] = i >= lead ? d.dims[i - lead] : 1;
  return ActivationDesc(wide);
}

void AppendActivation(const FusedActivation& a, dnnl::post_ops* ops) {
  switch (a.kind) {
    case ActivationKind::kNone:
      break;
    case ActivationKind::kRelu:
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      break;
    case ActivationKind::kLeakyRelu:
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, a.alpha, 0.0f);
      break;
    case ActivationKind::kClip:
      ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, a.min, a.max);
      break;
  }
}

// The node's fused activation as a post-op; with `residual`, then the
// residual Add of a fused conv + Add (a sum post-op: dst += the Add's other
// operand, already in dst) and the Add's own activation (`after`).
dnnl::primitive_attr Attributes(const FusedActivation& a, bool residual = false,
                                const FusedActivation& after = FusedActivation(), const dnnl::post_ops* tail = nullptr) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  AppendActivation(a, &ops);
  if (residual) ops.append_sum(1.0f);
  AppendActivation(after, &ops);
  for (int i = 0; tail && i < tail->len(); ++i) {  // eltwise post-ops of a fused group, in order
    float scale, alpha, beta;
    dnnl::algorithm alg;
    tail->get_params_eltwise(i, scale, alg, alpha, beta);
    ops.append_eltwise(scale, alg, alpha, beta);
  }
  attr.set_post_ops(ops);
  return attr;
}

// Copies constant weights (in the plain layout `user`) into a memory object in
// the implementation's layout `packed`: done once, the memory owns the result.
memory PackWeights(const Tensor& w, const memory::desc& user, const memory::desc& packed, const dnnl::engine& engine) {
  memory source(user, engine, const_cast<uint8_t*>(w.bytes()));
  memory target(packed, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(source, target).execute(stream, source, target);
  stream.wait();
  return target;
}

int64_t Attr(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return i < v.size() ? v[i] : fallback; }

// The int32 accumulators of an int8 conv / inner product go to scratch after
// oneDNN's scratchpad; the Int8Stage requantizes them into the output.
void BindAccumulators(const memory::desc& acc, PrimitiveState* st, const dnnl::engine& engine) {
  const int64_t offset = (st->scratchpad_bytes + 63) / 64 * 64;
  st->BindAtEval(DNNL_ARG_DST, acc, ArgSource::kScratch, 0, engine, offset);
  st->int8.acc_offset = offset;
  st->scratchpad_bytes = offset + static_cast<int64_t>(acc.get_size());
}

bool HasPadding(const std::vector<int64_t>& pads) {
  return std::any_of(pads.begin(), pads.end(), [](int64_t v) { return v != 0; });
}

// An f32 conv that may run as Winograd: dense, 3x3, stride 1, no dilation
// (oneDNN has Winograd for these only; it then also needs AVX-512 and
// channel counts it takes, else creating the primitive fails), and at least
// kWinogradMinOutChannels output channels. Below that the reorders into and
// out of Winograd's blocked copies (their cost per output channel grows as
// the channels shrink) cost more than the transform saves, and the direct
// conv also takes a fused activation tail (2 threads, per conv,
// docs/benchmarks.md: EfficientNetV2-S's 24 -> 24 3x3 at 112x112 0.82 ms as
// Winograd, 0.48 direct with its SiLU; Inception v3's 32 -> 32 0.99 / 0.81;
// from 64 outputs Winograd wins or ties: SqueezeNet's 16 -> 64 expand convs
// (written straight into their Concat) 7% on the whole model, ResNet50's by
// 10-25%). On images below 28x28 (oneDNN's F(2,3) Winograd there) convs of
// 96 to 255 input channels run direct: GoogLeNet's 96 -> 208 .. 192 -> 384
// 3x3s at 14x14 and 7x7 run direct 1.1-2.6x faster than Winograd plus its
// reorders, while ResNet50's 256-channel 14x14 and 512-channel 7x7 ones and
// SqueezeNet's 48 -> 192 and 64 -> 256 at 13x13 still gain or tie (2 threads,
// per conv, docs/benchmarks.md "Grouped conv pass"). A function of the node
// alone, so split and whole runs still take the same kernel.
constexpr int64_t kWinogradMinOutChannels = 64;
constexpr int64_t kWinogradSmallImagePixels = 28 * 28;
constexpr int64_t kDirectOnSmallImagesFrom = 96, kDirectOnSmallImagesBelow = 256;  // input channels

bool WinogradCandidate(int64_t groups, int64_t out_channels, int64_t kh, int64_t kw, const Dims& strides,
                       const Dims& dilates, int64_t in_channels, int64_t out_pixels) {
  return groups == 1 && out_channels >= kWinogradMinOutChannels && kh == 3 && kw == 3 && strides == Dims{1, 1} &&
         dilates == Dims{0, 0} &&
         (out_pixels >= kWinogradSmallImagePixels || in_channels < kDirectOnSmallImagesFrom ||
          in_channels >= kDirectOnSmallImagesBelow);
}

// A grouped (not depthwise) f32 conv on a channels-last input whose rows of
// channels are a multiple of 2 KiB (512 channels and up, by 512) and whose
// image has at least 28x28 pixels. oneDNN 2.6's jit (non-brgconv) grouped
// kernel reads each group's few channels at that power-of-two stride, so they
// land in the same few L1 sets and thrash: ResNeXt101-32x8d's 512-channel
// 3x3 (32 groups of 16) takes 1.26 ms at 56x56 stride 2 and 0.35 ms at 28x28,
// against 0.26 + 0.14 and 0.23 + 0.05 ms for the same conv on blocked copies
// plus the reorders (2 threads, docs/benchmarks.md "Grouped conv pass"). 768
// channels (3 KiB rows), 256 at 56x56 and brgconv's 32+ channels per group
// show no such loss, nor do small images (the reorders cost more there). The
// caller checks the implementation; the rest is a function of the node.
bool GroupedRowsAlias(int64_t groups, int64_t in_channels, const TensorDesc& x) {
  return groups > 1 && groups < in_channels && in_channels % 512 == 0 && x.layout == TensorLayout::kChannelsLast &&
         x.rank == 4 && x.dims[2] * x.dims[3] >= 28 * 28;
}

// A reorder between a tensor's arena layout and a copy in scratch.
SideStep MakeReorder(const memory::desc& from, EvalArg from_at, const memory::desc& to, EvalArg to_at,
                     const dnnl::engine& engine) {
  SideStep r;
  r.from = memory(from, engine, static_cast<void*>(DNNL_MEMORY_NONE));
  r.to = memory(to, engine, static_cast<void*>(DNNL_MEMORY_NONE));
  r.primitive = dnnl::reorder(dnnl::reorder::primitive_desc(engine, from, engine, to));
  r.from_at = from_at;
  r.to_at = to_at;
  return r;
}

// Binds the primitive's dst (call after Finish): the output itself when it has
// the output's layout, else a copy in scratch reordered into the output after
// the primitive (eltwise and batch normalization have one layout for src and
// dst, and a pooling on mixed layouts would get oneDNN's reference kernel).
void BindDst(const memory::desc& dst, const TensorDesc& y, PrimitiveState* st, const dnnl::engine& engine) {
  const memory::desc out = ActivationDesc(y);
  if (dst == out) return st->BindAtEval(DNNL_ARG_DST, dst, ArgSource::kOutput, 0, engine);
  const int64_t at = (st->scratchpad_bytes + 63) / 64 * 64;
  st->BindAtEval(DNNL_ARG_DST, dst, ArgSource::kScratch, 0, engine, at);
  st->after.push_back(MakeReorder(dst, {-1, ArgSource::kScratch, 0, at}, out, {-1, ArgSource::kOutput, 0}, engine));
  st->scratchpad_bytes = at + static_cast<int64_t>(dst.get_size());
  st->implementation += " (on a copy in scratch)";
}

bool IsReferenceImpl(const dnnl::primitive_desc_base& pd) { return std::strncmp(pd.impl_info_str(), "ref", 3) == 0; }

// A conv on layouts of oneDNN's choosing runs on copies of its input and
// output in scratch: reorder in, conv, reorder out. A Winograd conv (oneDNN's,
// on AVX-512 1.3-2.5x faster than its direct conv on ResNet50's 3x3 layers,
// docs/benchmarks.md) wants blocked tensors, and so does a conv whose arena
// layouts would send oneDNN to its reference implementation. Scratch:
// [oneDNN's scratchpad][blocked input][blocked output], 64-byte aligned.
// Everything is a function of the node, so a split run executes the same
// three primitives on the same bytes as a whole run.
void BindThroughScratch(const dnnl::convolution_forward::primitive_desc& pd, const Tensor& w, const memory::desc& w_user,
                  bool has_bias, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine,
                  const memory::desc& out) {
  const auto align = [](int64_t b) { return (b + 63) / 64 * 64; };
  const int64_t src_at = align(static_cast<int64_t>(pd.scratchpad_desc().get_size()));
  const int64_t dst_at = align(src_at + static_cast<int64_t>(pd.src_desc().get_size()));
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kScratch, 0, engine, src_at);
  st->BindOwned(DNNL_ARG_WEIGHTS, PackWeights(w, w_user, pd.weights_desc(), engine));
  if (has_bias) st->BindAtEval(DNNL_ARG_BIAS, pd.bias_desc(), ArgSource::kInput, 2, engine);
  st->BindAtEval(DNNL_ARG_DST, pd.dst_desc(), ArgSource::kScratch, 0, engine, dst_at);
  st->primitive = dnnl::convolution_forward(pd);
  st->Finish(pd, engine);
  st->before.push_back(MakeReorder(ActivationDesc(k.inputs[0]), {-1, ArgSource::kInput, 0}, pd.src_desc(),
                                   {-1, ArgSource::kScratch, 0, src_at}, engine));
  st->after.push_back(MakeReorder(pd.dst_desc(), {-1, ArgSource::kScratch, 0, dst_at}, out, {-1, ArgSource::kOutput, 0}, engine));
  st->scratchpad_bytes = dst_at + static_cast<int64_t>(pd.dst_desc().get_size());
  st->implementation += " (on copies in scratch)";
}

// A run of output rows of an int8 conv (RowPart): its pads (the image's
// edges it touches, top and bottom) and whether x's zero point goes to
// oneDNN, which the whole conv decides (so every part sums the same way).
struct RowSlice {
  std::vector<int64_t> pads;
  bool zero_point_in_onednn = false;
};

void BuildConv(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine,
               const Node* add = nullptr, const RowSlice* slice = nullptr, const memory::desc* dst_view = nullptr);

// `t` as the [1, C, 1, rows] image of `rows` of its channels-last pixel rows.
TensorDesc RowsOf(const TensorDesc& t, int64_t rows) {
  TensorDesc r = t;
  r.dims[0] = r.dims[2] = 1;
  r.dims[3] = rows;
  r.elements = r.dims[1] * rows;
  return r;
}

// An int8 conv as `parts` runs of rows (RowPart), each the conv for its
// rows made for one thread, their scratch slices one after another. A
// pointwise conv splits its pixel rows ([1, C, 1, rows] images); any other
// its output image rows, each part reading the input rows its window
// covers, padded only where the image's edge is.
void BuildRowParts(const Graph& g, const Node& n, const PreparedKernel& k, int64_t parts, PrimitiveState* st,
                   const dnnl::engine& engine) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  const bool pointwise = PointwiseRows(g, n, k) > 0;
  const int64_t rows = pointwise ? y.dims[0] * y.dims[2] * y.dims[3] : y.dims[2];
  const std::vector<int64_t> s = n.GetInts("strides"), d = n.GetInts("dilations"), p = n.GetInts("pads");
  const int64_t sh = Attr(s, 0, 1), dh = Attr(d, 0, 1), kh = g.tensors[n.inputs[1]].shape[2];
  RowSlice slice;
  slice.zero_point_in_onednn = HasPadding(p) && g.tensors[n.inputs[0]].quant.zero_points[0] != 0;
  struct OneThread {  // the parts' primitives are blocked for the one thread each runs on
    int saved = omp_get_max_threads();
    OneThread() { omp_set_num_threads(1); }
    ~OneThread() { omp_set_num_threads(saved); }
  } one_thread;
  int64_t scratch = 0;
  for (int64_t i = 0; i < parts; ++i) {
    const int64_t first = rows * i / parts, count = rows * (i + 1) / parts - first;
    PreparedKernel part_k;
    part_k.inputs = k.inputs;
    part_k.outputs = k.outputs;
    RowPart part;
    part.state = std::make_unique<PrimitiveState>();
    if (pointwise) {
      part_k.inputs[0] = RowsOf(x, count);
      part_k.outputs[0] = RowsOf(y, count);
      part.x_offset = first * x.dims[1];  // int8: a byte per channel
      part.y_offset = first * y.dims[1];
      BuildConv(g, n, part_k, part.state.get(), engine);
    } else {
      // Input rows [top, bottom) of the window over output rows [first, first + count), clipped to the image.
      const int64_t top = first * sh - Attr(p, 0, 0), bottom = (first + count - 1) * sh - Attr(p, 0, 0) + (kh - 1) * dh + 1;
      const int64_t from = std::max<int64_t>(0, top), to = std::min(x.dims[2], bottom);
      slice.pads = {from - top, Attr(p, 1, 0), bottom - to, Attr(p, 3, 0)};
      part_k.inputs[0].dims[2] = to - from;
      part_k.inputs[0].elements = x.dims[1] * (to - from) * x.dims[3];
      part_k.outputs[0].dims[2] = count;
      part_k.outputs[0].elements = y.dims[1] * count * y.dims[3];
      part.x_offset = from * x.dims[3] * x.dims[1];
      part.y_offset = first * y.dims[3] * y.dims[1];
      BuildConv(g, n, part_k, part.state.get(), engine, nullptr, &slice);
    }
    part.scratch_offset = scratch;
    part.stream = dnnl::stream(engine);
    scratch += (part.state->scratchpad_bytes + 63) / 64 * 64;
    st->parts.push_back(std::move(part));
  }
  st->scratchpad_bytes = scratch;
  st->implementation = st->parts[0].state->implementation + " in " + std::to_string(parts) + " runs of rows";
}

// f32: the conv with its bias and fused activation. int8 (s8 x, per-channel
// s8 W): oneDNN sums (x - x_zp) * W into int32 (its src zero point only where
// padding needs it; elsewhere the zero point is folded into the bias) and the
// Int8Stage adds the bias and requantizes.
// With `add` (f32 only): the conv fused with the residual Add after it, whose
// other operand is k.inputs[n.inputs.size()] and whose output k.outputs[0]
// (FusedTensors' order) the executor gives the operand's bytes (in place):
// one primitive with the Add as a sum post-op (oneDNN 2.6's brgconv takes
// no full-tensor binary post-op), taken only where it is the implementation
// the conv alone gets on the same layouts (same accumulation, then one f32
// add as the binary primitive does: the bytes equal the unfused pair's),
// else throws dnnl_unimplemented.
// With `dst_view` (f32, a conv on copies in scratch only: oneDNN 2.6 runs a
// conv writing a strided destination with its reference kernel): the copy of
// the output is reordered into that view (a Concat's channels, concat.cc).
void BuildConv(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine,
               const Node* add, const RowSlice* slice, const memory::desc* dst_view) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  const Tensor& w = g.tensors[n.inputs[1]];
  const bool int8 = x.dtype == DType::kInt8;
  const memory::data_type wt = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const int64_t groups = n.GetInt("group", 1), c = x.dims[1], m = y.dims[1], kh = w.shape[2], kw = w.shape[3];
  const Dims wdims = groups == 1 ? Dims{m, c, kh, kw} : Dims{groups, m / groups, c / groups, kh, kw};
  const memory::desc w_user(wdims, wt, groups == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
  const memory::desc w_any(wdims, wt, memory::format_tag::any);
  const bool has_bias = n.HasInput(2) && !int8;
  const memory::desc bias_md = has_bias ? memory::desc(Dims{m}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  const std::vector<int64_t> s = n.GetInts("strides"), d = n.GetInts("dilations"), p = slice ? slice->pads : n.GetInts("pads");
  const Dims strides{Attr(s, 0, 1), Attr(s, 1, 1)};
  const Dims dilates{Attr(d, 0, 1) - 1, Attr(d, 1, 1) - 1};  // oneDNN counts the gaps
  const Dims pad_l{Attr(p, 0, 0), Attr(p, 1, 0)}, pad_r{Attr(p, 2, 0), Attr(p, 3, 0)};
  // A banded pointwise conv (int8_band.cc) is made for a [1, C, 1, band] image.
  const int threads = omp_get_max_threads();
  const int64_t band = int8 ? BandRows(g, n, k, threads) : 0;
  if (int8 && !add && !slice) {
    const int64_t parts = RowParts(g, n, k, threads, band);
    if (parts > 1) return BuildRowParts(g, n, k, parts, st, engine);
  }
  const TensorDesc& xs = band ? RowsOf(x, band) : x;
  const memory::desc dst_md = ActivationDesc(band ? RowsOf(y, band) : y, int8 ? memory::data_type::s32 : memory::data_type::f32);
  const auto unfusable = [] { return dnnl::error(dnnl_unimplemented, "the conv + Add pair does not fuse"); };
  const bool tail = st->tail.len() > 0;  // eltwise nodes fused after it (fused_groups.cc)
  // A conv that runs as a Winograd conv alone stays apart from its neighbour.
  if ((add || tail) && (int8 || band || WinogradCandidate(groups, m, kh, kw, strides, dilates, c, y.dims[2] * y.dims[3]) ||
                        WinogradRuns(g, n, k) || (add && !(ActivationDesc(k.inputs[n.inputs.size()]) == ActivationDesc(y)))))
    throw unfusable();
  dnnl::primitive_attr attr = add ? Attributes(n.activation, true, add->activation)
                                  : Attributes(int8 ? FusedActivation() : n.activation, false, FusedActivation(), &st->tail);
  const bool zero_point_in_onednn =
      slice ? slice->zero_point_in_onednn : int8 && HasPadding(p) && g.tensors[n.inputs[0]].quant.zero_points[0] != 0;
  if (zero_point_in_onednn) attr.set_zero_points(DNNL_ARG_SRC, 0, {g.tensors[n.inputs[0]].quant.zero_points[0]});
  if (int8) PrepareRequant(g, n, k, 0, !zero_point_in_onednn, &st->int8);
  // f32 on layouts of oneDNN's choosing (reorders around it, copies in scratch).
  const auto own_layout_pd = [&](dnnl::algorithm alg) {
    const memory::desc x_any(Dims(x.dims, x.dims + 4), memory::data_type::f32, memory::format_tag::any);
    const memory::desc y_any(Dims(y.dims, y.dims + 4), memory::data_type::f32, memory::format_tag::any);
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, alg, x_any, w_any, bias_md, y_any,
                                               strides, dilates, pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(desc, attr, engine);
  };
  if (!int8 && !add && !tail && !slice && !dst_view && BuildWinograd(g, n, k, st)) return;
  if (!int8 && WinogradCandidate(groups, m, kh, kw, strides, dilates, c, y.dims[2] * y.dims[3])) {
    try {
      return BindThroughScratch(own_layout_pd(dnnl::algorithm::convolution_winograd), w, w_user, has_bias, k, st, engine,
                                dst_view ? *dst_view : ActivationDesc(y));
    } catch (const dnnl::error&) {
      // No Winograd implementation for this conv or CPU: the direct conv below.
    }
  }
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             ActivationDesc(xs), w_any, bias_md, dst_md, strides, dilates, pad_l, pad_r);
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
  if ((add || tail) && (IsReferenceImpl(pd) ||
              std::strcmp(pd.impl_info_str(),
                          dnnl::convolution_forward::primitive_desc(desc, Attributes(n.activation), engine).impl_info_str()) != 0))
    throw unfusable();
  // Mixed layouts (channels-last in, row-major out beside a reference-kernel
  // neighbour, e.g. MobileNetV3's HardSigmoid) get oneDNN's reference conv,
  // 50-100x slower than its jit ones: then the conv runs on copies in the
  // layout oneDNN picks (a pure function of the node, like the layouts).
  // So do grouped convs whose channel rows alias in L1 (GroupedRowsAlias).
  if (!int8 && (IsReferenceImpl(pd) || (!add && !tail && GroupedRowsAlias(groups, c, x) &&
                                        std::strncmp(pd.impl_info_str(), "jit:", 4) == 0))) {
    const dnnl::convolution_forward::primitive_desc own = own_layout_pd(dnnl::algorithm::convolution_direct);
    if (!IsReferenceImpl(own)) return BindThroughScratch(own, w, w_user, has_bias, k, st, engine, dst_view ? *dst_view : ActivationDesc(y));
  }
  if (dst_view) throw unfusable();
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kInput, 0, engine);
  st->BindOwned(DNNL_ARG_WEIGHTS, PackWeights(w, w_user, pd.weights_desc(), engine));
  if (has_bias) st->BindAtEval(DNNL_ARG_BIAS, pd.bias_desc(), ArgSource::kInput, 2, engine);
  st->primitive = dnnl::convolution_forward(pd);
  st->Finish(pd, engine);
  if (add) st->implementation += " + Add";
  if (tail) st->implementation += " + eltwise post-ops";
  if (int8) BindAccumulators(pd.dst_desc(), st, engine);
  else st->BindAtEval(DNNL_ARG_DST, pd.dst_desc(), ArgSource::kOutput, 0, engine);
  if (band) SplitIntoBands(k, band, threads, st);
}

// Gemm (B as [K,N], or [N,K] when transB) and MatMul (B as [K,N]). int8:
// int32 sums x * B, the Int8Stage adds C - x_zp * sum B and requantizes.
void BuildInnerProduct(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st,
                       const dnnl::engine& engine) {
  const TensorDesc& x = k.inputs[0];
  const TensorDesc& y = k.outputs[0];
  const Tensor& b = g.tensors[n.inputs[1]];
  const bool int8 = x.dtype == DType::kInt8;
  if (!int8 && BuildStreamingGemm(g, n, k, st)) return;  // few rows: gemv.cc's loop
  const memory::data_type xt = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const int64_t rows = y.dims[0], cols = y.dims[1], depth = x.dims[1];
  const bool trans_b = n.op == OpType::kGemm && n.GetInt("transB", 0) != 0;
  // oneDNN's weights are {N, K}; B = [K, N] is that matrix with strides {1, N}.
  const memory::desc w_user = trans_b ? memory::desc(Dims{cols, depth}, xt, memory::format_tag::oi)
                                      : memory::desc(Dims{cols, depth}, xt, Dims{1, cols});
  const memory::desc w_any(Dims{cols, depth}, xt, memory::format_tag::any);
  const bool has_bias = n.op == OpType::kGemm && n.HasInput(2) && !int8;
  const memory::desc bias_md = has_bias ? memory::desc(Dims{cols}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  const memory::desc src_md(Dims{rows, depth}, xt, memory::format_tag::nc);
  const memory::desc dst_md(Dims{rows, cols}, int8 ? memory::data_type::s32 : memory::data_type::f32, memory::format_tag::nc);
  if (int8) PrepareRequant(g, n, k, trans_b ? 0 : 1, true, &st->int8);
  const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_md, w_any, bias_md, dst_md);
  const dnnl::inner_product_forward::primitive_desc pd(desc, Attributes(int8 ? FusedActivation() : n.activation), engine);
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kInput, 0, engine);
  st->BindOwned(DNNL_ARG_WEIGHTS, PackWeights(b, w_user, pd.weights_desc(), engine));
  if (has_bias) st->BindAtEval(DNNL_ARG_BIAS, pd.bias_desc(), ArgSource::kInput, 2, engine);
  st->primitive = dnnl::inner_product_forward(pd);
  st->Finish(pd, engine);
  if (int8) BindAccumulators(pd.dst_desc(), st, engine);
  else st->BindAtEval(DNNL_ARG_DST, pd.dst_desc(), ArgSource::kOutput, 0, engine);
}

void BuildPool(const Node& n, NativeKind kind, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine) {
  const TensorDesc& x = k.inputs[0];
  TensorDesc y = k.outputs[0];
  if (y.rank == 2) {  // ReduceMean over H, W with keepdims=0: pool into [N, C, 1, 1], the same bytes
    y.rank = 4;
    y.dims[2] = y.dims[3] = 1;
  }
  dnnl::algorithm alg = dnnl::algorithm::pooling_avg_exclude_padding;
  Dims kernel{x.dims[2], x.dims[3]}, strides{1, 1}, dilation{0, 0}, pad_l{0, 0}, pad_r{0, 0};
  if (kind == NativeKind::kPool) {
    if (n.op == OpType::kMaxPool) alg = dnnl::algorithm::pooling_max;
    else if (n.GetInt("count_include_pad", 0) != 0) alg = dnnl::algorithm::pooling_avg_include_padding;
    const std::vector<int64_t> ks = n.GetInts("kernel_shape"), s = n.GetInts("strides"), d = n.GetInts("dilations"),
                               p = n.GetInts("pads");
    for (size_t i = 0; i < 2; ++i) {
      kernel[i] = ks[i];
      strides[i] = Attr(s, i, 1);
      dilation[i] = Attr(d, i, 1) - 1;
      pad_l[i] = Attr(p, i, 0);
      // ceil_mode: the last window may reach past the explicit pads; oneDNN
      // wants that overhang as padding (Classify keeps it out of count_include_pad).
      const int64_t reach = (y.dims[2 + i] - 1) * strides[i] + (kernel[i] - 1) * (dilation[i] + 1) + 1 - x.dims[2 + i] - pad_l[i];
      pad_r[i] = std::max(Attr(p, i + 2, 0), reach);
    }
  }
  const auto make_pd = [&](const memory::desc& dst) {
    const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, ActivationDesc(x), dst, strides,
                                              kernel, dilation, pad_l, pad_r);
    return dnnl::pooling_v2_forward::primitive_desc(desc, Attributes(FusedActivation()), engine);
  };
  dnnl::pooling_v2_forward::primitive_desc pd = make_pd(ActivationDesc(y));
  // Mixed layouts (a reference-kernel producer such as DenseNet's Pad before a
  // channels-last consumer) get oneDNN's reference pooling, 10-20x slower:
  // then pool in the input's layout into scratch and reorder into the output.
  TensorDesc y_as_x = y;
  y_as_x.layout = x.layout;
  if (IsReferenceImpl(pd) && y.layout != x.layout && !IsReferenceImpl(make_pd(ActivationDesc(y_as_x))))
    pd = make_pd(ActivationDesc(y_as_x));
  // A ReduceMean of a row-major input (the int8 graph's, after a
  // DequantizeLinear) would get oneDNN 2.6's reference pooling, 8x slower than
  // the reference backend's loop on [1,1024,7,7]: that one runs it then.
  if (n.op == OpType::kReduceMean && x.layout != TensorLayout::kChannelsLast && IsReferenceImpl(pd))
    throw dnnl::error(dnnl_unimplemented, "row-major ReduceMean");
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kInput, 0, engine);
  st->primitive = dnnl::pooling_v2_forward(pd);
  st->Finish(pd, engine);
  BindDst(pd.dst_desc(), y, st, engine);
}

void BuildBinary(const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine) {
  const TensorDesc& y = k.outputs[0];
  // oneDNN broadcasts src1 only: the full-shape operand goes first (Classify
  // allows swapping only for Add and Mul).
  bool swap = k.inputs[0].elements != y.elements;
  const int a = swap ? 1 : 0, b = swap ? 0 : 1;
  dnnl::algorithm alg = dnnl::algorithm::binary_add;
  if (n.op == OpType::kSub) alg = dnnl::algorithm::binary_sub;
  if (n.op == OpType::kMul) alg = dnnl::algorithm::binary_mul;
  if (n.op == OpType::kDiv) alg = dnnl::algorithm::binary_div;
  const dnnl::binary::desc desc(alg, BroadcastDesc(k.inputs[a], y.rank), BroadcastDesc(k.inputs[b], y.rank), ActivationDesc(y));
  const dnnl::binary::primitive_desc pd(desc, Attributes(n.activation), engine);
  st->BindAtEval(DNNL_ARG_SRC_0, pd.src_desc(0), ArgSource::kInput, a, engine);
  st->BindAtEval(DNNL_ARG_SRC_1, pd.src_desc(1), ArgSource::kInput, b, engine);
  st->BindAtEval(DNNL_ARG_DST, pd.dst_desc(), ArgSource::kOutput, 0, engine);
  st->primitive = dnnl::binary(pd);
  st->Finish(pd, engine);
}

void BuildConcat(const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine) {
  if (BuildChannelsConcat(n, k, st)) return;  // channels-last on channels: concat.cc's loop
  std::vector<memory::desc> srcs;
  for (const TensorDesc& d : k.inputs) srcs.push_back(ActivationDesc(d));
  const dnnl::concat::primitive_desc pd(ActivationDesc(k.outputs[0]), static_cast<int>(n.GetInt("axis", 0)), srcs, engine,
                                        Attributes(FusedActivation()));
  for (size_t i = 0; i < srcs.size(); ++i)
    st->BindAtEval(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i], ArgSource::kInput, static_cast<int>(i), engine);
  st->BindAtEval(DNNL_ARG_DST, pd.dst_desc(), ArgSource::kOutput, 0, engine);
  st->primitive = dnnl::concat(pd);
  st->Finish(pd, engine);
}

float ScalarOr(const Graph& g, const Node& n, size_t input, float fallback) {
  if (!n.HasInput(input)) return fallback;
  float v;
  std::memcpy(&v, g.tensors[n.inputs[input]].bytes(), sizeof v);
  return v;
}

// y = (x - mean) / sqrt(var + eps) * scale + bias with the graph's constants
// (inputs 1-4) bound at Eval like any input; a fused Relu as fuse_norm_relu.
void BuildBatchNorm(const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine) {
  const memory::desc md = ActivationDesc(k.inputs[0]);
  auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
               dnnl::normalization_flags::use_shift;
  if (n.activation.kind == ActivationKind::kRelu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
  const dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, md, n.GetFloat("epsilon", 1e-5f),
                                                     flags);
  const dnnl::batch_normalization_forward::primitive_desc pd(desc, Attributes(FusedActivation()), engine);
  const memory::desc per_channel(Dims{k.inputs[0].dims[1]}, memory::data_type::f32, memory::format_tag::a);
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kInput, 0, engine);
  st->BindAtEval(DNNL_ARG_SCALE, per_channel, ArgSource::kInput, 1, engine);
  st->BindAtEval(DNNL_ARG_SHIFT, per_channel, ArgSource::kInput, 2, engine);
  st->BindAtEval(DNNL_ARG_MEAN, per_channel, ArgSource::kInput, 3, engine);
  st->BindAtEval(DNNL_ARG_VARIANCE, per_channel, ArgSource::kInput, 4, engine);
  st->primitive = dnnl::batch_normalization_forward(pd);
  st->Finish(pd, engine);
  BindDst(pd.dst_desc(), k.outputs[0], st, engine);
}

void BuildEltwise(const Graph& g, const Node& n, const PreparedKernel& k, PrimitiveState* st, const dnnl::engine& engine) {
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
  float alpha = 0.0f, beta = 0.0f;
  switch (n.op) {
    case OpType::kLeakyRelu:
      alpha = n.GetFloat("alpha", 0.01f);
      break;
    case OpType::kSigmoid:
      alg = dnnl::algorithm::eltwise_logistic;
      break;
    case OpType::kHardSwish:
      alg = dnnl::algorithm::eltwise_hardswish;
      break;
    case OpType::kHardSigmoid:  // clip(alpha * x + beta, 0, 1): linear, then the clip in place
      alg = dnnl::algorithm::eltwise_linear;
      alpha = n.GetFloat("alpha", 0.2f);
      beta = n.GetFloat("beta", 0.5f);
      break;
    case OpType::kClip:
      alg = dnnl::algorithm::eltwise_clip;
      alpha = ScalarOr(g, n, 1, -FLT_MAX);
      beta = ScalarOr(g, n, 2, FLT_MAX);
      break;
    default:
      break;
  }
  const memory::desc md = ActivationDesc(k.inputs[0]);
  const dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, alg, md, alpha, beta);
  const dnnl::eltwise_forward::primitive_desc pd(desc, Attributes(FusedActivation()), engine);
  st->BindAtEval(DNNL_ARG_SRC, pd.src_desc(), ArgSource::kInput, 0, engine);
  st->primitive = dnnl::eltwise_forward(pd);
  st->Finish(pd, engine);
  BindDst(pd.dst_desc(), k.outputs[0], st, engine);
  if (n.op == OpType::kHardSigmoid) {
    // A clip post-op would send oneDNN 2.6 to its reference eltwise: a
    // second jit primitive, in place on the output (after any reorder), instead.
    const memory::desc out = ActivationDesc(k.outputs[0]);
    const dnnl::eltwise_forward::desc clip(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_clip, out, 0.0f, 1.0f);
    const dnnl::eltwise_forward::primitive_desc clip_pd(clip, engine);
    SideStep step;
    step.from = memory(out, engine, static_cast<void*>(DNNL_MEMORY_NONE));
    step.to = memory(out, engine, static_cast<void*>(DNNL_MEMORY_NONE));
    step.primitive = dnnl::eltwise_forward(clip_pd);
    step.from_at = {-1, ArgSource::kOutput, 0};
    step.to_at = {-1, ArgSource::kOutput, 0};
    step.from_arg = DNNL_ARG_SRC;
    step.to_arg = DNNL_ARG_DST;
    st->after.push_back(std::move(step));
  }
}

}  // namespace

static memory::data_type DataType(DType dtype) {
  switch (dtype) {
    case DType::kInt8: return memory::data_type::s8;
    case DType::kUInt8: return memory::data_type::u8;
    case DType::kInt32: return memory::data_type::s32;
    default: return memory::data_type::f32;
  }
}

memory::desc ActivationDesc(const TensorDesc& d) { return ActivationDesc(d, DataType(d.dtype)); }

memory::desc ActivationDesc(const TensorDesc& d, memory::data_type type) {
  if (d.rank == 0) return memory::desc(Dims{1}, type, Dims{1});
  Dims dims(d.dims, d.dims + d.rank), strides(d.rank);
  // A [N,C,1,1] tensor has the same bytes either way: describe it as NHWC so
  // that it matches its channels-last neighbours (a stride mismatch sends
  // oneDNN to its slow reference kernels, e.g. for global pooling).
  const bool unit_plane = d.rank == 4 && d.dims[2] * d.dims[3] == 1;
  if (d.layout == TensorLayout::kChannelsLast || unit_plane) {
    const int64_t c = dims[1], h = dims[2], w = dims[3];
    strides = {h * w * c, 1, w * c, c};
  } else {
    int64_t s = 1;
    for (int i = d.rank - 1; i >= 0; --i) {
      strides[i] = s;
      s *= dims[i];
    }
  }
  return memory::desc(dims, type, strides);
}

void PrimitiveState::BindAtEval(int arg, const memory::desc& md, ArgSource source, int index, const dnnl::engine& engine,
                                int64_t offset) {
  memories.emplace_back(md, engine, static_cast<void*>(DNNL_MEMORY_NONE));
  eval_args.push_back({static_cast<int>(args.size()), source, index, offset});
  args.push_back({arg, memories.back().get()});
}

void PrimitiveState::BindOwned(int arg, memory memory) {
  memories.push_back(memory);
  args.push_back({arg, memories.back().get()});
}

void PrimitiveState::Finish(const dnnl::primitive_desc_base& pd, const dnnl::engine& engine) {
  implementation = pd.impl_info_str();
  const memory::desc scratchpad = pd.scratchpad_desc();
  scratchpad_bytes = static_cast<int64_t>(scratchpad.get_size());
  if (scratchpad_bytes > 0) BindAtEval(DNNL_ARG_SCRATCHPAD, scratchpad, ArgSource::kScratch, 0, engine);
}

const dnnl::engine& Engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void BuildConvAdd(const Graph& graph, const Node& conv, const Node& add, const PreparedKernel& k, PrimitiveState* state) {
  BuildConv(graph, conv, k, state, Engine(), &add);
}

void BuildConvInto(const Graph& graph, const Node& conv, const PreparedKernel& k, const dnnl::memory::desc& dst_view,
                   PrimitiveState* state) {
  if (k.inputs[0].dtype != DType::kFloat32) throw dnnl::error(dnnl_unimplemented, "an int8 conv writes int32 sums");
  BuildConv(graph, conv, k, state, Engine(), nullptr, nullptr, &dst_view);
}

void BuildPrimitive(NativeKind kind, const Graph& graph, const Node& node, const PreparedKernel& k, PrimitiveState* state) {
  const dnnl::engine& engine = Engine();
  switch (kind) {
    case NativeKind::kConvInt8:
      if (BuildDepthwiseInt8(graph, node, k, state)) return;
      return BuildConv(graph, node, k, state, engine);
    case NativeKind::kConv:
      return BuildConv(graph, node, k, state, engine);
    case NativeKind::kInnerProduct:
    case NativeKind::kInnerProductInt8:
      return BuildInnerProduct(graph, node, k, state, engine);
    case NativeKind::kAddInt8:
    case NativeKind::kGlobalPoolInt8:
    case NativeKind::kQuantizeInt8:
      return BuildInt8Loop(kind, graph, node, k, state);
    case NativeKind::kPool:
    case NativeKind::kGlobalPool:
      return BuildPool(node, kind, k, state, engine);
    case NativeKind::kBinary:
      return BuildBinary(node, k, state, engine);
    case NativeKind::kConcat:
      return BuildConcat(node, k, state, engine);
    case NativeKind::kEltwise:
      return BuildEltwise(graph, node, k, state, engine);
    case NativeKind::kBatchNorm:
      return BuildBatchNorm(node, k, state, engine);
    case NativeKind::kCopy:
      return BuildCopy(k, state);
    case NativeKind::kReorder:
      return BuildReorder(graph, node, k, state);
    case NativeKind::kNone:
      break;
  }
  throw dnnl::error(dnnl_unimplemented, "the node has no oneDNN primitive");
}

}  // namespace edgesplit::onednn
