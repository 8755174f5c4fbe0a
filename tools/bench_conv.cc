// Layer benchmark of SphericalConv (not a test): for every SphericalConv of the
// spherical U-Net at --height x --width (default 240x480) and --batch (default 1),
// the forward and backward time, the achieved GFLOP/s, and — in the same run — the
// machine's GEMM ceiling (nn::CpuSgemm) at the same GEMM shapes (the plain GEMMs on
// preallocated operands, no gather). FLOPs count the multiply-adds of the layer
// (2·P·9·Cin·Cout per pass; the backward does two such products, dW and dX, or one
// for conv1, which needs no dX).
//
//   bazel run -c opt //tools:bench_conv -- --reps=5
//   bazel run -c opt //tools:bench_conv -- --algo=input --blocks=512,1024,2048,4096

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
#include "nn/cpu_gemm.h"
#include "nn/ops/spherical_conv.h"
#include "sphere/tables.h"

ABSL_FLAG(int, height, 240, "Input height of the network (level 1)");
ABSL_FLAG(int, width, 480, "Input width of the network (level 1)");
ABSL_FLAG(int, batch, 1, "Batch size");
ABSL_FLAG(int, reps, 5, "Timed repetitions per measurement (the minimum is reported)");
ABSL_FLAG(int, passes, 3,
          "Passes over all layers; each figure is the minimum over passes (interleaving the "
          "layers spreads bursts of load from other processes)");
ABSL_FLAG(std::string, table_mode, "nearest", "nearest | bilinear");
ABSL_FLAG(std::string, algo, "auto", "auto | input | output | both (see nn::ConvAlgo)");
ABSL_FLAG(std::string, blocks, "0",
          "Comma-separated gather block sizes in pixels to sweep (0 = the default)");
ABSL_FLAG(std::string, layers, "", "Comma-separated layer names to run (default: all)");
ABSL_FLAG(bool, nchw, false,
          "Also time a straightforward channels-first (NCHW) forward of each layer, for the "
          "layout comparison in docs/nn_conv.md");
ABSL_FLAG(bool, ceiling, true, "Also measure the GEMM ceiling (nn::CpuSgemm) at the same shapes");

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
        nn::CpuSgemm(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, beta,
                     c.data(), n);
      },
      reps);
}

// The layout alternative, for the record: a channels-first (NCHW) forward written the
// straightforward way (PyTorch's unfold order): col (Cin*9, H*W) with col[ci*9 + tap][p]
// = sum_t weight · x[ci][src], then y (Cout, H*W) = W (Cout, Cin*9) · col. Each gathered
// element is a single float read with a stride, where NHWC copies channel vectors.
double NchwForwardSeconds(const sphere::GatherTable& g, int n_img, int cin, int cout, int reps) {
  const int64_t pix = int64_t{g.spec.height} * g.spec.width;
  const int taps = g.taps;
  std::vector<float> x(n_img * pix * cin, 0.5f), w(int64_t{cout} * cin * 9, 0.25f);
  std::vector<float> col(int64_t{cin} * 9 * pix), y(n_img * pix * cout);
  return Seconds(
      [&] {
        for (int n = 0; n < n_img; ++n) {
          const float* xn = x.data() + n * pix * cin;  // (Cin, H*W)
          for (int ci = 0; ci < cin; ++ci)
            for (int tap = 0; tap < 9; ++tap) {
              float* row = col.data() + (int64_t{ci} * 9 + tap) * pix;
              const float* xc = xn + ci * pix;
              for (int64_t p = 0; p < pix; ++p) {
                const int64_t e0 = (p * 9 + tap) * taps;
                float s = g.weight[e0] * xc[g.src[e0]];
                for (int t = 1; t < taps; ++t) s += g.weight[e0 + t] * xc[g.src[e0 + t]];
                row[p] = s;
              }
            }
          nn::CpuSgemm(false, false, cout, pix, cin * 9, 1.0f, w.data(), cin * 9, col.data(), pix,
                       0.0f, y.data() + n * pix * cout, pix);
        }
      },
      reps);
}

