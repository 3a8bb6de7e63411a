#!/usr/bin/python3
"""Generates the torchvision ONNX fixtures the parity tests compare against.

Usage: /usr/bin/python3 tools/make_fixtures.py [OUTDIR]   (default: build/fixtures)

Run it with Debian's interpreter (python3-torch / python3-torchvision / python3-onnx);
another python3 on PATH may lack them. For every model it writes
  OUTDIR/<name>.onnx         torch.onnx.export in eval mode, constant folding on
  OUTDIR/<name>.input.npy    a seeded float32 NCHW input, 1x3x224x224
  OUTDIR/<name>.output.npy   PyTorch's output for that input
plus OUTDIR/resnet18_external.onnx (+ resnet18_external.data), the resnet18 model
with its weights stored as ONNX external data, and the int8-accuracy fixtures:
two CNNs trained on scikit-learn's digits (tools/train_digits.py, python3-sklearn).

The weights are random (nothing can be downloaded here), but BatchNorm statistics
are recomputed on random batches so that activations neither die nor explode:
numerical parity tests are meaningless on an all-zero or all-inf network.

OUTDIR/stamp holds the sha256 of this script once a run has completed; a later
run with the same script and all files present does nothing, so build systems
and CI can call it unconditionally. Outputs are build artefacts: never commit them.
"""

import hashlib
import os
import sys
import time

try:
    import numpy as np
    import onnx
    import torch
    import torchvision.models as tvm
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_digits
except ImportError as e:
    sys.exit(f"make_fixtures: {e}; run with Debian's /usr/bin/python3 "
             "(apt-get install python3-torchvision python3-onnx python3-sklearn)")

# (file name, constructor, opset). The opsets cover the range the importer must
# read: 11 (Clip with min/max inputs is new there), 13 (the default; Split and
# Squeeze take their axes as inputs) and 17 (HardSwish as one op, the newest
# torch 1.13 writes).
MODELS = [
    ("mobilenet_v2", lambda: tvm.mobilenet_v2(width_mult=1.0), 13),
    ("mobilenet_v2_035", lambda: tvm.mobilenet_v2(width_mult=0.35), 11),
    ("resnet18", lambda: tvm.resnet18(), 13),
    ("resnet50", lambda: tvm.resnet50(), 17),
    ("efficientnet_b0", lambda: tvm.efficientnet_b0(), 13),
    ("mobilenet_v3_small", lambda: tvm.mobilenet_v3_small(), 17),
    ("shufflenet_v2_x0_5", lambda: tvm.shufflenet_v2_x0_5(), 13),
    ("squeezenet1_1", lambda: tvm.squeezenet1_1(), 11),
    # The onednn backend's fused groups (tests/onednn_groups_test.cc): opset 13
    # writes MobileNetV3's HardSwish as HardSigmoid + Mul; DenseNet's Concat +
    # BatchNorm and its transitions' pooling.
    ("mobilenet_v3_large", lambda: tvm.mobilenet_v3_large(), 13),
    ("densenet121", lambda: tvm.densenet121(), 13),
]
EXTERNAL_SOURCE = "resnet18"
EXTERNAL_NAME = "resnet18_external"

INPUT_SHAPE = (1, 3, 224, 224)
CALIBRATION_BATCHES = 3  # of 4 images each: enough for stable per-channel statistics
CALIBRATION_BATCH_SIZE = 4


def script_digest():
    digest = hashlib.sha256()
    for path in (os.path.abspath(__file__), os.path.abspath(train_digits.__file__)):
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def expected_files():
    names = []
    for name, _, _ in MODELS:
        names += [name + ".onnx", name + ".input.npy", name + ".output.npy"]
    names += [EXTERNAL_NAME + ".onnx", EXTERNAL_NAME + ".data"]
    return names + train_digits.FILES


def up_to_date(outdir, digest):
    stamp = os.path.join(outdir, "stamp")
    if not os.path.exists(stamp):
        return False
    with open(stamp) as f:
        if f.read().strip() != digest:
            return False
    return all(os.path.exists(os.path.join(outdir, n)) for n in expected_files())


def recompute_batchnorm_stats(model, seed):
    """Replaces BatchNorm running statistics with those of random N(0,1) input.

    momentum=None makes the running stats a cumulative average over the batches,
    so the result does not depend on the initial (reset) values.
    """
    bn_layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bn_layers:
        return
    for bn in bn_layers:
        bn.reset_running_stats()
        bn.momentum = None
    gen = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(CALIBRATION_BATCHES):
            model(torch.randn((CALIBRATION_BATCH_SIZE,) + INPUT_SHAPE[1:], generator=gen))


def make_fixture(outdir, index, name, constructor, opset):
    seed = 1000 + index  # fixed per model, so reruns produce identical files
    torch.manual_seed(seed)
    model = constructor()
    recompute_batchnorm_stats(model, seed)
    model.eval()

    x = np.random.default_rng(seed).standard_normal(INPUT_SHAPE).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    # A dead (constant) or overflowing output would make every parity check vacuous.
    if not np.isfinite(y).all() or y.std() == 0:
        raise RuntimeError(f"{name}: degenerate reference output (std {y.std()})")

    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(
        model,
        torch.from_numpy(x),
        path,
        input_names=["input"],
        output_names=["output"],
        opset_version=opset,
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
    )
    onnx.checker.check_model(path)
    np.save(os.path.join(outdir, name + ".input.npy"), x)
    np.save(os.path.join(outdir, name + ".output.npy"), y)
    return y


def write_external_copy(outdir):
    """Re-saves EXTERNAL_SOURCE with every tensor over 1 KiB in one external file."""
    model = onnx.load(os.path.join(outdir, EXTERNAL_SOURCE + ".onnx"))
    data_name = EXTERNAL_NAME + ".data"
    data_path = os.path.join(outdir, data_name)
    # onnx appends to an existing data file: a stale one would corrupt the offsets.
    if os.path.exists(data_path):
        os.remove(data_path)
    onnx.save_model(
        model,
        os.path.join(outdir, EXTERNAL_NAME + ".onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    onnx.checker.check_model(os.path.join(outdir, EXTERNAL_NAME + ".onnx"))


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = argv[1] if len(argv) == 2 else os.path.join(repo, "build", "fixtures")
    os.makedirs(outdir, exist_ok=True)

    digest = script_digest()
    if up_to_date(outdir, digest):
        print(f"make_fixtures: {outdir} is up to date (stamp {digest[:12]})")
        return 0
    stamp = os.path.join(outdir, "stamp")
    if os.path.exists(stamp):
        os.remove(stamp)  # an interrupted run must not look complete

    torch.set_num_threads(2)
    start = time.time()
    for index, (name, constructor, opset) in enumerate(MODELS):
        t0 = time.time()
        y = make_fixture(outdir, index, name, constructor, opset)
        print(f"make_fixtures: {name:20s} opset {opset}  output {list(y.shape)} "
              f"std {y.std():.3g}  {time.time() - t0:.1f}s", flush=True)
    t0 = time.time()
    write_external_copy(outdir)
    print(f"make_fixtures: {EXTERNAL_NAME:20s} external data  {time.time() - t0:.1f}s")
    train_digits.make_digits_fixtures(outdir)

    with open(stamp, "w") as f:
        f.write(digest + "\n")
    print(f"make_fixtures: wrote {len(expected_files())} files to {outdir} in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
