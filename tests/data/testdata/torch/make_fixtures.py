#!/usr/bin/python3
"""Writes the PyTorch fixtures of tests/data/torch_file_test and tests/tools (issue #14).

Run with Debian's python3-torch (apt install python3-torch), from this directory:
    /usr/bin/python3 make_fixtures.py
The tests read the files without PyTorch. versions.txt records what made them.

Values follow closed formulas so that the C++ tests can recompute every element:
  float tensor number t (in state-dict order), element i (row-major):
      ((i * 7 + t * 13) % 1000 - 500) / 1024          (exact in float32)
  bn*.running_var: 1 + ((i + t) % 7) / 8                 (positive)
  bn*.num_batches_tracked: 1000 + t                      (int64, 0-d)
  table (H, W, 2, 8) int64, the published layout (coor[i, j, 0, k] = column, [.., 1, k] =
      row of neighbour k): our seed-convention nearest table for HxW, made by
          bazel run //tools:gen_coords -- --height=30 --width=60 --levels=1 \
              --convention=seed --out=/tmp/t
          bazel run //tools:gen_coords -- --height=32 --width=64 --levels=4 \
              --convention=seed --out=/tmp/t
          /usr/bin/python3 make_fixtures.py --table_npy /tmp/t/*.npy
      transposed; in 30x60 only, row 0's upward taps are shifted one column west (see below).
  reference_unet.pth + reference_{input,prev,output}.npy: the fixture network with its conv
      weights scaled by 1/sqrt(9 Cin), and PyTorch's eval-mode output on a fixed input with
      the 32x64 .. 4x8 tables (reference_forward below, written from docs/sphere.md and
      docs/model.md, not from the published code).
"""
import collections
import os
import sys

import torch
import torch.nn.functional as F

# The spherical U-Net's state dict, in PyTorch's order (conv then bn per layer).
LAYERS = [("conv1", 4, 64), ("conv2", 64, 128), ("conv3", 128, 256), ("conv4", 256, 256),
          ("conv5", 512, 128), ("conv6", 256, 64), ("conv7", 128, 1)]


def value(n, t):
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 7 + t * 13) % 1000) - 500).to(torch.float32) / 1024


def state_dict(prefix=""):
    sd = collections.OrderedDict()
    t = 0

    def add(name, shape, kind="value"):
        nonlocal t
        n = 1
        for s in shape:
            n *= s
        if kind == "var":
            i = torch.arange(n, dtype=torch.int64)
            x = 1 + ((i + t) % 7).to(torch.float32) / 8
        elif kind == "count":
            x = torch.tensor(1000 + t, dtype=torch.int64)
        else:
            x = value(n, t)
        sd[prefix + name] = x.reshape(shape) if kind != "count" else x
        t += 1

    for k, (conv, cin, cout) in enumerate(LAYERS):
        add(conv + ".weight", (cout, cin, 3, 3))
        add(conv + ".bias", (cout,))
        if k < 6:
            bn = "bn%d" % (k + 1)
            add(bn + ".weight", (cout,))
            add(bn + ".bias", (cout,))
            add(bn + ".running_mean", (cout,))
            add(bn + ".running_var", (cout,), "var")
            add(bn + ".num_batches_tracked", (), "count")
    # What nn.Module.state_dict() attaches (the pickle then BUILDs the OrderedDict).
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bn1", {"version": 2})])
    return sd


def small():
    # A tiny checkpoint for the every-truncation-offset tests, with a non-contiguous
    # (transposed) tensor and a tensor at a storage offset (two views of one storage).
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    d = collections.OrderedDict()
    d["a"] = base.t()              # shape (4, 3), stride (1, 4)
    d["b"] = base[1]               # shape (4,), offset 4
    d["n"] = torch.tensor(7, dtype=torch.int64)
    return {"epoch": 3, "state_dict": d}


# Neighbour k's place in the 3x3 patch (row, col); the centre (1, 1) is the pixel itself.
TAP_PLACE = [(2, 1), (2, 2), (1, 2), (0, 2), (0, 1), (0, 0), (1, 0), (2, 0)]


def expand(x, coor):
    """The published formulation's input to a Conv2d(k=3, stride=3): (N, C, 3H, 3W)."""
    n, c, h, w = x.shape
    e = x.new_zeros(n, c, h, 3, w, 3)
    e[:, :, :, 1, :, 1] = x
    for k, (r, s) in enumerate(TAP_PLACE):
        e[:, :, :, r, :, s] = x[:, :, coor[:, :, 1, k], coor[:, :, 0, k]]
    return e.reshape(n, c, 3 * h, 3 * w)