// One output row: a layer with one algorithm and block size; times are minima over
// all passes (other processes on the machine only ever add time).
struct Row {
  const Layer* layer = nullptr;
  ConvAlgo algo = ConvAlgo::kAuto;
  int64_t block = 0;
  double fwd = 1e30, bwd = 1e30;            // seconds
  double nchw_fwd = 1e30;                   // seconds, with --nchw
  double ceil_fwd = 1e30, ceil_bwd = 1e30;  // seconds of the plain GEMMs
};

std::string AlgoName(ConvAlgo a, const Layer& L) {
  auto name = [](ConvAlgo x) { return x == ConvAlgo::kGatherInput ? "in" : "out"; };
  if (a != ConvAlgo::kAuto) return name(a);
  return std::string(name(nn::ChooseConvAlgo(L.cin, L.cout, nn::ConvPass::kForward))) + "/" +
         name(nn::ChooseConvAlgo(L.cin, L.cout, nn::ConvPass::kBackward));
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int H = absl::GetFlag(FLAGS_height), W = absl::GetFlag(FLAGS_width);
  const int N = absl::GetFlag(FLAGS_batch), reps = absl::GetFlag(FLAGS_reps);
  const int passes = absl::GetFlag(FLAGS_passes);
  const bool ceiling = absl::GetFlag(FLAGS_ceiling);
  if (H <= 0 || W <= 0 || H % 8 != 0 || W % 8 != 0 || N <= 0 || reps <= 0 || passes <= 0) {
    std::fprintf(stderr, "bench_conv: need --height/--width divisible by 8, --batch, --reps, "
                         "--passes >= 1\n");
    return 2;
  }
  sphere::TableSpec base;
  const std::string mode = absl::GetFlag(FLAGS_table_mode);
  if (mode != "nearest" && mode != "bilinear") {
    std::fprintf(stderr, "bench_conv: --table_mode must be nearest or bilinear, not '%s'\n",
                 mode.c_str());
    return 2;
  }
  base.mode = mode == "bilinear" ? sphere::TableMode::kBilinear : sphere::TableMode::kNearest;
  const std::string algo_flag = absl::GetFlag(FLAGS_algo);
  if (algo_flag != "auto" && algo_flag != "input" && algo_flag != "output" && algo_flag != "both") {
    std::fprintf(stderr, "bench_conv: --algo must be auto, input, output or both, not '%s'\n",
                 algo_flag.c_str());
    return 2;
  }
  std::vector<int64_t> blocks;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_blocks), ',')) {
    int64_t b = 0;
    if (!absl::SimpleAtoi(s, &b) || b < 0) {
      std::fprintf(stderr, "bench_conv: --blocks: '%s' is not a block size\n", std::string(s).c_str());
      return 2;
    }
    blocks.push_back(b);
  }
  const std::string only = absl::GetFlag(FLAGS_layers);

  std::vector<Row> rows;
  for (const Layer& L : kLayers) {
    if (!only.empty() && ("," + only + ",").find(std::string(",") + L.name + ",") == std::string::npos)
      continue;
    std::vector<ConvAlgo> algos;
    if (algo_flag == "auto") algos = {ConvAlgo::kAuto};
    if (algo_flag == "input" || algo_flag == "both") algos.push_back(ConvAlgo::kGatherInput);
    if (algo_flag == "output" || algo_flag == "both") algos.push_back(ConvAlgo::kGatherOutput);
    for (ConvAlgo a : algos)
      for (int64_t block : blocks) rows.push_back(Row{&L, a, block});
  }

  std::printf("SphericalConv benchmark: %dx%d batch %d, %s tables, algo %s, %d passes x %d reps "
              "(minimum), %d threads, GEMM %s (nn/cpu_gemm.h)\n",
              H, W, N, mode.c_str(), algo_flag.c_str(), passes, reps, nn::CpuThreads(),
              nn::CurrentGemmPolicy().automatic
                  ? "auto"
                  : nn::GemmBackendName(nn::CurrentGemmPolicy().fixed));
  double peak = 1e30;
  for (int pass = 0; pass < passes; ++pass) {
    if (ceiling) peak = std::min(peak, GemmSeconds(false, false, 2048, 2048, 2048, 0.0f, reps));
    for (size_t r = 0; r < rows.size(); ++r) {
      Row& row = rows[r];
      const Layer& L = *row.layer;
      sphere::TableSpec spec = base;
      spec.height = H >> L.level;
      spec.width = W >> L.level;
      const nn::ConvTable table = nn::ConvTable::Create(spec, Device::kCpu);
      const Shape xs{N, spec.height, spec.width, L.cin}, ys{N, spec.height, spec.width, L.cout};
      Tensor x = Random(xs, 1), w = Random(Shape{9, 1, L.cin, L.cout}, 2);
      Tensor b = Random(Shape{1, 1, 1, L.cout}, 3), y(ys, Device::kCpu), dy = Random(ys, 4);
      Tensor dx(xs, Device::kCpu), dw = Tensor::Zeros(w.shape(), Device::kCpu);
      Tensor db = Tensor::Zeros(b.shape(), Device::kCpu);
      const bool need_dx = L.level != 0 || L.cin != 4;  // conv1 takes no input gradient
      ConvOptions opt;
      opt.algo = row.algo;
      opt.block_pixels = row.block;
      row.fwd = std::min(row.fwd, Seconds([&] { SphericalConvForward(table, x, w, b, y, opt); }, reps));
      row.bwd = std::min(row.bwd, Seconds([&] {
        SphericalConvBackward(table, x, w, dy, need_dx ? &dx : nullptr, dw, db, opt);
      }, reps));
      if (absl::GetFlag(FLAGS_nchw) && (r == 0 || rows[r - 1].layer != row.layer)) {
        row.nchw_fwd = std::min(
            row.nchw_fwd, NchwForwardSeconds(sphere::CachedGatherTable(spec), N, L.cin, L.cout, reps));
      }
      // Ceiling: the GEMMs of the algorithm in use as plain sgemm calls on preallocated
      // operands, one per image (no gather, no blocking). Shared by rows of one layer
      // and algorithm, so measured with the first of them.
      if (!ceiling || (r > 0 && rows[r - 1].layer == row.layer && rows[r - 1].algo == row.algo)) {
        continue;
      }
      const int pix = spec.height * spec.width, kc = 9 * L.cin, kz = 9 * L.cout;
      auto resolve = [&](nn::ConvPass pass) {
        return row.algo == ConvAlgo::kAuto ? nn::ChooseConvAlgo(L.cin, L.cout, pass) : row.algo;
      };
      const double t_fwd =
          resolve(nn::ConvPass::kForward) == ConvAlgo::kGatherInput
              ? GemmSeconds(false, false, pix, L.cout, kc, 1.0f, reps)   // col · w
              : GemmSeconds(false, false, pix, kz, L.cin, 0.0f, reps);   // x · wz
      const double t_bwd =
          resolve(nn::ConvPass::kBackward) == ConvAlgo::kGatherInput
              ? GemmSeconds(true, false, kc, L.cout, pix, 1.0f, reps) +  // col^T · dy
                    (need_dx ? GemmSeconds(false, true, pix, kc, L.cout, 0.0f, reps) : 0.0)  // dy · w^T
              : GemmSeconds(true, false, L.cin, kz, pix, 1.0f, reps) +   // x^T · g
                    (need_dx ? GemmSeconds(false, true, pix, L.cin, kz, 0.0f, reps) : 0.0);  // g · wz^T
      row.ceil_fwd = std::min(row.ceil_fwd, N * t_fwd);
      row.ceil_bwd = std::min(row.ceil_bwd, N * t_bwd);
    }
  }
  // Rows sharing a ceiling copy it from the first of their group.
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r - 1].layer == rows[r].layer && rows[r - 1].algo == rows[r].algo) {
      rows[r].ceil_fwd = rows[r - 1].ceil_fwd;
      rows[r].ceil_bwd = rows[r - 1].ceil_bwd;
    }
  }

  if (ceiling) std::printf("sgemm 2048^3: %.1f GFLOP/s (machine reference)\n", 2.0 * 2048 * 2048 * 2048 / peak / 1e9);
  std::printf("%-6s %-9s %-7s %-6s %6s | %8s %7s %7s | %8s %7s %7s | %6s %6s\n", "layer", "shape",
              "grid", "algo", "block", "fwd ms", "GFLOP/s", "ceil", "bwd ms", "GFLOP/s", "ceil",
              "fwd%", "bwd%");
  double tf = 0, tb = 0, ff = 0, fb = 0, cf = 0, cb = 0;
  const Layer* last = nullptr;
  for (const Row& row : rows) {
    const Layer& L = *row.layer;
    const int64_t P = int64_t{N} * (H >> L.level) * (W >> L.level);
    const bool need_dx = L.level != 0 || L.cin != 4;
    const double flop = 2.0 * P * 9 * L.cin * L.cout, bwd_flop = flop * (need_dx ? 2 : 1);
    char shape[32], grid[32];
    std::snprintf(shape, sizeof(shape), "%d->%d", L.cin, L.cout);
    std::snprintf(grid, sizeof(grid), "%dx%d", H >> L.level, W >> L.level);
    const double gf = flop / row.fwd / 1e9, gb = bwd_flop / row.bwd / 1e9;
    const double cgf = ceiling ? flop / row.ceil_fwd / 1e9 : 0, cgb = ceiling ? bwd_flop / row.ceil_bwd / 1e9 : 0;
    std::printf("%-6s %-9s %-7s %-6s %6lld | %8.2f %7.1f %7.1f | %8.2f %7.1f %7.1f | %5.0f%% %5.0f%%\n",
                L.name, shape, grid, AlgoName(row.algo, L).c_str(), static_cast<long long>(row.block),
                row.fwd * 1e3, gf, cgf, row.bwd * 1e3, gb, cgb, ceiling ? 100 * gf / cgf : 0.0,
                ceiling ? 100 * gb / cgb : 0.0);
    if (row.nchw_fwd < 1e30) {
      std::printf("%-6s   NCHW reference forward %.2f ms (%.1f GFLOP/s): NHWC is %.2fx faster\n",
                  "", row.nchw_fwd * 1e3, flop / row.nchw_fwd / 1e9, row.nchw_fwd / row.fwd);
    }
    if (row.layer != last) {  // totals: the first row of each layer
      last = row.layer;
      tf += row.fwd;
      tb += row.bwd;
      ff += flop;
      fb += bwd_flop;
      cf += row.ceil_fwd;
      cb += row.ceil_bwd;
    }
  }
  std::printf("total (first row per layer): forward %.1f ms = %.1f GFLOP/s", tf * 1e3, ff / tf / 1e9);
  if (ceiling) std::printf(" (%.0f%% of its GEMMs' %.1f ms)", 100 * cf / tf, cf * 1e3);
  std::printf(", backward %.1f ms = %.1f GFLOP/s", tb * 1e3, fb / tb / 1e9);
  if (ceiling) std::printf(" (%.0f%% of its GEMMs' %.1f ms)", 100 * cb / tb, cb * 1e3);
  std::printf("\narena high water: %.1f MiB\n",
              nn::Context::Get(Device::kCpu).arena().high_water() / 1048576.0);
  return 0;
}

}  // namespace
}  // namespace sal360

int main(int argc, char** argv) { return sal360::Main(argc, argv); }
