// BatchNorm2d on the CPU: known answers written from PyTorch's definition, finite-
// difference gradient checks in training mode, and the accumulate/overwrite contract.
#include "nn/ops/batchnorm.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/ops/elementwise.h"
#include "tests/testing/gradcheck.h"

namespace sal360::nn {
namespace {

using ::sal360::testing::CheckGradient;
using ::sal360::testing::Dot;
using ::sal360::testing::GradCheckOptions;
using ::sal360::testing::GradientMatches;
using ::sal360::testing::RandomFloats;
using ::sal360::testing::ToDoubles;

Tensor Cpu(Shape s, const std::vector<float>& v) { return Tensor::FromVector(s, v, Device::kCpu); }
Tensor ChannelVector(const std::vector<float>& v) {
  return Cpu(Shape{1, 1, 1, static_cast<int>(v.size())}, v);
}

// Two training steps on (1,2,2,2), channels interleaved (NHWC):
//   step 1: c0 = {1,2,3,4}   mean 2.5, biased var 1.25, unbiased 5/3
//           c1 = {-1,1,-1,1} mean 0,   biased var 1,    unbiased 4/3
//   step 2: c0 = {2,4,6,8}   mean 5,   biased var 5,    unbiased 20/3
//           c1 = {0,0,0,2}   mean 0.5, biased var 0.75, unbiased 1
// From running_mean 0, running_var 1 and momentum 0.1:
//   after 1: rm = (0.25, 0),     rv = (0.9 + 0.1·5/3, 0.9 + 0.1·4/3) = (1.0666…, 1.0333…)
//   after 2: rm = (0.9·0.25 + 0.5, 0.05) = (0.725, 0.05)
//            rv = (0.9·1.0666… + 0.1·20/3, 0.9·1.0333… + 0.1·1) = (1.62666…, 1.03)
TEST(BatchNorm, RunningStatsAfterTwoSteps) {
  const Shape s{1, 2, 2, 2};
  BatchNormStats stats = BatchNormStats::Create(2, Device::kCpu);
  EXPECT_EQ(stats.running_mean.ToVector(), (std::vector<float>{0, 0}));
  EXPECT_EQ(stats.running_var.ToVector(), (std::vector<float>{1, 1}));
  BatchNormCache cache;
  Tensor gamma = ChannelVector({2.0f, 0.5f}), beta = ChannelVector({0.5f, -1.0f});
  Tensor y(s, Device::kCpu);

  BatchNormForwardTrain(Cpu(s, {1, -1, 2, 1, 3, -1, 4, 1}), gamma, beta, stats, cache, y);
  EXPECT_EQ(stats.num_batches_tracked, 1);
  auto rm = stats.running_mean.ToVector(), rv = stats.running_var.ToVector();
  EXPECT_NEAR(rm[0], 0.25, 1e-7);
  EXPECT_NEAR(rm[1], 0.0, 1e-7);
  EXPECT_NEAR(rv[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
  EXPECT_NEAR(rv[1], 0.9 + 0.1 * 4.0 / 3.0, 1e-6);

  const Tensor x2 = Cpu(s, {2, 0, 4, 0, 6, 0, 8, 2});
  BatchNormForwardTrain(x2, gamma, beta, stats, cache, y);
  EXPECT_EQ(stats.num_batches_tracked, 2);
  rm = stats.running_mean.ToVector();
  rv = stats.running_var.ToVector();
  EXPECT_NEAR(rm[0], 0.725, 1e-6);
  EXPECT_NEAR(rm[1], 0.05, 1e-7);
  EXPECT_NEAR(rv[0], 0.9 * (0.9 + 0.1 * 5.0 / 3.0) + 0.1 * 20.0 / 3.0, 1e-6);
  EXPECT_NEAR(rv[1], 0.9 * (0.9 + 0.1 * 4.0 / 3.0) + 0.1 * 1.0, 1e-6);

  // The step-2 output normalises with the BIASED batch variance.
  const double inv0 = 1.0 / std::sqrt(5.0 + 1e-5), inv1 = 1.0 / std::sqrt(0.75 + 1e-5);
  EXPECT_NEAR(cache.mean.ToVector()[0], 5.0, 1e-6);
  EXPECT_NEAR(cache.mean.ToVector()[1], 0.5, 1e-7);
  EXPECT_NEAR(cache.invstd.ToVector()[0], inv0, 1e-7);
  EXPECT_NEAR(cache.invstd.ToVector()[1], inv1, 1e-6);
  const std::vector<float> x2v = x2.ToVector(), yv = y.ToVector();
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(yv[2 * i], (x2v[2 * i] - 5.0) * inv0 * 2.0 + 0.5, 1e-5) << i;
    EXPECT_NEAR(yv[2 * i + 1], (x2v[2 * i + 1] - 0.5) * inv1 * 0.5 - 1.0, 1e-5) << i;
  }
}

TEST(BatchNorm, EvalUsesRunningStats) {
  const Shape s{2, 1, 3, 2};
  BatchNormStats stats;
  stats.running_mean = ChannelVector({0.5f, -2.0f});
  stats.running_var = ChannelVector({4.0f, 0.25f});
  stats.num_batches_tracked = 7;
  Tensor gamma = ChannelVector({1.5f, -1.0f}), beta = ChannelVector({0.0f, 3.0f});
  const std::vector<float> xv = RandomFloats(s.numel(), 11, -3, 3);
  Tensor y(s, Device::kCpu);
  BatchNormForwardEval(Cpu(s, xv), gamma, beta, stats, y);
  const std::vector<float> yv = y.ToVector();
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(yv[2 * i], (xv[2 * i] - 0.5) / std::sqrt(4.0 + 1e-5) * 1.5, 1e-5);
    EXPECT_NEAR(yv[2 * i + 1], (xv[2 * i + 1] + 2.0) / std::sqrt(0.25 + 1e-5) * -1.0 + 3.0, 1e-5);
  }
  EXPECT_EQ(stats.num_batches_tracked, 7);  // eval leaves the statistics alone
  EXPECT_EQ(stats.running_mean.ToVector(), (std::vector<float>{0.5f, -2.0f}));
}

// A naive E[x²] − E[x]² in float loses every digit of a variance of 1e-2 around 1000;
// the two-pass double statistics keep it.
TEST(BatchNorm, VarianceOfLargeOffsetInput) {
  const Shape s{1, 4, 5, 1};
  std::vector<float> xv = RandomFloats(s.numel(), 3, 999.8, 1000.2);
  double mean = 0, var = 0;
  for (float v : xv) mean += v;
  mean /= xv.size();
  for (float v : xv) var += (v - mean) * (v - mean);
  var /= xv.size();
  BatchNormStats stats = BatchNormStats::Create(1, Device::kCpu);
  BatchNormCache cache;
  Tensor y(s, Device::kCpu);
  BatchNormForwardTrain(Cpu(s, xv), ChannelVector({1}), ChannelVector({0}), stats, cache, y);
  EXPECT_NEAR(cache.invstd.ToVector()[0], 1.0 / std::sqrt(var + 1e-5), 1e-4);
  EXPECT_NEAR(stats.running_var.ToVector()[0], 0.9 + 0.1 * var * 20 / 19, 1e-6);
}

struct BnCase {
  Shape shape;
};

class BatchNormGrad : public ::testing::TestWithParam<BnCase> {};

// L = Σ r·BN_train(x; gamma, beta): check dL/dx, dL/dgamma and dL/dbeta by central
// differences (BN is smooth: no kinks).
TEST_P(BatchNormGrad, MatchesFiniteDifferences) {
  const Shape s = GetParam().shape;
  const int c = s.c;
  const std::vector<float> xv = RandomFloats(s.numel(), 21, -2, 2);
  const std::vector<float> gv = RandomFloats(c, 22, 0.5, 1.5), bv = RandomFloats(c, 23, -1, 1);
  const std::vector<float> r = RandomFloats(s.numel(), 24, -1, 1);
  auto forward = [&](const std::vector<float>& x, const std::vector<float>& g,
                     const std::vector<float>& b) {
    BatchNormStats stats = BatchNormStats::Create(c, Device::kCpu);
    BatchNormCache cache;
    Tensor y(s, Device::kCpu);
    BatchNormForwardTrain(Cpu(s, x), ChannelVector(g), ChannelVector(b), stats, cache, y);
    return Dot(y.ToVector(), r);
  };
  // Analytic gradients, accumulated onto non-zero dgamma/dbeta to check "+=".
  BatchNormStats stats = BatchNormStats::Create(c, Device::kCpu);
  BatchNormCache cache;
  const Tensor x = Cpu(s, xv), gamma = ChannelVector(gv), beta = ChannelVector(bv);
  Tensor y(s, Device::kCpu), dx = Cpu(s, std::vector<float>(s.numel(), 7.0f));
  BatchNormForwardTrain(x, gamma, beta, stats, cache, y);
  Tensor dgamma = ChannelVector(std::vector<float>(c, 1.0f));
  Tensor dbeta = ChannelVector(std::vector<float>(c, -1.0f));
  BatchNormBackward(x, gamma, cache, Cpu(s, r), dx, dgamma, dbeta);
  std::vector<double> dg = ToDoubles(dgamma.ToVector()), db = ToDoubles(dbeta.ToVector());
  for (double& v : dg) v -= 1.0;
  for (double& v : db) v += 1.0;

  // Step: BN's curvature scales with 1/σ; with M = 2 values σ can be ~0.02, so the
  // step must be small. atol covers float rounding of Σ r·y divided by 2h (measured
  // max |err| 3.3e-4 over these shapes).
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.atol = 1e-3;
  opt.rtol = 1e-2;
  EXPECT_TRUE(GradientMatches(
      CheckGradient([&](const std::vector<float>& v) { return forward(v, gv, bv); }, xv,
                    ToDoubles(dx.ToVector()), opt),
      opt, s.numel()));
  EXPECT_TRUE(GradientMatches(
      CheckGradient([&](const std::vector<float>& v) { return forward(xv, v, bv); }, gv, dg, opt),
      opt, c));
  EXPECT_TRUE(GradientMatches(
      CheckGradient([&](const std::vector<float>& v) { return forward(xv, gv, v); }, bv, db, opt),
      opt, c));
  // Σ_m dx = 0 per channel (the mean is removed) — a property of the exact gradient.
  const std::vector<float> dxv = dx.ToVector();
  for (int ch = 0; ch < c; ++ch) {
    double sum = 0, scale = 0;
    for (int64_t i = ch; i < s.numel(); i += c) sum += dxv[i], scale += std::fabs(dxv[i]);
    EXPECT_NEAR(sum, 0.0, 1e-5 * (1 + scale)) << "channel " << ch;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormGrad,
                         ::testing::Values(BnCase{{1, 3, 5, 2}}, BnCase{{3, 2, 3, 3}},
                                           BnCase{{1, 1, 7, 4}}, BnCase{{3, 1, 1, 1}},
                                           BnCase{{3, 5, 3, 1}}, BnCase{{1, 2, 1, 5}}),
                         [](const ::testing::TestParamInfo<BnCase>& info) {
                           const Shape& s = info.param.shape;
                           return "N" + std::to_string(s.n) + "H" + std::to_string(s.h) + "W" +
                                  std::to_string(s.w) + "C" + std::to_string(s.c);
                         });

TEST(BatchNorm, BackwardOverwritesDxAndAccumulatesParamGrads) {
  const Shape s{2, 3, 3, 2};
  const Tensor x = Cpu(s, RandomFloats(s.numel(), 5)), dy = Cpu(s, RandomFloats(s.numel(), 6));
  const Tensor gamma = ChannelVector({1.0f, 2.0f}), beta = ChannelVector({0.0f, 1.0f});
  BatchNormStats stats = BatchNormStats::Create(2, Device::kCpu);
  BatchNormCache cache;
  Tensor y(s, Device::kCpu), dx(s, Device::kCpu);
  BatchNormForwardTrain(x, gamma, beta, stats, cache, y);
  Tensor dgamma = Tensor::Zeros(Shape{1, 1, 1, 2}, Device::kCpu);
  Tensor dbeta = Tensor::Zeros(Shape{1, 1, 1, 2}, Device::kCpu);
  BatchNormBackward(x, gamma, cache, dy, dx, dgamma, dbeta);
  const auto dx1 = dx.ToVector(), dg1 = dgamma.ToVector(), db1 = dbeta.ToVector();
  BatchNormBackward(x, gamma, cache, dy, dx, dgamma, dbeta);
  EXPECT_EQ(dx.ToVector(), dx1);  // "=": same bits again
  for (int ch = 0; ch < 2; ++ch) {
    EXPECT_EQ(dgamma.ToVector()[ch], 2 * dg1[ch]);  // "+=": exactly doubled
    EXPECT_EQ(dbeta.ToVector()[ch], 2 * db1[ch]);
  }
}

// The fused BN+ReLU (one pass on the CPU) gives the bits of BN then ReLU, forward
// (training and eval) and backward, over enough rows that the reductions use several
// chunks and threads.
TEST(BatchNorm, FusedReluEqualsSeparateCallsBitForBit) {
  const Shape s{2, 24, 48, 5};  // 2304 rows: 5 chunks of 512
  const std::vector<float> xv = RandomFloats(s.numel(), 91, -2.0, 3.0);
  const std::vector<float> dyv = RandomFloats(s.numel(), 92);
  const Tensor x = Cpu(s, xv);
  const Tensor gamma = ChannelVector({1.5f, -0.5f, 1.0f, 0.25f, 2.0f});
  const Tensor beta = ChannelVector({0.1f, -0.2f, 0.0f, 0.3f, -1.0f});
  BatchNormStats stats_a = BatchNormStats::Create(5, Device::kCpu), stats_b = BatchNormStats::Create(5, Device::kCpu);
  BatchNormCache cache_a, cache_b;
  Tensor ya(s, Device::kCpu), yb(s, Device::kCpu);
  BatchNormForwardTrain(x, gamma, beta, stats_a, cache_a, ya);
  ReluForward(ya, ya);
  BatchNormReluForwardTrain(x, gamma, beta, stats_b, cache_b, yb);
  EXPECT_EQ(ya.ToVector(), yb.ToVector());
  EXPECT_EQ(stats_a.running_mean.ToVector(), stats_b.running_mean.ToVector());
  EXPECT_EQ(stats_a.running_var.ToVector(), stats_b.running_var.ToVector());
  int zeros = 0;
  for (float v : yb.ToVector()) zeros += v == 0.0f;
  EXPECT_GT(zeros, s.numel() / 5);  // the ReLU did clamp

  Tensor ea(s, Device::kCpu), eb(s, Device::kCpu);
  BatchNormForwardEval(x, gamma, beta, stats_a, ea);
  ReluForward(ea, ea);
  BatchNormReluForwardEval(x, gamma, beta, stats_a, eb);
  EXPECT_EQ(ea.ToVector(), eb.ToVector());

  Tensor da = Cpu(s, dyv), db = Cpu(s, dyv);
  Tensor dxa(s, Device::kCpu), dxb(s, Device::kCpu);
  Tensor dga = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu), dgb = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu);
  Tensor dba = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu), dbb = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu);
  ReluBackward(ya, da, da);
  BatchNormBackward(x, gamma, cache_a, da, dxa, dga, dba);
  BatchNormReluBackward(x, yb, gamma, cache_b, db, dxb, dgb, dbb);
  EXPECT_EQ(dxa.ToVector(), dxb.ToVector());
  EXPECT_EQ(dga.ToVector(), dgb.ToVector());
  EXPECT_EQ(dba.ToVector(), dbb.ToVector());
  // In place (dx aliasing dy), as the model may call it.
  Tensor dc = Cpu(s, dyv);
  Tensor dgc = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu), dbc = Tensor::Zeros(Shape{1, 1, 1, 5}, Device::kCpu);
  BatchNormReluBackward(x, yb, gamma, cache_b, dc, dc, dgc, dbc);
  EXPECT_EQ(dc.ToVector(), dxa.ToVector());
}

TEST(BatchNormDeathTest, SingleValuePerChannelAborts) {
  const Shape s{1, 1, 1, 3};
  BatchNormStats stats = BatchNormStats::Create(3, Device::kCpu);
  BatchNormCache cache;
  Tensor y(s, Device::kCpu);
  EXPECT_DEATH(BatchNormForwardTrain(Cpu(s, {1, 2, 3}), ChannelVector({1, 1, 1}),
                                     ChannelVector({0, 0, 0}), stats, cache, y),
               "more than 1 value per channel");
}

TEST(BatchNormDeathTest, WrongGammaShapeAborts) {
  const Shape s{1, 2, 2, 3};
  BatchNormStats stats = BatchNormStats::Create(3, Device::kCpu);
  BatchNormCache cache;
  Tensor y(s, Device::kCpu);
  EXPECT_DEATH(BatchNormForwardTrain(Cpu(s, RandomFloats(12, 1)), ChannelVector({1, 1}),
                                     ChannelVector({0, 0, 0}), stats, cache, y),
               "gamma has shape");
}

}  // namespace
}  // namespace sal360::nn
