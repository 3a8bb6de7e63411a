// The `onednn` kernel backend: f32 and int8 nodes on oneDNN 2.6 (Debian
// libdnnl), the rest on the reference kernels.
//
// What runs on oneDNN (everything else falls back to the reference kernel of
// that node, with identical results to the reference backend there):
//   * Conv 2-D (groups, depthwise, dilations, asymmetric pads, strides, bias)
//     with its fused Relu/Clip/LeakyRelu as a post-op; a dense 3x3 stride-1
//     f32 conv as oneDNN's Winograd where the CPU has it (AVX-512), on
//     blocked copies of its input and output in the kernel's scratch
//     (reorder, conv, reorder: one node, so cuts never separate them); where
//     it pays (measured), an f32 3x3 stride-1 conv on channels-last tensors
//     (dense, or 32+ channels a group) as edgesplit's Winograd F(4x4, 3x3)
//     AVX-512 loop instead (src/kernels_onednn/winograd.cc), kept apart from
//     a residual Add or eltwise tail; EDGESPLIT_WINOGRAD=off turns it off;
//   * Gemm (transA 0, alpha = beta = 1) and 2-D MatMul with a constant B, as
//     inner products with the fused activation; f32 with at most 8 rows (a
//     classifier at batch 1..8) as edgesplit's weight-streaming AVX-512 loop
//     instead (src/kernels_onednn/gemv.cc: weights packed once into panels on
//     huge pages, each read once for all rows, bias and activation in the
//     same pass; oneDNN's inner product on CPUs without AVX-512);
//   * MaxPool / AveragePool 2-D, GlobalAveragePool, ReduceMean over H and W;
//   * a Reshape between [N,C,H,W] and [N,a,b,H,W] (a*b = C) and a Slice of
//     channels alone (ShuffleNetV2), as oneDNN reorders between layouts;
//   * Add/Sub/Mul/Div (broadcast of one operand, fused activation), Concat,
//     standalone Relu/Clip/LeakyRelu/Sigmoid/HardSwish/HardSigmoid, and
//     inference BatchNormalization (constant parameters, fused Relu);
//   * int8 (the quantized graph of quant.h): Conv (groups, depthwise,
//     pointwise) and Gemm as oneDNN s8 primitives writing int32 sums, which
//     edgesplit requantizes with TFLite's fixed point (the input zero point is
//     oneDNN's where padding needs it, else folded into the bias); MaxPool and
//     Concat as s8 primitives (bytes move); same-shape Add (a table of all
//     operand pairs), GlobalAveragePool and a per-tensor QuantizeLinear of the
//     graph input in edgesplit's loops (src/kernels_onednn/int8.h).
// Fusion across nodes (Backend::PrepareFused, kernels.h): an f32 conv and
// the residual Add that reads its output (ResNet's bottlenecks, MobileNetV2's
// projections) run as one primitive, the Add as oneDNN's sum post-op writing
// in place over the Add's other operand (the executor plans the two tensors
// into the same bytes), where oneDNN picks the conv's own implementation for
// it (brgconv_1x1; a full-tensor binary post-op would send 2.6 to jit_1x1):
// the bytes equal the two nodes run apart. Not fused: Winograd convs, int8,
// and any pair a segment cuts between (the conv's output is then exposed).
// Other groups (src/kernels_onednn/fused_groups.cc), under the same rules:
// an f32 conv and the Sigmoid, HardSwish or HardSigmoid that alone reads its
// output, or its SiLU (Sigmoid + Mul: oneDNN's swish), as eltwise post-ops
// where oneDNN keeps the conv's own implementation; a Pad that pads nothing
// (DenseNet's transitions; alone, a native copy) and the pooling after it;
// Concat + BatchNormalization(+Relu) in one pass of edgesplit's AVX-512 loop,
// only where the BatchNormalization alone is oneDNN's bnorm_jit:avx512_core
// (whose float operations the loop repeats); opset 13's HardSwish
// (HardSigmoid(x) * x, MobileNetV3) as one pass of edgesplit's AVX-512 loop
// repeating the float operations of the two nodes' jit kernels (after a conv,
// in place on its output; or alone); a conv on copies in scratch (Winograd)
// and the Concat on channels after it, the conv's output copy reordered
// straight into its channels (a direct conv on such a strided destination
// gets oneDNN 2.6's reference kernel, so it is never fused so); ShuffleNetV2's
// channel shuffle (Concat, Reshape, Transpose, Reshape) and the next block's
// two channel Slices as one permutation pass writing both halves
// (src/kernels_onednn/shuffle.cc). Their
// outputs are held apart from every tensor the group reads, and the tensors
// passed inside a group get no bytes (exec.h). A Concat on channels of
// channels-last tensors is edgesplit's copy loop (src/kernels_onednn/concat.cc).
//
// Primitives are created, and weights reordered into oneDNN's packed layout,
// once in Prepare; Eval only points the prepared memory objects at the arena
// and executes (user-managed scratchpad, reported as the kernel's scratch).
// Allocation: edgesplit allocates nothing in Eval, but oneDNN 2.6's execute
// builds a small argument map per call inside libdnnl (a few heap blocks per
// primitive, constant from call to call; tests/exec_test.cc pins it down), so
// unlike the reference backend an onednn Invoke is not allocation-free.
//
// Layout: a 4-D f32 or int8 activation whose producer and every consumer run on
// oneDNN is kept channels-last (NHWC, the same size as NCHW), so there is no
// reorder between layers; graph inputs/outputs and tensors touching a fallback
// node stay row-major. The choice depends on the graph only, not on the
// segment, so a node runs the same primitive on the same bytes wherever the
// model is cut (split runs are bit-identical to whole ones) and the executor
// only transposes at segment boundaries. oneDNN 2.6 answers mixed layouts
// (channels-last in, row-major out, beside a fallback node) with its slow
// reference kernels, so such a conv or pooling runs on copies in scratch in
// the layout oneDNN picks (reorders within the node).
//
// Numerics: f32: oneDNN's accumulation order differs from the reference's
// (Winograd's transforms too); outputs agree within 1e-4 * max|reference|
// (tests/onednn_test.cc, tests/parity_test.cc against PyTorch). The
// streaming Gemm's arithmetic per output does not depend on the row count:
// each row of a batch of up to 8 gets the bytes it gets alone
// (tests/onednn_gemv_test.cc); so does each image through the Winograd loop,
// at 1 or 2 threads (tests/onednn_winograd_test.cc). int8:
// integer sums are exact and the requantization is the reference's, so every
// tensor equals the reference int8 kernels' (the bar is 1 LSB;
// tests/onednn_int8_test.cc counts differing values: 0 on the zoo and digits
// models). An int32 sum beyond 2^24 may pass through oneDNN's f32 conversion
// and could round: the one place a 1-LSB difference can arise.
//
// Errors: every oneDNN error (unsupported configuration, out of memory) is a
// Status naming the node; nothing throws across this interface.
//
// Threads: oneDNN runs on an OpenMP pool. SetOneDnnThreads(n) caps it for the
// whole process (Prepare and Eval apply it on whichever thread calls them).
// Eval on one kernel must not run concurrently with itself; different
// executors may run on different threads (each thread gets its own stream on
// first use). A node with little work (below onednn::kSerialWork
// multiply-accumulates or elements) runs on the calling thread alone, its
// primitive made for one thread: forking the pool for it costs more than it
// saves. With 2+ threads an int8 1x1 conv too small for L2-sized bands, or a
// dense int8 conv on one image, runs as one run of rows per thread, each a
// one-thread primitive whose int32 sums the same thread requantizes (exact
// integers: the bytes do not depend on the split). How idle OpenMP threads
// wait is libgomp's environment, read before main(): the CLI sets a bounded
// spin or passive (src/cli/openmp_env.cc).
//
// Not part of the portable core: built with exceptions, links libdnnl.
#pragma once

#include "edgesplit/kernels.h"
#include "edgesplit/status.h"

namespace edgesplit {

// The backend (a process-wide constant); also found as FindBackend("onednn").
const Backend& OneDnnBackend();

// Caps oneDNN's threads at `threads` (0: all cores). Call before preparing
// executors: a primitive's blocking is chosen for the thread count at Prepare.
Status SetOneDnnThreads(int threads);
// The current cap (all cores unless SetOneDnnThreads set one).
int OneDnnThreads();

// Which oneDNN implementation a prepared kernel runs ("brg_conv:avx512_core",
// "reference" for a fallback node): for profiling and tests.
const char* OneDnnImplementation(const PreparedKernel& kernel);

}  // namespace edgesplit
