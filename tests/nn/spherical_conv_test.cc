// SphericalConv on the CPU: known answers from the definition, equality with the
// published expanded-image convolution, finite-difference gradients, determinism,
// the inverse gather against a naive scatter, table validation, and sentinel guards
// around every buffer.
#include "nn/ops/spherical_conv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/ops/concat.h"
#include "nn/ops/pool.h"
#include "nn/ops/spherical_conv_kernels.h"
#include "sphere/tables.h"
#include "tests/nn/spherical_conv_testing.h"

namespace sal360::nn {
namespace {

using namespace conv_testing;  // NOLINT: the test vocabulary (Problem, RunConv, ...)

// ---- Tests ----------------------------------------------------------------------

TEST(SphericalConv, WeightPermutationRoundTripAndLayout) {
  const int cout = 3, cin = 2;
  const auto w_oihw = RandomVector(cout * cin * 9, 5);
  Tensor w(Shape{9, 1, cin, cout}, Device::kCpu);
  ConvWeightFromPytorch(w_oihw.data(), cout, cin, w);
  const auto host = w.ToVector();
  // w[tap][ci][co] = W[co][ci][r][c], tap = r*3 + c.
  for (int co = 0; co < cout; ++co)
    for (int ci = 0; ci < cin; ++ci)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(host[((r * 3 + c) * cin + ci) * cout + co],
                    w_oihw[((co * cin + ci) * 3 + r) * 3 + c]);
  std::vector<float> back(w_oihw.size());
  ConvWeightToPytorch(w, back.data());
  EXPECT_EQ(back, w_oihw);
}

// A weight that selects kernel position k (identity over channels) turns the layer into
// the table's sampler for k: y[p] = sum_t weight * x[src]. For nearest tables that is
// the neighbour's value exactly (and tap 4, the centre, is the pixel itself).
TEST(SphericalConv, SelectingOneKernelPositionReproducesTheNeighbour) {
  for (TableMode mode : {TableMode::kNearest, TableMode::kBilinear}) {
    const TableSpec spec = Spec(6, 12, mode);
    const GatherTable& g = sphere::CachedGatherTable(spec);
    const ConvTable t = ConvTable::Create(spec, Device::kCpu);
    const int c = 3;
    Problem pr = MakeProblem(g, 2, c, c, 11);
    std::fill(pr.b.begin(), pr.b.end(), 0.0f);
    for (int k = 0; k < 9; ++k) {
      std::fill(pr.w_oihw.begin(), pr.w_oihw.end(), 0.0f);
      for (int ch = 0; ch < c; ++ch) pr.w_oihw[(ch * c + ch) * 9 + k] = 1.0f;
      for (const auto& [name, opt] : AllOptions()) {
        const Outputs o = RunConv(t, pr, {}, opt);
        for (int n = 0; n < pr.n; ++n)
          for (int64_t p = 0; p < pr.pixels(); ++p) {
            if (mode == TableMode::kNearest && k == 4) {
              ASSERT_EQ(g.src[p * 9 + 4], p) << "centre tap of pixel " << p;
            }
            for (int ch = 0; ch < c; ++ch) {
              double want = 0.0;
              for (int tt = 0; tt < g.taps; ++tt) {
                const int64_t e = (p * 9 + k) * g.taps + tt;
                want += double{g.weight[e]} * pr.x[(n * pr.pixels() + g.src[e]) * c + ch];
              }
              const float got = o.y[(n * pr.pixels() + p) * c + ch];
              if (mode == TableMode::kNearest) {
                ASSERT_EQ(got, static_cast<float>(want)) << name << " k=" << k << " p=" << p;
              } else {
                ASSERT_NEAR(got, want, 1e-6) << name << " k=" << k << " p=" << p;
              }
            }
          }
      }
    }
  }
}

TEST(SphericalConv, ZeroWeightGivesBias) {
  const TableSpec spec = Spec(4, 8, TableMode::kBilinear);
  const ConvTable t = ConvTable::Create(spec, Device::kCpu);
  Problem pr = MakeProblem(sphere::CachedGatherTable(spec), 2, 3, 4, 3);
  std::fill(pr.w_oihw.begin(), pr.w_oihw.end(), 0.0f);
  for (const auto& [name, opt] : AllOptions()) {
    const Outputs o = RunConv(t, pr, {}, opt);
    for (size_t i = 0; i < o.y.size(); ++i) ASSERT_EQ(o.y[i], pr.b[i % pr.cout]) << name;
  }
}

TEST(SphericalConv, ForwardEqualsExpandedImageConvolution) {
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable t = ConvTable::Create(spec, Device::kCpu);
    const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 17);
    std::vector<double> y, y_abs;
    ExpandedImageConv(pr, &y, &y_abs);
    for (const auto& [name, opt] : AllOptions()) {
      ExpectClose(RunConv(t, pr, {}, opt).y, y, y_abs, Name(c) + "/" + name + " y");
    }
  }
}

