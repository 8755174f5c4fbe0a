// Test helpers shared by the SphericalConv CPU tests and the CUDA parity tests: random
// problems, hand-made tables, and double-precision references (the published
// expanded-image convolution and a plain scatter for the gradients).
#ifndef SAL360_TESTS_NN_SPHERICAL_CONV_TESTING_H_
#define SAL360_TESTS_NN_SPHERICAL_CONV_TESTING_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nn/ops/spherical_conv.h"
#include "nn/ops/spherical_conv_kernels.h"
#include "sphere/tables.h"

namespace sal360::nn::conv_testing {

using sphere::GatherTable;
using sphere::InverseTable;
using sphere::TableMode;
using sphere::TableSpec;

constexpr int kTaps = kernels::kConvTaps;

inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = u(rng);
  return v;
}

inline TableSpec Spec(int h, int w, TableMode mode) {
  TableSpec s;
  s.height = h;
  s.width = w;
  s.mode = mode;
  return s;
}

// A table with arbitrary sources and weights (not a sphere geometry): the layer's
// algebra must hold for any valid table. The last pixel is never read, so its input
// gradient must be exactly zero.
inline GatherTable RandomTable(int h, int w, int taps, uint32_t seed) {
  GatherTable g;
  g.spec = Spec(h, w, taps == 1 ? TableMode::kNearest : TableMode::kBilinear);
  g.taps = taps;
  std::mt19937 rng(seed);
  const int pixels = h * w;
  std::uniform_int_distribution<int> pick(0, pixels - 2);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  for (int64_t e = 0; e < int64_t{pixels} * kTaps * taps; ++e) {
    g.src.push_back(pick(rng));
    g.weight.push_back(taps == 1 ? 1.0f : u(rng));
  }
  return g;
}

// One test problem: the table (host copy), sizes, data in PyTorch's weight layout.
struct Problem {
  GatherTable g;
  int n = 1, cin = 1, cout = 1;
  std::vector<float> x;       // (N, H, W, Cin)
  std::vector<float> w_oihw;  // (Cout, Cin, 3, 3)
  std::vector<float> b;       // (Cout)
  int h() const { return g.spec.height; }
  int w() const { return g.spec.width; }
  int64_t pixels() const { return int64_t{h()} * w(); }
  Shape xs() const { return {n, h(), w(), cin}; }
  Shape ys() const { return {n, h(), w(), cout}; }
};

inline Problem MakeProblem(GatherTable g, int n, int cin, int cout, uint32_t seed) {
  Problem pr;
  pr.g = std::move(g);
  pr.n = n;
  pr.cin = cin;
  pr.cout = cout;
  pr.x = RandomVector(pr.xs().numel(), seed);
  pr.w_oihw = RandomVector(int64_t{cout} * cin * kTaps, seed + 1);
  pr.b = RandomVector(cout, seed + 2);
  return pr;
}

// ---- Double-precision references ------------------------------------------------

// The published construction: the 3H x 3W expanded image E, E[3i + r][3j + c] = the
// table's (bilinear) sample for pixel (i, j) and kernel position (r, c); then an
// ordinary 3x3 convolution with stride 3 and no padding. Also returns, per output,
// the sum of |terms| (for a float error bound).
inline void ExpandedImageConv(const Problem& pr, std::vector<double>* y, std::vector<double>* y_abs) {
  const int H = pr.h(), W = pr.w(), taps = pr.g.taps;
  std::vector<double> e(static_cast<size_t>(pr.n) * 3 * H * 3 * W * pr.cin, 0.0);
  auto E = [&](int n, int row, int col, int ci) -> double& {
    return e[((static_cast<size_t>(n) * 3 * H + row) * 3 * W + col) * pr.cin + ci];
  };
  for (int n = 0; n < pr.n; ++n)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j)
        for (int r = 0; r < 3; ++r)
          for (int c = 0; c < 3; ++c)
            for (int t = 0; t < taps; ++t) {
              const int64_t idx = ((int64_t{i} * W + j) * kTaps + r * 3 + c) * taps + t;
              const int64_t q = pr.g.src[idx];
              for (int ci = 0; ci < pr.cin; ++ci)
                E(n, 3 * i + r, 3 * j + c, ci) +=
                    double{pr.g.weight[idx]} * pr.x[(n * pr.pixels() + q) * pr.cin + ci];
            }
  y->assign(pr.ys().numel(), 0.0);
  y_abs->assign(pr.ys().numel(), 0.0);
  for (int n = 0; n < pr.n; ++n)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j)
        for (int co = 0; co < pr.cout; ++co) {
          double s = pr.b[co], a = std::fabs(pr.b[co]);
          for (int ci = 0; ci < pr.cin; ++ci)
            for (int r = 0; r < 3; ++r)
              for (int c = 0; c < 3; ++c) {
                const double term = double{pr.w_oihw[((co * pr.cin) + ci) * 9 + r * 3 + c]} *
                                    E(n, 3 * i + r, 3 * j + c, ci);
                s += term;
                a += std::fabs(term);
              }
          const size_t o = ((static_cast<size_t>(n) * H + i) * W + j) * pr.cout + co;
          (*y)[o] = s;
          (*y_abs)[o] = a;
        }
}

struct RefGrads {
  std::vector<double> dx, dw_oihw, db;  // and sums of |terms| for error bounds
  std::vector<double> dx_abs, dw_abs, db_abs;
};

