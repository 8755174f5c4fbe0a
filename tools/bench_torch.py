#!/usr/bin/env python3
"""PyTorch reference of the spherical U-Net, timed side by side by //tools:bench.

Not a dependency of anything: //tools:bench runs it only when `import torch` works
(Debian: apt-get install python3-torch). It builds the same network as nn/model.h on the
SAME gather tables, which the bench writes as raw little-endian files into --tables:
    level<l>_src.i32     int32  (H_l*W_l, 9, taps) source pixel per kernel position
    level<l>_weight.f32  float32 (H_l*W_l, 9, taps)
and prints one JSON line: {"torch_version", "threads", "cases": [{"case", "batch",
"seconds"}, ...]} with the minimum over --reps timed runs after one warm-up.

The SphericalConv is written the best way found for PyTorch (issue #7): channels-last
gather (index_select over a (N, H*W, C) view copies whole channel vectors), then a
Conv2d(k=3, stride=3) over the (N, C, 3H, 3W) expanded image in channels_last memory
format.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_raw(path, dtype):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=dtype)


class SphericalConv(nn.Module):
    def __init__(self, cin, cout, src, weight, taps, h, w):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=3)
        self.register_buffer("src", src.long())
        self.register_buffer("weight", weight.view(h * w * 9, taps, 1))
        self.taps, self.h, self.w = taps, h, w

    def forward(self, x):  # x: (N, C, H, W), channels_last memory
        n, c, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(n, h * w, c)      # NHWC view, no copy
        g = flat.index_select(1, self.src)                       # (N, P*9*taps, C)
        if self.taps > 1:
            g = (g.view(n, h * w * 9, self.taps, c) * self.weight).sum(2)
        # (N, H, W, 3, 3, C) -> (N, H, 3, W, 3, C) -> expanded (N, 3H, 3W, C)
        g = g.view(n, h, w, 3, 3, c).permute(0, 1, 3, 2, 4, 5).reshape(n, 3 * h, 3 * w, c)
        return self.conv(g.permute(0, 3, 1, 2))                  # NCHW shape, NHWC memory


class SphericalUNet(nn.Module):
    def __init__(self, tables):
        super().__init__()
        def sc(cin, cout, level):
            return SphericalConv(cin, cout, *tables[level])
        self.conv1, self.bn1 = sc(4, 64, 0), nn.BatchNorm2d(64)
        self.conv2, self.bn2 = sc(64, 128, 1), nn.BatchNorm2d(128)
        self.conv3, self.bn3 = sc(128, 256, 2), nn.BatchNorm2d(256)
        self.conv4, self.bn4 = sc(256, 256, 3), nn.BatchNorm2d(256)
        self.conv5, self.bn5 = sc(512, 128, 2), nn.BatchNorm2d(128)
        self.conv6, self.bn6 = sc(256, 64, 1), nn.BatchNorm2d(64)
        self.conv7 = sc(128, 1, 0)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        e1 = F.relu(self.bn1(self.conv1(x)))
        e2 = F.relu(self.bn2(self.conv2(F.max_pool2d(e1, 2))))
        e3 = F.relu(self.bn3(self.conv3(F.max_pool2d(e2, 2))))
        e4 = F.relu(self.bn4(self.conv4(F.max_pool2d(e3, 2))))
        e5 = F.relu(self.bn5(self.conv5(torch.cat([up(e4), e3], 1))))
        e6 = F.relu(self.bn6(self.conv6(torch.cat([up(e5), e2], 1))))
        return self.conv7(torch.cat([up(e6), e1], 1))


def timed(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tables", required=True)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--taps", type=int, default=1)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batches", default="1,2")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)  # PyTorch defaults to 1 thread on these machines
    torch.manual_seed(0)
    tables = []
    for level in range(4):
        h, w = a.height >> level, a.width >> level
        src = read_raw(f"{a.tables}/level{level}_src.i32", torch.int32)
        weight = read_raw(f"{a.tables}/level{level}_weight.f32", torch.float32)
        tables.append((src, weight, a.taps, h, w))
    model = SphericalUNet(tables).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rows = torch.arange(a.height, dtype=torch.float64)
    th0, th1 = rows * torch.pi / a.height, (rows + 1) * torch.pi / a.height
    row_w = ((2 * torch.pi / a.width) * (torch.pi / a.height) *
             (torch.sin(th0) + torch.sin(th1)) / 2).float().view(1, 1, a.height, 1)
    cases = []
    for batch in [int(b) for b in a.batches.split(",")]:
        x = torch.rand(batch, 4, a.height, a.width).to(memory_format=torch.channels_last)
        target = torch.rand(batch, 1, a.height, a.width)

        def infer():
            model.eval()
            with torch.no_grad():
                model(x)

        def train_step():
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = ((model(x) - target) ** 2 * row_w).sum() / batch
            loss.backward()
            opt.step()

        cases.append({"case": "forward", "batch": batch, "seconds": timed(infer, a.reps)})
        cases.append({"case": "train_step", "batch": batch, "seconds": timed(train_step, a.reps)})
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