def reference_forward(sd, coors, x):
    """The spherical U-Net in eval mode, written from docs (not from the published code)."""
    def conv(name, t, level):
        return F.conv2d(expand(t, coors[level]), sd[name + ".weight"], sd[name + ".bias"], stride=3)

    def bn_relu(name, t):
        return F.relu(F.batch_norm(t, sd[name + ".running_mean"], sd[name + ".running_var"],
                                   sd[name + ".weight"], sd[name + ".bias"], False, 0.0, 1e-5))

    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
    e1 = bn_relu("bn1", conv("conv1", x, 0))
    e2 = bn_relu("bn2", conv("conv2", F.max_pool2d(e1, 2), 1))
    e3 = bn_relu("bn3", conv("conv3", F.max_pool2d(e2, 2), 2))
    e4 = bn_relu("bn4", conv("conv4", F.max_pool2d(e3, 2), 3))
    e5 = bn_relu("bn5", conv("conv5", torch.cat([up(e4), e3], 1), 2))
    e6 = bn_relu("bn6", conv("conv6", torch.cat([up(e5), e2], 1), 1))
    return conv("conv7", torch.cat([up(e6), e1], 1), 0)


def write_reference():
    """PyTorch's output of the fixture network on a fixed 32x64 input (reference_*.npy)."""
    import numpy as np
    sd = {k[len("module."):]: v for k, v in torch.load("unet_zip.pth")["state_dict"].items()}
    # Weights this large make activations explode; scale them into a sane range here and
    # save the scaled checkpoint too (reference_unet.pth, zip format), which the test runs.
    for k in list(sd):
        if k.endswith(".weight") and k.startswith("conv"):
            sd[k] = sd[k] / (sd[k].shape[1] * 9) ** 0.5
    torch.save({"epoch": 1, "state_dict": collections.OrderedDict(sd)}, "reference_unet.pth")
    coors = [torch.load("%dx%d.pt" % (32 >> l, 64 >> l)) for l in range(4)]
    i = torch.arange(3 * 32 * 64, dtype=torch.float32)
    rgb = ((i * 37) % 101 / 100).reshape(1, 3, 32, 64)
    prev = ((torch.arange(32 * 64, dtype=torch.float32) * 11) % 53 / 10).reshape(1, 1, 32, 64)
    with torch.no_grad():
        y = reference_forward(sd, coors, torch.cat([rgb, prev], 1))
    np.save("reference_input.npy", rgb.numpy())
    np.save("reference_prev.npy", prev.numpy())
    np.save("reference_output.npy", y.numpy())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(here)
    ckpt = {"epoch": 20, "iter": 1234, "state_dict": state_dict("module.")}  # DataParallel names
    torch.save(ckpt, "unet_legacy.pth.tar", _use_new_zipfile_serialization=False)
    torch.save(ckpt, "unet_zip.pth")
    # A bare state dict (no checkpoint dict, no "module."), without the batch counts that
    # PyTorch < 0.4.1 did not save.
    bare = collections.OrderedDict((k, v) for k, v in state_dict().items() if "num_batches" not in k)
    torch.save(bare, "bare_no_counts.pth")
    torch.save(small(), "small_legacy.pth", _use_new_zipfile_serialization=False)
    torch.save(small(), "small_zip.pth")
    # Integer tables in the published layout (H, W, 2, 8), from our .npy (H, W, 8, 2).
    if len(sys.argv) > 2 and sys.argv[1] == "--table_npy":
        import numpy as np
        for path in sys.argv[2:]:
            t = torch.from_numpy(np.load(path).astype(np.int64)).permute(0, 1, 3, 2).contiguous()
            h, w = t.shape[0], t.shape[1]
            if h == 30:
                # Published tables floor positions that land a hair below a column
                # (docs/sphere.md: 479, 59, ... instead of 0, 60, ...). Emulate that on row
                # 0's upward taps (k = 3, 4, 5), so compare_pt has 3 * W differences to find.
                t[0, :, 0, 3:6] = (t[0, :, 0, 3:6] - 1) % w
            torch.save(t, "%dx%d.pt" % (h, w), _use_new_zipfile_serialization=False)
    if os.path.exists("32x64.pt"):
        write_reference()
    with open("versions.txt", "w") as f:
        f.write("torch %s\npython %s\n" % (torch.__version__, sys.version.split()[0]))


if __name__ == "__main__":
    main()
