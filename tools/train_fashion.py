#!/usr/bin/python3
"""Trains the Fashion-MNIST fixtures: two small CNNs whose accuracy edgesplit must reproduce.

Usage: /usr/bin/python3 tools/train_fashion.py OUTDIR   (scripts/fixtures.sh runs it)

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz,
or $EDGESPLIT_FASHION_DIR), scales pixels to [0, 1] (no mean/std: edgesplit eval's
default), trains on the CPU with fixed seeds and one thread (deterministic), and writes
  OUTDIR/fashion_mobilenet_v2.onnx   inverted residual blocks (MobileNetV2-style), ReLU6
  OUTDIR/fashion_resnet.onnx         basic residual blocks (ResNet-style)
  OUTDIR/fashion_<model>.logits.npy  float32 [10000, 10]: PyTorch's logits on the test set
  OUTDIR/fashion_accuracy.json       PyTorch's test accuracy and training settings
Input: float32 NCHW [1, 1, 28, 28]. Both nets have natural bottlenecks below the
input's 784 elements (7x7x12 and 4x4x16; 4x4x48), so split and codec sweeps have cuts.

OUTDIR/fashion_stamp holds the sha256 of this script once a run completed: a later run
with the same script and all files present does nothing. Never commit the outputs.
"""

import gzip
import hashlib
import json
import os
import sys
import time

try:
    import numpy as np
    import onnx
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_digits import train  # the same loop: Adam, one-cycle schedule, seeded shuffles
except ImportError as e:
    sys.exit(f"train_fashion: {e}; run with Debian's /usr/bin/python3 (apt-get install python3-torch python3-onnx)")

DATA_DIR = os.environ.get("EDGESPLIT_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
MODELS = ["fashion_mobilenet_v2", "fashion_resnet"]
FILES = ([m + ".onnx" for m in MODELS] + [m + ".logits.npy" for m in MODELS] + ["fashion_accuracy.json"])
BATCH = 128
TRAIN_SAMPLES = 30000  # the first half of the training set: keeps training to about a minute per model


def read_idx(path, dims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic != 0x0800 + dims:
        raise RuntimeError(f"{path}: not an unsigned-byte IDX file with {dims} dimensions")
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    x = read_idx(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"), 1)
    return (x.astype(np.float32) / 255.0)[:, None, :, :], y.astype(np.int64)


def conv_bn(cin, cout, k, stride, groups=1, act=True, relu6=False):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6() if relu6 else nn.ReLU())
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = conv_bn(cin, hidden, 1, 1, relu6=True) if expand != 1 else []
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden, relu6=True)
        layers += conv_bn(hidden, cout, 1, 1, act=False)  # linear bottleneck
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet():
    # 28x28 -> stem s2 14x14x16 -> 14x14x8 -> 7x7x12 (x2) -> 4x4x16 (x2) -> 1x1 conv 96 -> GAP -> 10
    return nn.Sequential(
        *conv_bn(1, 16, 3, 2, relu6=True),
        InvertedResidual(16, 8, 1, 1),
        InvertedResidual(8, 12, 2, 4), InvertedResidual(12, 12, 1, 4),
        InvertedResidual(12, 16, 2, 4), InvertedResidual(16, 16, 1, 4),
        *conv_bn(16, 96, 1, 1, relu6=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), *conv_bn(cout, cout, 3, 1, act=False))
        self.shortcut = (nn.Sequential(*conv_bn(cin, cout, 1, stride, act=False))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


def resnet():
    # 28x28x16 -> 14x14x16 -> 7x7x32 -> 4x4x48 (x2) -> GAP -> 10
    return nn.Sequential(
        *conv_bn(1, 16, 3, 1),
        BasicBlock(16, 16, 2), BasicBlock(16, 32, 2), BasicBlock(32, 48, 2), BasicBlock(48, 48, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 10))


def logits_of(model, x):
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + 1000])) for i in range(0, len(x), 1000)]).numpy()


def script_digest():
    digest = hashlib.sha256()
    for path in (__file__, os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_digits.py")):
        with open(os.path.abspath(path), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    digest = script_digest()
    stamp = os.path.join(outdir, "fashion_stamp")
    if (os.path.exists(stamp) and open(stamp).read().strip() == digest
            and all(os.path.exists(os.path.join(outdir, n)) for n in FILES)):
        print(f"train_fashion: {outdir} is up to date (stamp {digest[:12]})")
        return 0
    if os.path.exists(stamp):
        os.remove(stamp)  # an interrupted run must not look complete

    # One thread: bitwise-reproducible and faster than spinning OpenMP barriers on a busy machine.
    torch.set_num_threads(1)
    start = time.time()
    x_train, y_train = load("train")
    x_test, y_test = load("t10k")
    x_train, y_train = x_train[:TRAIN_SAMPLES], y_train[:TRAIN_SAMPLES]
    report = {"dataset": DATA_DIR, "train_samples": int(len(x_train)), "test_samples": int(len(x_test)),
              "input": "float32 NCHW [1,1,28,28], pixel / 255", "models": {}}
    for name, build, epochs, lr, seed in [("fashion_mobilenet_v2", mobilenet, 3, 8e-3, 11),
                                          ("fashion_resnet", resnet, 3, 8e-3, 12)]:
        t0 = time.time()
        torch.manual_seed(seed)
        model = build()
        train(model, x_train, y_train, epochs, lr, seed, batch=BATCH, augment=False)
        logits = logits_of(model, x_test)
        acc = float((logits.argmax(1) == y_test).mean())
        np.save(os.path.join(outdir, name + ".logits.npy"), logits.astype(np.float32))
        path = os.path.join(outdir, name + ".onnx")
        torch.onnx.export(model, torch.from_numpy(x_test[:1]), path, input_names=["input"], output_names=["logits"],
                          opset_version=13, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        onnx.checker.check_model(path)
        report["models"][name] = {"accuracy": acc, "epochs": epochs, "seed": seed}
        print(f"train_fashion: {name:22s} {len(x_train)} images x {epochs} epochs, test accuracy {acc:.4f}  "
              f"{time.time() - t0:.1f}s", flush=True)
    # The stamp last: only a run that wrote everything is marked complete.
    for path, text in ((os.path.join(outdir, "fashion_accuracy.json"), json.dumps(report, indent=2)), (stamp, digest)):
        with open(path, "w") as f:
            f.write(text + "\n")
    print(f"train_fashion: wrote {len(FILES)} files to {outdir} in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