TEST(SphericalConv, ArbitraryTablesMatchReference) {
  for (int taps : {1, 4}) {
    const GatherTable g = RandomTable(5, 9, taps, 23 + taps);
    const ConvTable t = ConvTable::FromTables(g, sphere::BuildInverseTable(g), Device::kCpu);
    const Problem pr = MakeProblem(g, 2, 3, 4, 29);
    std::vector<double> y, y_abs;
    ExpandedImageConv(pr, &y, &y_abs);
    const auto dy = RandomVector(pr.ys().numel(), 31);
    const RefGrads ref = ReferenceBackward(pr, dy);
    for (const auto& [name, opt] : AllOptions()) {
      const Outputs o = RunConv(t, pr, dy, opt);
      const std::string what = "taps" + std::to_string(taps) + "/" + name;
      ExpectClose(o.y, y, y_abs, what + " y");
      ExpectClose(o.dx, ref.dx, ref.dx_abs, what + " dx");
      ExpectClose(o.dw_oihw, ref.dw_oihw, ref.dw_abs, what + " dw");
      ExpectClose(o.db, ref.db, ref.db_abs, what + " db");
      // The last pixel is read by no table entry: its gradient is exactly zero.
      for (int n = 0; n < pr.n; ++n)
        for (int ci = 0; ci < pr.cin; ++ci)
          EXPECT_EQ(o.dx[((n + 1) * pr.pixels() - 1) * pr.cin + ci], 0.0f) << what;
    }
  }
}

TEST(SphericalConv, BackwardMatchesDoubleReference) {
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable t = ConvTable::Create(spec, Device::kCpu);
    const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 37);
    const auto dy = RandomVector(pr.ys().numel(), 41);
    const RefGrads ref = ReferenceBackward(pr, dy);
    for (const auto& [name, opt] : AllOptions()) {
      const Outputs o = RunConv(t, pr, dy, opt);
      const std::string what = Name(c) + "/" + name;
      ExpectClose(o.dx, ref.dx, ref.dx_abs, what + " dx");
      ExpectClose(o.dw_oihw, ref.dw_oihw, ref.dw_abs, what + " dw");
      ExpectClose(o.db, ref.db, ref.db_abs, what + " db");
    }
  }
}

