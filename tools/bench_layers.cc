// Layer benchmark of the non-convolution layers (not a test): for every BatchNorm,
// max-pool, upsample and concat of the spherical U-Net at --height x --width (default
// 240x480) and --batch, plus both losses and one optimiser step over the U-Net's
// parameter count, the time per call (minimum over --reps) and the effective memory
// bandwidth (bytes the op must read + write once, divided by the time). These ops are
// memory-bound, so GB/s against the machine's copy bandwidth (first line) is the figure
// of merit.
//
//   bazel run -c opt //tools:bench_layers -- --reps=5
//   bazel run -c opt --config=cuda //tools:bench_layers -- --device=cuda
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "nn/buffer.h"
#include "nn/context.h"
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/ops/batchnorm.h"
#include "nn/ops/concat.h"
#include "nn/ops/pool.h"
#include "nn/optim.h"
#include "nn/params.h"

ABSL_FLAG(int, height, 240, "Input height of the network (level 1)");
ABSL_FLAG(int, width, 480, "Input width of the network (level 1)");
ABSL_FLAG(int, batch, 1, "Batch size");
ABSL_FLAG(int, reps, 5, "Timed repetitions per measurement (the minimum is reported)");
ABSL_FLAG(std::string, device, "cpu", "cpu | cuda | auto");
ABSL_FLAG(std::string, optimizer, "adam", "adam | adamw | sgd (the optimiser step timed)");

