#!/usr/bin/python3
"""Train the built-in Fashion-MNIST models and write testdata.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/make_models.py [--out testdata]

Reads the real data set from Debian's dataset-fashion-mnist package, trains an
MLP and a small CNN with a fixed seed, exports each as ONNX opset 13 with a
dynamic batch axis, and writes reference outputs that the Go tests compare
against without needing PyTorch:

    <out>/models/<name>/config.yaml
    <out>/models/<name>/1/model.onnx
    <out>/reference/<name>.logits.f32   PyTorch logits of the first N test
                                        images, float32 little-endian, N x 10
    <out>/reference/<name>.json         accuracy on the full test set and on
                                        the first N images, and N

With --torchvision it instead writes torchvision's resnet18, mobilenet_v2
and squeezenet1_1 with random weights (fixed seed; large, so not committed;
default folder testdata/large, which .gitignore lists), each with reference
inputs and PyTorch outputs at batch sizes 1, 3 and 8:

    /usr/bin/python3 scripts/make_models.py --torchvision [--out testdata/large]

    <out>/models/<name>/config.yaml, <out>/models/<name>/1/model.onnx
    <out>/reference/<name>.b<N>.in.f32    N x 3 x 224 x 224 float32 LE
    <out>/reference/<name>.b<N>.out.f32   N x 1000 float32 LE
"""
import argparse
import gzip
import json
import os

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"
N_REF = 1000  # test images the Go tests classify


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def images(name):
    x = load_idx(name).astype(np.float32) / 255.0
    return torch.from_numpy(x).unsqueeze(1)  # N,1,28,28


def labels(name):
    return torch.from_numpy(load_idx(name).astype(np.int64))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(
            nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        x = self.features(x)
        # view(batch, -1) exports the Shape -> Gather -> Unsqueeze -> Concat
        # -> Reshape subgraph that real PyTorch exports contain.
        x = x.view(x.size(0), -1)
        return self.head(x)


def train(model, xs, ys, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xs), generator=g)
        total = 0.0
        for i in range(0, len(xs), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch + 1}: loss {total / len(xs):.4f}", flush=True)


def predict(model, xs):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(xs[i:i + 1000]) for i in range(0, len(xs), 1000)])


TORCHVISION = ("resnet18", "mobilenet_v2", "squeezenet1_1")
BATCHES = (1, 3, 8)


def make_torchvision(out):
    import torchvision

    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    for k, name in enumerate(TORCHVISION):
        torch.manual_seed(100 + k)
        model = getattr(torchvision.models, name)(weights=None)
        # Fresh BatchNorm statistics are the identity; random ones make the
        # exported (folded) model and its outputs non-trivial.
        with torch.no_grad():
            for mod in model.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.normal_(0, 0.1)
                    mod.running_var.uniform_(0.5, 1.5)
                    mod.weight.normal_(1, 0.1)
                    mod.bias.normal_(0, 0.1)
        model.eval()
        mdir = os.path.join(out, "models", name)
        os.makedirs(os.path.join(mdir, "1"), exist_ok=True)
        x = torch.randn(1, 3, 224, 224)
        torch.onnx.export(
            model, x, os.path.join(mdir, "1", "model.onnx"),
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=13, do_constant_folding=True)
        with open(os.path.join(mdir, "config.yaml"), "w") as f:
            f.write(f"# {name}: torchvision, random weights, made by scripts/make_models.py --torchvision\n"
                    "max_batch_size: 8\n")
        for n in BATCHES:
            g = torch.Generator().manual_seed(1000 * k + n)
            xb = torch.randn(n, 3, 224, 224, generator=g)
            with torch.no_grad():
                yb = model(xb)
            base = os.path.join(out, "reference", f"{name}.b{n}")
            xb.numpy().astype("<f4").tofile(base + ".in.f32")
            yb.numpy().astype("<f4").tofile(base + ".out.f32")
        print(f"wrote {name}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--torchvision", action="store_true",
                    help="write torchvision resnet18, mobilenet_v2, squeezenet1_1 (random weights) instead")
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(__file__), "..", "testdata")
    if args.torchvision:
        torch.set_num_threads(os.cpu_count() or 1)
        make_torchvision(args.out or os.path.join(root, "large"))
        return
    args.out = args.out or root
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)

    xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")

    specs = [("fashion-mnist-mlp", MLP(), 10, 1e-3), ("fashion-mnist-cnn", CNN(), 8, 1e-3)]
    os.makedirs(os.path.join(args.out, "reference"), exist_ok=True)
    for name, model, epochs, lr in specs:
        print(f"training {name}", flush=True)
        train(model, xtr, ytr, epochs, lr)
        logits = predict(model, xte)
        acc = (logits.argmax(1) == yte).float().mean().item()
        acc_ref = (logits[:N_REF].argmax(1) == yte[:N_REF]).float().mean().item()
        print(f"  test accuracy {acc:.4f} (first {N_REF}: {acc_ref:.4f})", flush=True)

        mdir = os.path.join(args.out, "models", name)
        os.makedirs(os.path.join(mdir, "1"), exist_ok=True)
        model.eval()
        torch.onnx.export(
            model, xte[:1], os.path.join(mdir, "1", "model.onnx"),
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=13, do_constant_folding=True)
        with open(os.path.join(mdir, "config.yaml"), "w") as f:
            f.write(f"# {name}: Fashion-MNIST classifier made by scripts/make_models.py\n"
                    "max_batch_size: 32\nslo: 20ms at p99\n")
        ref = logits[:N_REF].numpy().astype("<f4")
        ref.tofile(os.path.join(args.out, "reference", name + ".logits.f32"))
        with open(os.path.join(args.out, "reference", name + ".json"), "w") as f:
            json.dump({"model": name, "images": N_REF,
                       "test_accuracy": round(acc, 6),
                       "reference_accuracy": round(acc_ref, 6),
                       "reference_correct": int((logits[:N_REF].argmax(1) == yte[:N_REF]).sum()),
                       "torch": torch.__version__}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