// Central differences of L = sum(y · R) through the float forward, accumulated in
// double. The layer is affine in x, w and b, so there is no truncation error and a
// large step (0.25, exact in binary) keeps the float rounding of y small relative to
// the difference: the bound below is the rounding of the outputs that change.
TEST(SphericalConv, FiniteDifferenceGradients) {
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable t = ConvTable::Create(spec, Device::kCpu);
    Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 43);
    const auto r = RandomVector(pr.ys().numel(), 47);
    for (const auto& [name, opt] : AllOptions()) {
      if (opt.block_pixels != 0) continue;  // block sizes are covered by the reference tests
      const std::string what = Name(c) + "/" + name;
      const Outputs o = RunConv(t, pr, r, opt);
      auto loss = [&](const Problem& q) {
        const Outputs f = RunConv(t, q, {}, opt);
        double l = 0.0;
        for (size_t i = 0; i < f.y.size(); ++i) l += double{f.y[i]} * r[i];
        return l;
      };
      constexpr float h = 0.25f;
      constexpr double tol = 2e-3;  // ~1e-7 · |y| · (outputs touched) / h, with margin
      auto check = [&](std::vector<float>& param, const std::vector<float>& grad,
                       const char* which) {
        for (size_t i = 0; i < param.size(); ++i) {
          const float saved = param[i];
          param[i] = saved + h;
          const double lp = loss(pr);
          param[i] = saved - h;
          const double lm = loss(pr);
          param[i] = saved;
          const double fd = (lp - lm) / (2.0 * h);
          ASSERT_NEAR(grad[i], fd, tol * (1.0 + std::fabs(fd))) << what << " " << which << "[" << i << "]";
        }
      };
      check(pr.x, o.dx, "dx");
      check(pr.w_oihw, o.dw_oihw, "dw");
      check(pr.b, o.db, "db");
    }
  }
}

TEST(SphericalConv, BackwardIsDeterministic) {
  const TableSpec spec = Spec(8, 16, TableMode::kBilinear);
  const ConvTable t = ConvTable::Create(spec, Device::kCpu);
  const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), 3, 5, 7, 53);
  const auto dy = RandomVector(pr.ys().numel(), 59);
  for (const auto& [name, opt] : AllOptions()) {
    const Outputs a = RunConv(t, pr, dy, opt);
    const Outputs b = RunConv(t, pr, dy, opt);
    // Bitwise: memcmp, so even a -0 vs +0 difference would show.
    EXPECT_EQ(0, std::memcmp(a.y.data(), b.y.data(), a.y.size() * 4)) << name;
    EXPECT_EQ(0, std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * 4)) << name;
    EXPECT_EQ(0, std::memcmp(a.dw_oihw.data(), b.dw_oihw.data(), a.dw_oihw.size() * 4)) << name;
    EXPECT_EQ(0, std::memcmp(a.db.data(), b.db.data(), a.db.size() * 4)) << name;
  }
}

