#!/usr/bin/python3
"""PyTorch side of bench/torch_vs_edgesplit.sh (the f32 speed peer).

Usage (Debian's /usr/bin/python3, python3-torch + python3-torchvision):
  torch_bench.py export MODEL DIR      MODEL.onnx + MODEL.pt (the same seeded weights) in DIR
  torch_bench.py time MODEL DIR --threads N [--repeat R]
                                       one JSON line: eager_ms, jit_ms, best_ms (medians)

MODEL is a torchvision name (mobilenet_v2, resnet50, ...) at 1x3x224x224 (Inception v3,
whose last stages need it, at 1x3x299x299, the size it was trained on). `time`
loads MODEL.pt, so PyTorch runs exactly the weights edgesplit reads from
MODEL.onnx. The two PyTorch variants are eager mode and
torch.jit.freeze(torch.jit.script(...)) + torch.jit.optimize_for_inference
(conv-BN folding, MKL-DNN prepacked weights); the better one is PyTorch's time.
The thread count is set explicitly (torch.set_num_threads) for both.
"""

import json
import os
import statistics
import sys
import time

try:
    import torch
    import torchvision.models as tvm
except ImportError as e:
    sys.exit(f"torch_bench: {e}; run with Debian's /usr/bin/python3 (apt-get install python3-torchvision)")

INPUT_SHAPE = (1, 3, 224, 224)
# Models whose layers do not fit a 224 px image (Inception v3's 5x5 kernels
# meet a 3x3 map there and PyTorch refuses to run it).
INPUT_SHAPES = {"inception_v3": (1, 3, 299, 299)}


def input_shape(name):
    return INPUT_SHAPES.get(name, INPUT_SHAPE)


def build(name):
    if not hasattr(tvm, name):
        sys.exit(f"torch_bench: torchvision has no model '{name}'")
    torch.manual_seed(0)
    model = getattr(tvm, name)()
    # Random weights, but BatchNorm statistics re-estimated on random batches so
    # that activations stay finite (denormals or infs would distort timings).
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, *input_shape(name)[1:]))
    return model.eval()


def export(name, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = build(name)
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pt"))
    with torch.no_grad():
        torch.onnx.export(model, torch.randn(*input_shape(name)), os.path.join(out_dir, name + ".onnx"),
                          opset_version=13, input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)


def median_ms(fn, x, repeat):
    with torch.no_grad():
        for _ in range(3):  # warm-up (first calls pack weights, allocate)
            fn(x)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(x)
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def time_model(name, out_dir, threads, repeat):
    torch.set_num_threads(threads)
    model = getattr(tvm, name)()
    model.load_state_dict(torch.load(os.path.join(out_dir, name + ".pt")))
    model.eval()
    x = torch.randn(*input_shape(name))
    eager = median_ms(model, x, repeat)
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    jit = median_ms(frozen, x, repeat)
    print(json.dumps({"model": name, "threads": threads, "repeat": repeat, "eager_ms": eager, "jit_ms": jit,
                      "best_ms": min(eager, jit)}))


def main(argv):
    if len(argv) >= 3 and argv[0] == "export":
        export(argv[1], argv[2])
        return
    if len(argv) >= 3 and argv[0] == "time":
        threads, repeat = 1, 20
        rest = argv[3:]
        for i in range(0, len(rest) - 1, 2):
            if rest[i] == "--threads":
                threads = int(rest[i + 1])
            elif rest[i] == "--repeat":
                repeat = int(rest[i + 1])
            else:
                sys.exit(f"torch_bench: unknown option {rest[i]}")
        time_model(argv[1], argv[2], threads, repeat)
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