// Gradients of L = sum(y * dy) written as a plain scatter through the table.
inline RefGrads ReferenceBackward(const Problem& pr, const std::vector<float>& dy) {
  RefGrads r;
  const int taps = pr.g.taps;
  r.dx.assign(pr.xs().numel(), 0.0);
  r.dx_abs.assign(pr.xs().numel(), 0.0);
  r.dw_oihw.assign(pr.w_oihw.size(), 0.0);
  r.dw_abs.assign(pr.w_oihw.size(), 0.0);
  r.db.assign(pr.cout, 0.0);
  r.db_abs.assign(pr.cout, 0.0);
  for (int n = 0; n < pr.n; ++n)
    for (int64_t p = 0; p < pr.pixels(); ++p) {
      const float* g = &dy[(n * pr.pixels() + p) * pr.cout];
      for (int co = 0; co < pr.cout; ++co) {
        r.db[co] += g[co];
        r.db_abs[co] += std::fabs(g[co]);
      }
      for (int tap = 0; tap < kTaps; ++tap)
        for (int t = 0; t < taps; ++t) {
          const int64_t e = (p * kTaps + tap) * taps + t;
          const int64_t q = pr.g.src[e];
          const double we = pr.g.weight[e];
          for (int ci = 0; ci < pr.cin; ++ci) {
            const double xv = pr.x[(n * pr.pixels() + q) * pr.cin + ci];
            for (int co = 0; co < pr.cout; ++co) {
              const double wv = pr.w_oihw[(co * pr.cin + ci) * 9 + tap];
              const double tx = we * wv * g[co];
              r.dx[(n * pr.pixels() + q) * pr.cin + ci] += tx;
              r.dx_abs[(n * pr.pixels() + q) * pr.cin + ci] += std::fabs(tx);
              const double tw = we * xv * g[co];
              r.dw_oihw[(co * pr.cin + ci) * 9 + tap] += tw;
              r.dw_abs[(co * pr.cin + ci) * 9 + tap] += std::fabs(tw);
            }
          }
        }
    }
  return r;
}

// Float sums of K terms err by at most ~K·eps·sum|terms|; K here is at most a few
// hundred, and the two-stage sums shorten the chains, so 2e-5·sum|terms| is a safe
// bound that still catches any wrong index (errors of the size of a term).
constexpr double kRelToAbsSum = 2e-5;

inline void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 const std::vector<double>& abs_sum, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 10; ++i) {
    const double tol = kRelToAbsSum * abs_sum[i] + 1e-6;
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << " want " << want[i]
                    << " tol " << tol;
      ++failures;
    }
  }
}

// ---- Running the op -------------------------------------------------------------

struct Outputs {
  std::vector<float> y, dx, dw_oihw, db;
};

inline Tensor WeightTensor(const Problem& pr, Device device = Device::kCpu) {
  Tensor w(Shape{kTaps, 1, pr.cin, pr.cout}, device);
  ConvWeightFromPytorch(pr.w_oihw.data(), pr.cout, pr.cin, w);
  return w;
}

inline Outputs RunConv(const ConvTable& t, const Problem& pr, const std::vector<float>& dy,
                      const ConvOptions& opt) {
  const Device dev = t.device();
  Tensor x = Tensor::FromVector(pr.xs(), pr.x, dev);
  Tensor w = WeightTensor(pr, dev);
  Tensor b = Tensor::FromVector(Shape{1, 1, 1, pr.cout}, pr.b, dev);
  Tensor y(pr.ys(), dev);
  SphericalConvForward(t, x, w, b, y, opt);
  Outputs o;
  o.y = y.ToVector();
  if (dy.empty()) return o;
  Tensor tdy = Tensor::FromVector(pr.ys(), dy, dev);
  Tensor dx(pr.xs(), dev);
  Tensor dw = Tensor::Zeros(w.shape(), dev);
  Tensor db = Tensor::Zeros(b.shape(), dev);
  SphericalConvBackward(t, x, w, tdy, &dx, dw, db, opt);
  o.dx = dx.ToVector();
  o.dw_oihw.resize(pr.w_oihw.size());
  ConvWeightToPytorch(dw, o.dw_oihw.data());
  o.db = db.ToVector();
  return o;
}

// Both algorithms, with the default block size and with a tiny block that leaves a
// partial block at the end of each image (and blocks that straddle rows).
inline std::vector<std::pair<std::string, ConvOptions>> AllOptions() {
  std::vector<std::pair<std::string, ConvOptions>> v;
  for (ConvAlgo a : {ConvAlgo::kGatherInput, ConvAlgo::kGatherOutput}) {
    const std::string name = a == ConvAlgo::kGatherInput ? "gather_input" : "gather_output";
    for (int64_t block : {int64_t{0}, int64_t{7}}) {
      ConvOptions o;
      o.algo = a;
      o.block_pixels = block;
      v.push_back({name + "/block" + std::to_string(block), o});
    }
  }
  return v;
}

struct Case {
  int n, h, w, cin, cout;
  TableMode mode;
};

inline std::string Name(const Case& c) {
  return "n" + std::to_string(c.n) + "_" + std::to_string(c.h) + "x" + std::to_string(c.w) +
         "_" + std::to_string(c.cin) + "to" + std::to_string(c.cout) +
         (c.mode == TableMode::kNearest ? "_nearest" : "_bilinear");
}

// Shapes: batch 1 and 3, odd widths, Cin < Cout and Cin > Cout, both table modes.
// Every pixel is checked, so the pole rows and the seam columns are always included.
inline const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {1, 4, 8, 3, 5, TableMode::kNearest},  {3, 4, 8, 5, 2, TableMode::kBilinear},
      {1, 5, 11, 2, 3, TableMode::kBilinear}, {3, 6, 7, 4, 1, TableMode::kNearest},
      {2, 6, 12, 1, 4, TableMode::kNearest},  {1, 3, 9, 6, 6, TableMode::kBilinear},
  };
  return cases;
}

}  // namespace sal360::nn::conv_testing

#endif  // SAL360_TESTS_NN_SPHERICAL_CONV_TESTING_H_