// The conv over [up(a) | b] equals the explicit path — upsample a, concatenate with b,
// SphericalConv on the output side — forward and backward, up to float rounding (the
// channel sum is split in two; the references agree with a double-precision expanded
// image above). Nearest and bilinear tables, batch 2, odd channel counts, Cout 1 and 3.
TEST(SphericalConv, UpCatEqualsExplicitConcatenation) {
  for (const TableMode mode : {TableMode::kNearest, TableMode::kBilinear}) {
    for (const int cout : {1, 3}) {
      const int n = 2, h = 8, w = 16, ca = 5, cb = 7, cin = ca + cb;
      const TableSpec spec = Spec(h, w, mode);
      const ConvTable t = ConvTable::Create(spec, Device::kCpu);
      const Tensor a = Tensor::FromVector(Shape{n, h / 2, w / 2, ca}, RandomVector(n * h / 2 * w / 2 * ca, 71), Device::kCpu);
      const Tensor b = Tensor::FromVector(Shape{n, h, w, cb}, RandomVector(n * h * w * cb, 72), Device::kCpu);
      const Tensor wt = Tensor::FromVector(Shape{9, 1, cin, cout}, RandomVector(9 * cin * cout, 73), Device::kCpu);
      const Tensor bias = Tensor::FromVector(Shape{1, 1, 1, cout}, RandomVector(cout, 74), Device::kCpu);
      const Tensor dy = Tensor::FromVector(Shape{n, h, w, cout}, RandomVector(n * h * w * cout, 75), Device::kCpu);
      // The explicit path.
      Tensor up(Shape{n, h, w, ca}, Device::kCpu), cat(Shape{n, h, w, cin}, Device::kCpu);
      UpsampleNearest2xForward(a, up);
      ConcatChannelsForward(up, b, cat);
      ConvOptions out_side;
      out_side.algo = ConvAlgo::kGatherOutput;
      Tensor y_ref(Shape{n, h, w, cout}, Device::kCpu);
      SphericalConvForward(t, cat, wt, bias, y_ref, out_side);
      Tensor dcat(Shape{n, h, w, cin}, Device::kCpu), dup(Shape{n, h, w, ca}, Device::kCpu);
      Tensor da_ref(Shape{n, h / 2, w / 2, ca}, Device::kCpu), db_ref(Shape{n, h, w, cb}, Device::kCpu);
      Tensor dw_ref = Tensor::Zeros(wt.shape(), Device::kCpu), dbias_ref = Tensor::Zeros(bias.shape(), Device::kCpu);
      SphericalConvBackward(t, cat, wt, dy, &dcat, dw_ref, dbias_ref, out_side);
      ConcatChannelsBackward(dcat, dup, db_ref);
      UpsampleNearest2xBackward(dup, da_ref);
      // Fused.
      Tensor y(Shape{n, h, w, cout}, Device::kCpu);
      SphericalConvUpCatForward(t, a, b, wt, bias, y);
      Tensor da(a.shape(), Device::kCpu), db(b.shape(), Device::kCpu);
      Tensor dw = Tensor::Zeros(wt.shape(), Device::kCpu), dbias = Tensor::Zeros(bias.shape(), Device::kCpu);
      SphericalConvUpCatBackward(t, a, b, wt, dy, da, db, dw, dbias);
      auto close = [&](const Tensor& got, const Tensor& want, const char* what) {
        const std::vector<float> g = got.ToVector(), r = want.ToVector();
        ASSERT_EQ(g.size(), r.size());
        double scale = 0;
        for (float v : r) scale = std::max(scale, double(std::fabs(v)));
        for (size_t i = 0; i < g.size(); ++i) {
          // A few float roundings of sums of ~cin*9*taps terms of size <= 1.
          ASSERT_NEAR(g[i], r[i], 1e-5 * (1 + scale)) << what << " " << i << " mode " << int(mode) << " cout " << cout;
        }
      };
      close(y, y_ref, "y");
      close(da, da_ref, "da");
      close(db, db_ref, "db");
      close(dw, dw_ref, "dw");
      EXPECT_EQ(dbias.ToVector(), dbias_ref.ToVector());  // the same bias reduction
    }
  }
}

// dw and db accumulate ("+="); dx is overwritten ("=").
TEST(SphericalConv, GradientsAccumulateAndDxOverwrites) {
  const TableSpec spec = Spec(4, 8, TableMode::kNearest);
  const ConvTable t = ConvTable::Create(spec, Device::kCpu);
  const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), 2, 3, 2, 61);
  const auto dy = RandomVector(pr.ys().numel(), 67);
  for (const auto& [name, opt] : AllOptions()) {
    Tensor x = Tensor::FromVector(pr.xs(), pr.x, Device::kCpu);
    Tensor w = WeightTensor(pr);
    Tensor tdy = Tensor::FromVector(pr.ys(), dy, Device::kCpu);
    Tensor dx = Tensor::FromVector(pr.xs(), std::vector<float>(pr.xs().numel(), 1e6f), Device::kCpu);
    Tensor dw = Tensor::Zeros(w.shape(), Device::kCpu);
    Tensor db = Tensor::Zeros(Shape{1, 1, 1, pr.cout}, Device::kCpu);
    SphericalConvBackward(t, x, w, tdy, &dx, dw, db, opt);
    const auto dx1 = dx.ToVector(), dw1 = dw.ToVector(), db1 = db.ToVector();
    SphericalConvBackward(t, x, w, tdy, &dx, dw, db, opt);
    EXPECT_EQ(dx.ToVector(), dx1) << name;
    const auto dw2 = dw.ToVector(), db2 = db.ToVector();
    // The second pass adds block by block onto the first one's sums: equal to 2x up to
    // rounding at the scale of the largest entry.
    auto max_abs = [](const std::vector<float>& v) {
      float m = 0;
      for (float f : v) m = std::max(m, std::fabs(f));
      return m;
    };
    for (size_t i = 0; i < dw1.size(); ++i)
      EXPECT_NEAR(dw2[i], 2 * dw1[i], 1e-5 * max_abs(dw1)) << name;
    for (size_t i = 0; i < db1.size(); ++i)
      EXPECT_NEAR(db2[i], 2 * db1[i], 1e-5 * max_abs(db1)) << name;
    // First layer: no dx; the parameter gradients are the same.
    Tensor dw3 = Tensor::Zeros(w.shape(), Device::kCpu);
    Tensor db3 = Tensor::Zeros(Shape{1, 1, 1, pr.cout}, Device::kCpu);
    SphericalConvBackward(t, x, w, tdy, nullptr, dw3, db3, opt);
    EXPECT_EQ(dw3.ToVector(), dw1) << name;
    EXPECT_EQ(db3.ToVector(), db1) << name;
  }
}