namespace sal360 {
namespace {

using nn::Device;
using nn::Shape;
using nn::Tensor;

double Seconds(Device device, const std::function<void()>& fn, int reps) {
  fn();  // warm-up (arena growth, caches)
  nn::Context::Get(device).Synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    nn::Context::Get(device).Synchronize();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void Report(const std::string& what, const Shape& s, double seconds, double bytes) {
  std::printf("%-22s %-20s %9.3f ms %8.2f GB/s\n", what.c_str(), s.ToString().c_str(),
              seconds * 1e3, bytes / seconds / 1e9);
}

Tensor Filled(Shape s, Device d, float v) {
  return Tensor::FromVector(s, std::vector<float>(static_cast<size_t>(s.numel()), v), d);
}

int Run(Device dev) {
  const int n = absl::GetFlag(FLAGS_batch), h = absl::GetFlag(FLAGS_height);
  const int w = absl::GetFlag(FLAGS_width), reps = absl::GetFlag(FLAGS_reps);
  std::printf("device %s, batch %d, %dx%d, min of %d reps\n", nn::DeviceName(dev), n, h, w, reps);

  {  // Reference: a plain copy of 64 channels at level 1.
    const Shape s{n, h, w, 64};
    Tensor a = Filled(s, dev, 1.0f), b(s, dev);
    const double t = Seconds(dev, [&] { b.CopyFrom(a); }, reps);
    Report("copy (reference)", s, t, 2.0 * s.numel() * 4);
  }
  // (name, level, channels) of every BatchNorm of the U-Net.
  struct Bn { const char* name; int level, c; };
  for (const Bn& bn : {Bn{"bn1", 0, 64}, Bn{"bn2", 1, 128}, Bn{"bn3", 2, 256}, Bn{"bn4", 3, 256},
                       Bn{"bn5", 2, 128}, Bn{"bn6", 1, 64}}) {
    const Shape s{n, h >> bn.level, w >> bn.level, bn.c}, cs{1, 1, 1, bn.c};
    Tensor x = Filled(s, dev, 0.5f), y(s, dev), dx(s, dev);
    Tensor gamma = Filled(cs, dev, 1.0f), beta = Filled(cs, dev, 0.0f);
    Tensor dgamma = Filled(cs, dev, 0.0f), dbeta = Filled(cs, dev, 0.0f);
    nn::BatchNormStats stats = nn::BatchNormStats::Create(bn.c, dev);
    nn::BatchNormCache cache;
    const double bytes = s.numel() * 4.0;
    // Train forward reads x twice (two statistics passes) + once to normalise, writes y.
    Report(std::string(bn.name) + " train fwd", s,
           Seconds(dev, [&] { nn::BatchNormForwardTrain(x, gamma, beta, stats, cache, y); }, reps),
           4 * bytes);
    Report(std::string(bn.name) + " eval fwd", s,
           Seconds(dev, [&] { nn::BatchNormForwardEval(x, gamma, beta, stats, y); }, reps), 2 * bytes);
    // Backward reads x, dy twice (sums, then dx) and writes dx.
    Report(std::string(bn.name) + " bwd", s,
           Seconds(dev, [&] { nn::BatchNormBackward(x, gamma, cache, y, dx, dgamma, dbeta); }, reps),
           5 * bytes);
  }
  struct Lv { const char* name; int level, c; };
  for (const Lv& p : {Lv{"pool1", 0, 64}, Lv{"pool2", 1, 128}, Lv{"pool3", 2, 256}}) {
    const Shape s{n, h >> p.level, w >> p.level, p.c}, ps{s.n, s.h / 2, s.w / 2, s.c};
    Tensor x = Filled(s, dev, 0.5f), y(ps, dev), dx(s, dev);
    nn::Buffer arg(dev, ps.numel() * 4);
    Report(std::string(p.name) + " fwd", s, Seconds(dev, [&] { nn::MaxPool2x2Forward(x, y, arg); }, reps),
           s.numel() * 4.0 + ps.numel() * 8.0);
    Report(std::string(p.name) + " bwd", s, Seconds(dev, [&] { nn::MaxPool2x2Backward(y, arg, dx); }, reps),
           s.numel() * 4.0 + ps.numel() * 8.0);
  }
  for (const Lv& u : {Lv{"up(e4)", 3, 256}, Lv{"up(conv5)", 2, 128}, Lv{"up(conv6)", 1, 64}}) {
    const Shape s{n, h >> u.level, w >> u.level, u.c}, us{s.n, 2 * s.h, 2 * s.w, s.c};
    Tensor x = Filled(s, dev, 0.5f), y(us, dev), dx(s, dev);
    Report(std::string(u.name) + " fwd", s, Seconds(dev, [&] { nn::UpsampleNearest2xForward(x, y); }, reps),
           (s.numel() + us.numel()) * 4.0);
    Report(std::string(u.name) + " bwd", s, Seconds(dev, [&] { nn::UpsampleNearest2xBackward(y, dx); }, reps),
           (s.numel() + us.numel()) * 4.0);
  }
  for (const Lv& c : {Lv{"cat(up,e3)", 2, 256}, Lv{"cat(up,e2)", 1, 128}, Lv{"cat(up,e1)", 0, 64}}) {
    const Shape s{n, h >> c.level, w >> c.level, c.c}, ys{s.n, s.h, s.w, 2 * c.c};
    Tensor a = Filled(s, dev, 0.5f), b = Filled(s, dev, 1.5f), y(ys, dev);
    Report(std::string(c.name) + " fwd", s, Seconds(dev, [&] { nn::ConcatChannelsForward(a, b, y); }, reps),
           ys.numel() * 8.0);
    Report(std::string(c.name) + " bwd", s, Seconds(dev, [&] { nn::ConcatChannelsBackward(y, a, b); }, reps),
           ys.numel() * 8.0);
  }
  {
    const Shape s{n, h, w, 1};
    std::vector<float> pv(s.numel()), tv(s.numel());
    for (int64_t i = 0; i < s.numel(); ++i) pv[i] = 0.1f + (i % 97) * 0.01f, tv[i] = (i % 89) * 0.01f;
    Tensor pred = Tensor::FromVector(s, pv, dev), target = Tensor::FromVector(s, tv, dev), dpred(s, dev);
    Tensor rw = nn::LossRowWeights(h, w, dev);
    Report("smse loss+grad", s, Seconds(dev, [&] { nn::SphereMseLoss(pred, target, rw, &dpred); }, reps),
           s.numel() * 12.0);
    Report("skld loss+grad", s, Seconds(dev, [&] { nn::SphereKldLoss(pred, target, rw, &dpred); }, reps),
           s.numel() * 20.0);
  }
  {
    // The U-Net's parameters: 7 convs (weights + bias) and 6 BatchNorms (gamma, beta).
    const int convs[7][2] = {{4, 64}, {64, 128}, {128, 256}, {256, 256}, {512, 128}, {256, 64}, {128, 1}};
    const int bns[6] = {64, 128, 256, 256, 128, 64};
    std::vector<std::pair<std::string, Shape>> specs;
    for (int i = 0; i < 7; ++i) {
      specs.push_back({"conv" + std::to_string(i + 1) + ".weight", Shape{9, 1, convs[i][0], convs[i][1]}});
      specs.push_back({"conv" + std::to_string(i + 1) + ".bias", Shape{1, 1, 1, convs[i][1]}});
    }
    for (int i = 0; i < 6; ++i) {
      specs.push_back({"bn" + std::to_string(i + 1) + ".weight", Shape{1, 1, 1, bns[i]}});
      specs.push_back({"bn" + std::to_string(i + 1) + ".bias", Shape{1, 1, 1, bns[i]}});
    }
    nn::ParamStore params(dev, specs);
    nn::OptimConfig cfg;
    cfg.kind = absl::GetFlag(FLAGS_optimizer);
    cfg.momentum = cfg.kind == "sgd" ? 0.9f : 0.0f;
    if (const absl::Status s = nn::ValidateOptimConfig(cfg); !s.ok()) {
      std::fprintf(stderr, "bench_layers: %s\n", std::string(s.message()).c_str());
      return 2;
    }
    nn::Optimizer opt(cfg, params);
    const Shape flat = params.params_flat().shape();
    // Adam reads p, g, m, v and writes p, m, v.
    Report(cfg.kind + " step (" + std::to_string(params.num_values()) + " params)", flat,
           Seconds(dev, [&] { opt.Step(); }, reps), flat.numel() * 4.0 * (cfg.kind == "sgd" ? 5 : 7));
  }
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const auto device = sal360::nn::ResolveDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    std::fprintf(stderr, "bench_layers: %s\n", std::string(device.status().message()).c_str());
    return 2;
  }
  return sal360::Run(*device);
}
