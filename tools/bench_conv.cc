// Layer benchmark of SphericalConv (not a test): for every SphericalConv of the
// spherical U-Net at --height x --width (default 240x480) and --batch (default 1),
// the forward and backward time, the achieved GFLOP/s, and — in the same run — the
// machine's cblas_sgemm ceiling at the same GEMM shapes (the plain GEMMs on
// preallocated operands, no gather). FLOPs count the multiply-adds of the layer
// (2·P·9·Cin·Cout per pass; the backward does two such products, dW and dX, or one
// for conv1, which needs no dX).
//
//   bazel run -c opt //tools:bench_conv -- --reps=5
//   bazel run -c opt //tools:bench_conv -- --algo=input --blocks=512,1024,2048,4096
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "nn/context.h"
#include "nn/ops/spherical_conv.h"
#include "sphere/tables.h"

ABSL_FLAG(int, height, 240, "Input height of the network (level 1)");
ABSL_FLAG(int, width, 480, "Input width of the network (level 1)");
ABSL_FLAG(int, batch, 1, "Batch size");
ABSL_FLAG(int, reps, 5, "Timed repetitions per measurement (the minimum is reported)");
ABSL_FLAG(std::string, table_mode, "nearest", "nearest | bilinear");
ABSL_FLAG(std::string, algo, "auto", "auto | input | output (see ConvAlgo)");
ABSL_FLAG(std::string, blocks, "0",
          "Comma-separated gather block sizes in pixels to sweep (0 = the default)");
ABSL_FLAG(std::string, layers, "", "Comma-separated layer names to run (default: all)");
ABSL_FLAG(bool, ceiling, true, "Also measure the cblas_sgemm ceiling at the same shapes");

namespace sal360 {
namespace {

using nn::ConvAlgo;
using nn::ConvOptions;
using nn::Device;
using nn::Shape;
using nn::Tensor;

struct Layer {
  const char* name;
  int cin, cout, level;  // level 0 = full resolution, 1 = half, ...
};
constexpr Layer kLayers[] = {
    {"conv1", 4, 64, 0},    {"conv2", 64, 128, 1}, {"conv3", 128, 256, 2},
    {"conv4", 256, 256, 3}, {"conv5", 512, 128, 2}, {"conv6", 256, 64, 1},
    {"conv7", 128, 1, 0},
};

double Seconds(const std::function<void()>& f, int reps) {
  f();  // warm-up: grows the arena, touches the tables and the caches
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    const auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double>(b - a).count());
  }
  std::sort(t.begin(), t.end());
  return t.front();  // the minimum: other processes only ever add time
}

Tensor Random(Shape s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(s.numel()));
  for (float& f : v) f = u(rng);
  return Tensor::FromVector(s, v, Device::kCpu);
}