// The inverse-gather body against a naive scatter through the forward table, in double.
TEST(SphericalConv, InverseGatherEqualsNaiveScatter) {
  for (int taps : {1, 4}) {
    for (const GatherTable& g :
         {RandomTable(4, 7, taps, 71), sphere::BuildGatherTable(Spec(5, 10, taps == 1
                                                                               ? TableMode::kNearest
                                                                               : TableMode::kBilinear))}) {
      const InverseTable inv = sphere::BuildInverseTable(g);
      const InverseRows flat = FlattenInverse(g, inv);
      ASSERT_EQ(g.taps, taps);
      const int64_t pixels = int64_t{g.spec.height} * g.spec.width;
      const int c = 3;
      const auto dcol = RandomVector(pixels * 9 * c, 73);  // (H*W*9, C)
      std::vector<double> want(pixels * c, 0.0);
      for (int64_t e = 0; e < static_cast<int64_t>(g.src.size()); ++e)
        for (int ch = 0; ch < c; ++ch)
          want[g.src[e] * c + ch] += double{g.weight[e]} * dcol[(e / taps) * c + ch];
      std::vector<float> got(pixels * c);
      for (int64_t q = 0; q < pixels; ++q)
        kernels::InverseGatherRow(dcol.data(), c, inv.offsets.data(), flat.rows.data(),
                                  flat.weights.data(), q, got.data() + q * c, 0, c, 1);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;
      // The taps variant: g[q][tap][c] collects only the entries of that kernel position.
      const auto dy = RandomVector(pixels * c, 79);
      std::vector<double> want_z(pixels * 9 * c, 0.0);
      for (int64_t e = 0; e < static_cast<int64_t>(g.src.size()); ++e)
        for (int ch = 0; ch < c; ++ch)
          want_z[(g.src[e] * 9 + (e / taps) % 9) * c + ch] +=
              double{g.weight[e]} * dy[(e / taps / 9) * c + ch];
      std::vector<float> got_z(pixels * 9 * c);
      for (int64_t q = 0; q < pixels; ++q)
        kernels::InverseGatherTapsRow(dy.data(), c, inv.offsets.data(), flat.rows.data(),
                                      flat.weights.data(), q, got_z.data() + q * 9 * c, 0, c, 1);
      for (size_t i = 0; i < got_z.size(); ++i) ASSERT_NEAR(got_z[i], want_z[i], 1e-5) << i;
    }
  }
}

