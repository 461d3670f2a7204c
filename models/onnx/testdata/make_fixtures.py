#!/usr/bin/python3
"""Make the small op fixtures of package onnx's tests.

Run with Debian's interpreter (python3-torch, python3-onnx):

    /usr/bin/python3 models/onnx/testdata/make_fixtures.py

For each tiny model it writes, next to this script:

    <name>.onnx     the model, opset 13, dynamic batch axis
    <name>.in.f32   5 input rows, float32 little-endian
    <name>.out.f32  PyTorch's output for them, float32 little-endian
"""
import os

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 5


class ConvNet(nn.Module):
    """Conv with stride, dilation and per-axis pads; pooling of every kind."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 5, (3, 2), padding=(2, 0), dilation=(2, 1), bias=False)
        self.mp = nn.MaxPool2d(3, stride=2, padding=1)
        self.ap1 = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False)
        self.ap2 = nn.AvgPool2d((2, 3), stride=(1, 2), padding=1, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        x = torch.sigmoid(self.c1(x))
        x = self.mp(x)
        x = torch.tanh(self.c2(x))
        x = self.ap2(self.ap1(x))
        x = torch.flatten(self.gap(x), 1)
        return torch.softmax(self.fc(x), dim=1)


class MathNet(nn.Module):
    """MatMul, Gemm with alpha and beta, broadcasting, runtime reshapes."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4))
        self.b = nn.Parameter(torch.randn(4))
        self.g = nn.Parameter(torch.randn(4, 4))
        self.c = nn.Parameter(torch.randn(2, 1))

    def forward(self, x):
        y = torch.matmul(x, self.w) + self.b          # MatMul, Add (bias)
        y = torch.addmm(self.b, y, self.g, beta=0.5, alpha=2.0)  # Gemm
        y = self.b - y                                 # Sub, constant first
        y = y * y / 3.0                                # Mul (same operand), Div by scalar
        z = y.view(y.size(0), 2, 2).transpose(1, 2)    # Reshape, Transpose
        z = z.unsqueeze(2) * self.c                    # Unsqueeze, Mul broadcast both ways
        z = torch.softmax(z, dim=-1)                   # Softmax on a 4-D tensor
        z = z.reshape(z.size(0), 2, 1, 4).squeeze(2)   # Squeeze
        z = z.reshape(z.size(0), -1)
        return torch.cat([z, torch.relu(y - 1.0)], dim=1)  # Concat at run time


def write(name, model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(
        model, x[:1], os.path.join(HERE, name + ".onnx"),
        input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        opset_version=13, do_constant_folding=True)
    x.numpy().astype("<f4").tofile(os.path.join(HERE, name + ".in.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(HERE, name + ".out.f32"))


def main():
    torch.manual_seed(7)
    write("convnet", ConvNet(), torch.rand(ROWS, 3, 9, 9))
    write("mathnet", MathNet(), torch.randn(ROWS, 6))


if __name__ == "__main__":
    main()
