"""Trains the int8-accuracy fixtures: two CNNs on scikit-learn's bundled digits.

Imported by make_fixtures.py (run with Debian's /usr/bin/python3: python3-torch,
python3-sklearn). The 8x8 digits are scaled to [0, 1], resized to 32x32 and
replicated to 3 channels, split 80/20 with a fixed seed, and two models are
trained on the CPU with fixed seeds:
  digits_cnn             three Conv/ReLU/MaxPool stages and a Linear head
  digits_mobilenet_v2    torchvision MobileNetV2, width 0.35, 10 classes
For each, OUTDIR gets <name>.onnx and the shared files
  digits_test.npy          float32 [N,3,32,32], the held-out test images
  digits_test_labels.npy   float32 [N], their labels (edgesplit reads float32 .npy)
  digits_calib.npy         float32 [64,3,32,32], training images for calibration
  digits_accuracy.json     PyTorch's f32 test accuracy of each model
"""

import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SIZE = 32
CALIB_SAMPLES = 64
MODELS = ["digits_cnn", "digits_mobilenet_v2"]
FILES = [m + ".onnx" for m in MODELS] + ["digits_test.npy", "digits_test_labels.npy", "digits_calib.npy",
                                         "digits_accuracy.json"]


def load_data():
    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    x = x.numpy()
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def small_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10))


def mobilenet():
    return tvm.mobilenet_v2(width_mult=0.35, num_classes=10)


BATCH = 64


def train(model, x, y, epochs, lr, seed, batch=BATCH, augment=True):
    """Adam with a one-cycle schedule, seeded shuffles; `augment`: random shifts of up to 2 pixels.
    Also train_fashion.py's loop (batch 128, no augmentation)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * ((len(x) + batch - 1) // batch))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb = xt[idx]
            if augment:  # a little shift augmentation keeps the MobileNet from memorising
                xb = torch.roll(xb, shifts=(int(torch.randint(-2, 3, (1,), generator=gen)),
                                            int(torch.randint(-2, 3, (1,), generator=gen))), dims=(2, 3))
            loss = F.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def make_digits_fixtures(outdir):
    start = time.time()
    # One thread: these nets are tiny, and OpenMP's spinning barriers make
    # several threads far slower on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    x_train, x_test, y_train, y_test = load_data()
    np.save(os.path.join(outdir, "digits_test.npy"), x_test)
    np.save(os.path.join(outdir, "digits_test_labels.npy"), y_test.astype(np.float32))
    np.save(os.path.join(outdir, "digits_calib.npy"), x_train[:CALIB_SAMPLES])
    acc = {}
    for name, build, epochs, lr, seed in [("digits_cnn", small_cnn, 15, 5e-3, 1),
                                          ("digits_mobilenet_v2", mobilenet, 12, 5e-3, 2)]:
        t0 = time.time()
        torch.manual_seed(seed)
        model = build()
        train(model, x_train, y_train, epochs, lr, seed)
        acc[name] = accuracy(model, x_test, y_test)
        torch.onnx.export(model, torch.from_numpy(x_test[:1]), os.path.join(outdir, name + ".onnx"),
                          input_names=["input"], output_names=["logits"], opset_version=13,
                          do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        print(f"make_fixtures: {name:20s} trained on {len(x_train)} digits, test accuracy {acc[name]:.4f}  "
              f"{time.time() - t0:.1f}s", flush=True)
    with open(os.path.join(outdir, "digits_accuracy.json"), "w") as f:
        json.dump({"test_samples": int(len(y_test)), "accuracy": acc}, f, indent=2)
    torch.set_num_threads(threads)
    print(f"make_fixtures: digits fixtures in {time.time() - start:.1f}s")