// The shared bodies give the same bits whether a caller passes the whole channel range
// (CPU) or one channel at a time (a CUDA thread).
TEST(SphericalConv, BodiesAgreeChannelByChannel) {
  const GatherTable g = RandomTable(4, 6, 4, 83);
  const InverseTable inv = sphere::BuildInverseTable(g);
  const InverseRows flat = FlattenInverse(g, inv);
  const int c = 5;
  const int64_t pixels = 24;
  const auto x = RandomVector(pixels * 9 * c, 89);
  const auto bias = RandomVector(c, 97);
  std::vector<float> whole(9 * c), single(9 * c);
  // Runs `body(c0, c1, out)` once over all channels and once per channel.
  auto agree = [&](int floats, const auto& body) {
    body(0, c, whole.data());
    for (int ch = 0; ch < c; ++ch) body(ch, ch + 1, single.data());
    return std::memcmp(whole.data(), single.data(), floats * 4) == 0;
  };
  for (int64_t r = 0; r < pixels; ++r) {
    ASSERT_TRUE(agree(c, [&](int c0, int c1, float* out) {
      kernels::GatherColumnRow(x.data(), c, g.src.data(), g.weight.data(), 4, r * 9 + 2, out, c0, c1, 1);
    }));
    ASSERT_TRUE(agree(c, [&](int c0, int c1, float* out) {
      kernels::GatherSumRow(x.data(), c, g.src.data(), g.weight.data(), 4, r, bias.data(), out, c0, c1, 1);
    }));
    ASSERT_TRUE(agree(c, [&](int c0, int c1, float* out) {
      kernels::InverseGatherRow(x.data(), c, inv.offsets.data(), flat.rows.data(), flat.weights.data(), r, out, c0, c1, 1);
    }));
    ASSERT_TRUE(agree(9 * c, [&](int c0, int c1, float* out) {
      kernels::InverseGatherTapsRow(x.data(), c, inv.offsets.data(), flat.rows.data(), flat.weights.data(), r, out, c0, c1, 1);
    }));
  }
}

// ---- Sentinel guards --------------------------------------------------------------

// A tensor view into the middle of a larger host allocation whose margins hold a NaN
// bit pattern. Reading a margin poisons the result (NaN); writing one changes the bits.
class Guarded {
 public:
  static constexpr int64_t kMargin = 4096;  // floats on each side
  Guarded(Shape s, const std::vector<float>& init) : store_(s.numel() + 2 * kMargin) {
    uint32_t bits = kPattern;
    for (float& f : store_) std::memcpy(&f, &bits, 4);
    if (!init.empty()) std::memcpy(store_.data() + kMargin, init.data(), init.size() * 4);
    tensor_ = Tensor::View(store_.data() + kMargin, s, Device::kCpu);
  }
  Tensor& t() { return tensor_; }
  bool MarginsIntact() const {
    for (int64_t i = 0; i < static_cast<int64_t>(store_.size()); ++i) {
      if (i == kMargin) i += tensor_.numel();
      if (i >= static_cast<int64_t>(store_.size())) break;
      uint32_t bits;
      std::memcpy(&bits, &store_[i], 4);
      if (bits != kPattern) return false;
    }
    return true;
  }
  bool AllFinite() const {
    for (int64_t i = 0; i < tensor_.numel(); ++i)
      if (!std::isfinite(store_[kMargin + i])) return false;
    return true;
  }

 private:
  static constexpr uint32_t kPattern = 0x7fc0dead;  // a quiet NaN
  std::vector<float> store_;
  Tensor tensor_;
};