// Median time of row-major C (m, n) = op(A) · op(B) (+ C) on preallocated operands.
double GemmSeconds(bool ta, bool tb, int m, int n, int k, float beta, int reps) {
  std::vector<float> a(static_cast<size_t>(m) * k, 0.5f), b(static_cast<size_t>(k) * n, 0.25f),
      c(static_cast<size_t>(m) * n, 0.0f);
  return Seconds(
      [&] {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, beta, c.data(), n);
      },
      reps);
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int H = absl::GetFlag(FLAGS_height), W = absl::GetFlag(FLAGS_width);
  const int N = absl::GetFlag(FLAGS_batch), reps = absl::GetFlag(FLAGS_reps);
  sphere::TableSpec base;
  base.mode = absl::GetFlag(FLAGS_table_mode) == "bilinear" ? sphere::TableMode::kBilinear
                                                            : sphere::TableMode::kNearest;
  ConvAlgo algo = ConvAlgo::kAuto;
  if (absl::GetFlag(FLAGS_algo) == "input") algo = ConvAlgo::kGatherInput;
  if (absl::GetFlag(FLAGS_algo) == "output") algo = ConvAlgo::kGatherOutput;
  std::vector<int64_t> blocks;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_blocks), ',')) {
    int64_t b = 0;
    if (!absl::SimpleAtoi(s, &b)) {
      std::fprintf(stderr, "bench_conv: --blocks: '%s' is not an integer\n", std::string(s).c_str());
      return 2;
    }
    blocks.push_back(b);
  }
  const std::string only = absl::GetFlag(FLAGS_layers);

  std::printf("SphericalConv benchmark: %dx%d batch %d, %s tables, algo %s, OpenBLAS %d threads (%s)\n",
              H, W, N, absl::GetFlag(FLAGS_table_mode).c_str(), absl::GetFlag(FLAGS_algo).c_str(),
              openblas_get_num_threads(), openblas_get_config());
  std::printf("%-6s %-10s %6s %-6s %6s | %8s %7s %7s | %8s %7s %7s | %8s %8s\n", "layer", "shape",
              "grid", "algo", "block", "fwd ms", "GFLOP/s", "ceil", "bwd ms", "GFLOP/s", "ceil",
              "fwd %", "bwd %");
  double total_fwd = 0, total_bwd = 0, total_fwd_flop = 0, total_bwd_flop = 0;
  double total_fwd_ceil = 0, total_bwd_ceil = 0;
  for (const Layer& L : kLayers) {
    if (!only.empty() && ("," + only + ",").find(std::string(",") + L.name + ",") == std::string::npos)
      continue;
    sphere::TableSpec spec = base;
    spec.height = H >> L.level;
    spec.width = W >> L.level;
    const nn::ConvTable table = nn::ConvTable::Create(spec, Device::kCpu);
    const int64_t P = int64_t{N} * spec.height * spec.width;
    const Shape xs{N, spec.height, spec.width, L.cin}, ys{N, spec.height, spec.width, L.cout};
    Tensor x = Random(xs, 1), w = Random(Shape{9, 1, L.cin, L.cout}, 2);
    Tensor b = Random(Shape{1, 1, 1, L.cout}, 3), y(ys, Device::kCpu), dy = Random(ys, 4);
    Tensor dx(xs, Device::kCpu), dw = Tensor::Zeros(w.shape(), Device::kCpu);
    Tensor db = Tensor::Zeros(b.shape(), Device::kCpu);
    const bool need_dx = L.level != 0 || L.cin != 4;  // conv1 takes no input gradient
    const double flop = 2.0 * P * 9 * L.cin * L.cout;
    const int K = 9 * L.cin;

    // Ceiling: the layer's GEMMs as plain sgemm calls over the whole batch.
    double ceil_fwd = 0, ceil_bwd = 0;
    if (absl::GetFlag(FLAGS_ceiling)) {
      ceil_fwd = flop / GemmSeconds(false, false, P, L.cout, K, 1.0f, reps) / 1e9;
      const double t_dw = GemmSeconds(true, false, K, L.cout, P, 1.0f, reps);
      const double t_dcol = need_dx ? GemmSeconds(false, true, P, K, L.cout, 0.0f, reps) : 0.0;
      ceil_bwd = flop * (need_dx ? 2 : 1) / (t_dw + t_dcol) / 1e9;
    }
    for (int64_t block : blocks) {
      ConvOptions opt;
      opt.algo = algo;
      opt.block_pixels = block;
      const ConvAlgo used = algo == ConvAlgo::kAuto ? nn::ChooseConvAlgo(L.cin, L.cout) : algo;
      const double t_fwd = Seconds([&] { SphericalConvForward(table, x, w, b, y, opt); }, reps);
      const double t_bwd = Seconds(
          [&] { SphericalConvBackward(table, x, w, dy, need_dx ? &dx : nullptr, dw, db, opt); },
          reps);
      const double bwd_flop = flop * (need_dx ? 2 : 1);
      const double g_fwd = flop / t_fwd / 1e9, g_bwd = bwd_flop / t_bwd / 1e9;
      char shape[32];
      std::snprintf(shape, sizeof(shape), "%d->%d", L.cin, L.cout);
      char grid[32];
      std::snprintf(grid, sizeof(grid), "%dx%d", spec.height, spec.width);
      std::printf("%-6s %-10s %6s %-6s %6lld | %8.2f %7.1f %7.1f | %8.2f %7.1f %7.1f | %7.0f%% %7.0f%%\n",
                  L.name, shape, grid, used == ConvAlgo::kGatherInput ? "input" : "output",
                  static_cast<long long>(block), t_fwd * 1e3, g_fwd, ceil_fwd, t_bwd * 1e3, g_bwd,
                  ceil_bwd, ceil_fwd > 0 ? 100 * g_fwd / ceil_fwd : 0.0,
                  ceil_bwd > 0 ? 100 * g_bwd / ceil_bwd : 0.0);
      if (block == blocks.front()) {
        total_fwd += t_fwd;
        total_bwd += t_bwd;
        total_fwd_flop += flop;
        total_bwd_flop += bwd_flop;
        if (ceil_fwd > 0) total_fwd_ceil += flop / (ceil_fwd * 1e9);
        if (ceil_bwd > 0) total_bwd_ceil += bwd_flop / (ceil_bwd * 1e9);
      }
    }
    std::fflush(stdout);
  }
  std::printf("total (first block size): forward %.1f ms (%.1f GFLOP/s; ceiling time %.1f ms), "
              "backward %.1f ms (%.1f GFLOP/s; ceiling time %.1f ms)\n",
              total_fwd * 1e3, total_fwd_flop / total_fwd / 1e9, total_fwd_ceil * 1e3,
              total_bwd * 1e3, total_bwd_flop / total_bwd / 1e9, total_bwd_ceil * 1e3);
  std::printf("arena high water: %.1f MiB\n",
              nn::Context::Get(Device::kCpu).arena().high_water() / 1048576.0);
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) { return sal360::Main(argc, argv); }