TEST(SphericalConv, SentinelsCatchNoOutOfRangeAccess) {
  for (const Case& c : Cases()) {
    const TableSpec spec = Spec(c.h, c.w, c.mode);
    const ConvTable t = ConvTable::Create(spec, Device::kCpu);
    const Problem pr = MakeProblem(sphere::CachedGatherTable(spec), c.n, c.cin, c.cout, 101);
    const auto dy = RandomVector(pr.ys().numel(), 103);
    Tensor w_plain = WeightTensor(pr);
    for (const auto& [name, opt] : AllOptions()) {
      Guarded x(pr.xs(), pr.x), w(w_plain.shape(), w_plain.ToVector());
      Guarded b(Shape{1, 1, 1, pr.cout}, pr.b), y(pr.ys(), {});
      Guarded gdy(pr.ys(), dy), dx(pr.xs(), {});
      Guarded dw(w_plain.shape(), std::vector<float>(w_plain.numel(), 0.0f));
      Guarded db(Shape{1, 1, 1, pr.cout}, std::vector<float>(pr.cout, 0.0f));
      SphericalConvForward(t, x.t(), w.t(), b.t(), y.t(), opt);
      SphericalConvBackward(t, x.t(), w.t(), gdy.t(), &dx.t(), dw.t(), db.t(), opt);
      const std::string what = Name(c) + "/" + name;
      for (Guarded* g : {&x, &w, &b, &y, &gdy, &dx, &dw, &db}) {
        EXPECT_TRUE(g->MarginsIntact()) << what;
        EXPECT_TRUE(g->AllFinite()) << what;
      }
    }
  }
}

// ---- Table validation -----------------------------------------------------------

TEST(SphericalConvDeathTest, RejectsOutOfRangeTables) {
  GatherTable g = RandomTable(3, 6, 1, 107);
  InverseTable inv = sphere::BuildInverseTable(g);
  {
    GatherTable bad = g;
    bad.src[5] = 18;  // == H*W
    EXPECT_DEATH(ConvTable::FromTables(bad, inv, Device::kCpu), "outside");
  }
  {
    GatherTable bad = g;
    bad.src[5] = -1;
    EXPECT_DEATH(ConvTable::FromTables(bad, inv, Device::kCpu), "outside");
  }
  {
    GatherTable bad = g;
    bad.src.pop_back();
    EXPECT_DEATH(ConvTable::FromTables(bad, inv, Device::kCpu), "entries");
  }
  {
    InverseTable bad = inv;
    std::swap(bad.entries[0], bad.entries[1]);  // breaks ascending order or the pixel it reads
    EXPECT_DEATH(ConvTable::FromTables(g, bad, Device::kCpu), "inverse");
  }
  {
    InverseTable bad = inv;
    bad.offsets[1] = 1 << 20;  // would make pixel 0's list run past the entries
    EXPECT_DEATH(ConvTable::FromTables(g, bad, Device::kCpu), "inverse offsets");
  }
  {
    InverseTable bad = inv;
    bad.entries.back() = 1 << 20;
    EXPECT_DEATH(ConvTable::FromTables(g, bad, Device::kCpu), "inverse");
  }
  {
    GatherTable bad = g;
    bad.weight[3] = std::nanf("");
    EXPECT_DEATH(ConvTable::FromTables(bad, sphere::BuildInverseTable(bad), Device::kCpu),
                 "finite");
  }
}

TEST(SphericalConvDeathTest, RejectsMismatchedShapes) {
  const TableSpec spec = Spec(4, 8, TableMode::kNearest);
  const ConvTable t = ConvTable::Create(spec, Device::kCpu);
  Tensor x(Shape{1, 4, 8, 3}, Device::kCpu), w(Shape{9, 1, 3, 2}, Device::kCpu);
  Tensor b(Shape{1, 1, 1, 2}, Device::kCpu), y(Shape{1, 4, 8, 2}, Device::kCpu);
  Tensor x_bad(Shape{1, 4, 9, 3}, Device::kCpu), w_bad(Shape{9, 1, 4, 2}, Device::kCpu);
  EXPECT_DEATH(SphericalConvForward(t, x_bad, w, b, y), "table");
  EXPECT_DEATH(SphericalConvForward(t, x, w_bad, b, y), "w ");
  Tensor y_bad(Shape{1, 4, 8, 3}, Device::kCpu);
  EXPECT_DEATH(SphericalConvForward(t, x, w, b, y_bad), "output");
}

}  // namespace
}  // namespace sal360::nn
