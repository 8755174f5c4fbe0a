// Sphere-weighted MSE and KL losses on the CPU: the row weights against their formula
// and the sphere's area, hand-derived known answers, invariants, and finite-difference
// gradient checks over odd sizes and batches of 1 and 3.
#include "nn/loss.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradcheck.h"

namespace sal360::nn {
namespace {

using ::sal360::testing::CheckGradient;
using ::sal360::testing::GradCheckOptions;
using ::sal360::testing::GradientMatches;
using ::sal360::testing::RandomFloats;
using ::sal360::testing::ToDoubles;

constexpr double kPi = 3.14159265358979323846;

Tensor Cpu(Shape s, const std::vector<float>& v) { return Tensor::FromVector(s, v, Device::kCpu); }

TEST(LossRowWeights, MatchThePublishedFormula) {
  const int H = 9, W = 14;
  const auto w = LossRowWeights(H, W, Device::kCpu).ToVector();
  ASSERT_EQ(w.size(), 9u);
  for (int i = 0; i < H; ++i) {
    const double expected = (2 * kPi / W) * (kPi / H) *
                            (std::sin(i * kPi / H) + std::sin((i + 1) * kPi / H)) / 2;
    EXPECT_NEAR(w[i], expected, 1e-7 * expected) << "row " << i;
    EXPECT_EQ(w[i], w[H - 1 - i]) << "north/south symmetry, row " << i;
  }
}

// W·Σ_i w_i is the trapezoid rule for 2π∫sin θ dθ = 4π, which underestimates the
// concave integrand by about 4π·π²/(12H²).
TEST(LossRowWeights, SumToTheSphereArea) {
  for (int H : {8, 64, 240}) {
    const int W = 2 * H;
    const auto w = LossRowWeights(H, W, Device::kCpu).ToVector();
    double total = 0;
    for (float v : w) total += static_cast<double>(v) * W;
    const double deficit = 4 * kPi - total;
    EXPECT_GT(deficit, 0.0) << H;
    EXPECT_NEAR(deficit, 4 * kPi * kPi * kPi / (12.0 * H * H), 0.02 * deficit + 1e-5) << H;
  }
}

// H = 3, W = 2: θ = 0, π/3, 2π/3, π, so w0 = w2 = π·(π/3)·(√3/2)/2 = π²√3/12 and
// w1 = π·(π/3)·√3/2 = π²√3/6. With pred − target = row0 {1, 0}, row1 {0, 2},
// row2 {−1, 0}: L = w0·1 + w1·4 + w2·1 = 5π²√3/6 (N = 1).
TEST(SphereMse, KnownAnswer) {
  const Shape s{1, 3, 2, 1};
  const Tensor t = Cpu(s, {0.5f, 1, -1, 3, 2, 0.25f});
  const Tensor y = Cpu(s, {1.5f, 1, -1, 5, 1, 0.25f});
  const Tensor w = LossRowWeights(3, 2, Device::kCpu);
  Tensor dy(s, Device::kCpu);
  EXPECT_NEAR(SphereMseLoss(y, t, w, &dy), 5 * kPi * kPi * std::sqrt(3.0) / 6, 1e-5);
  // dL/dy = 2·w·(y − t): row0 {2·w0, 0}, row1 {0, 4·w1}, row2 {−2·w2, 0}.
  const double w0 = kPi * kPi * std::sqrt(3.0) / 12, w1 = 2 * w0;
  const auto g = dy.ToVector();
  const std::vector<double> expected = {2 * w0, 0, 0, 4 * w1, -2 * w0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(g[i], expected[i], 1e-6) << i;
  EXPECT_EQ(SphereMseLoss(y, t, w, nullptr), SphereMseLoss(y, t, w, &dy));
}

TEST(SphereMse, BatchLossIsTheMeanOverSamples) {
  const Shape s{3, 5, 7, 1}, one{1, 5, 7, 1};
  const auto yv = RandomFloats(s.numel(), 1), tv = RandomFloats(s.numel(), 2, 0, 1);
  const Tensor w = LossRowWeights(5, 7, Device::kCpu);
  double sum = 0;
  for (int n = 0; n < 3; ++n) {
    std::vector<float> ys(yv.begin() + n * 35, yv.begin() + (n + 1) * 35);
    std::vector<float> ts(tv.begin() + n * 35, tv.begin() + (n + 1) * 35);
    sum += SphereMseLoss(Cpu(one, ys), Cpu(one, ts), w, nullptr);
  }
  EXPECT_NEAR(SphereMseLoss(Cpu(s, yv), Cpu(s, tv), w, nullptr), sum / 3, 1e-6 * sum);
}

class LossGrad : public ::testing::TestWithParam<Shape> {};

// The MSE is quadratic, so central differences are exact up to rounding of the float
// loss value; a large step keeps that rounding small.
TEST_P(LossGrad, MseMatchesFiniteDifferences) {
  const Shape s = GetParam();
  const auto yv = RandomFloats(s.numel(), 3), tv = RandomFloats(s.numel(), 4, 0, 1);
  const Tensor t = Cpu(s, tv), w = LossRowWeights(s.h, s.w, Device::kCpu);
  Tensor dy(s, Device::kCpu);
  SphereMseLoss(Cpu(s, yv), t, w, &dy);
  GradCheckOptions opt;
  opt.step = 0.05;
  opt.atol = 2e-5;
  opt.rtol = 1e-3;
  auto f = [&](const std::vector<float>& v) { return SphereMseLoss(Cpu(s, v), t, w, nullptr); };
  EXPECT_TRUE(GradientMatches(CheckGradient(f, yv, ToDoubles(dy.ToVector()), opt), opt, s.numel()));
}

// KL: predictions in [0.2, 1] (away from the clamp at 0 by more than the step), except
// that sample 1 (if present) has some clearly negative pixels, whose gradient must be 0,
// and sample 2 (if present) has an all-zero target, which contributes nothing.
TEST_P(LossGrad, KldMatchesFiniteDifferences) {
  const Shape s = GetParam();
  const int64_t len = int64_t{s.h} * s.w;
  std::vector<float> yv = RandomFloats(s.numel(), 5, 0.2, 1.0);
  std::vector<float> tv = RandomFloats(s.numel(), 6, 0.0, 1.0);
  if (s.n > 1) {
    for (int64_t k = len; k < 2 * len; k += 3) yv[k] = -0.5f;
  }
  if (s.n > 2) {
    for (int64_t k = 2 * len; k < 3 * len; ++k) tv[k] = 0.0f;
  }
  const Tensor t = Cpu(s, tv), w = LossRowWeights(s.h, s.w, Device::kCpu);
  Tensor dy(s, Device::kCpu);
  SphereKldLoss(Cpu(s, yv), t, w, &dy);
  const auto g = dy.ToVector();
  if (s.n > 1) {
    for (int64_t k = len; k < 2 * len; k += 3) EXPECT_EQ(g[k], 0.0f) << "negative pred " << k;
  }
  if (s.n > 2) {
    for (int64_t k = 2 * len; k < 3 * len; ++k) EXPECT_EQ(g[k], 0.0f) << "empty target " << k;
  }
  GradCheckOptions opt;
  opt.step = 1e-2;
  opt.atol = 5e-5;
  opt.rtol = 1e-2;
  auto f = [&](const std::vector<float>& v) { return SphereKldLoss(Cpu(s, v), t, w, nullptr); };
  EXPECT_TRUE(GradientMatches(CheckGradient(f, yv, ToDoubles(g), opt), opt, s.numel()));
}

INSTANTIATE_TEST_SUITE_P(Shapes, LossGrad,
                         ::testing::Values(Shape{1, 5, 7, 1}, Shape{3, 4, 9, 1}, Shape{3, 1, 3, 1},
                                           Shape{1, 6, 11, 1}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           const Shape& s = info.param;
                           return "N" + std::to_string(s.n) + "H" + std::to_string(s.h) + "W" +
                                  std::to_string(s.w) + "C" + std::to_string(s.c);
                         });

// H = 2: both rows have the weight w = π·(π/2)·(0 + 1)/2 = π²/4, so the sphere-weighted KL
// is the discrete KL of the normalised maps: with a = {1,2,3,4}, b = {4,3,2,1} (sums 10),
// KL = 0.4·ln(4) + 0.3·ln(1.5) + 0.2·ln(2/3) + 0.1·ln(1/4) ≈ 0.4564348; eps = 1e-6 against
// densities ≥ 0.1/(π²/4) ≈ 0.04 moves it by < 1e-4.
TEST(SphereKld, KnownAnswerWithEqualRowWeights) {
  const Shape s{1, 2, 2, 1};
  const double expected =
      0.4 * std::log(4.0) + 0.3 * std::log(1.5) + 0.2 * std::log(2.0 / 3) + 0.1 * std::log(0.25);
  EXPECT_NEAR(SphereKldLoss(Cpu(s, {1, 2, 3, 4}), Cpu(s, {4, 3, 2, 1}),
                            LossRowWeights(2, 2, Device::kCpu), nullptr),
              expected, 1e-4);
}

TEST(SphereKld, ZeroForEqualMapsAndScaleInvariant) {
  const Shape s{3, 5, 8, 1};
  const auto tv = RandomFloats(s.numel(), 8, 0, 1);
  const Tensor w = LossRowWeights(5, 8, Device::kCpu), t = Cpu(s, tv);
  Tensor dy(s, Device::kCpu);
  EXPECT_EQ(SphereKldLoss(t, t, w, &dy), 0.0f);  // log((t+eps)/(t+eps)) = 0 exactly
  // The gradient vanishes only up to eps: −w·t/(t+eps) + w·Σ w·t²/(t+eps) = O(w·eps/t),
  // against typical gradients of ~1e-2 here.
  for (float g : dy.ToVector()) EXPECT_NEAR(g, 0.0f, 5e-5);

  // Multiplying pred by 4 (exact in binary) leaves the densities — and the loss — bit-identical,
  // and scales the gradient by exactly 1/4.
  const auto yv = RandomFloats(s.numel(), 9, 0, 1);
  std::vector<float> y4 = yv;
  for (float& v : y4) v *= 4;
  Tensor dy4(s, Device::kCpu);
  const float l1 = SphereKldLoss(Cpu(s, yv), t, w, &dy);
  EXPECT_EQ(SphereKldLoss(Cpu(s, y4), t, w, &dy4), l1);
  EXPECT_GT(l1, 0.0f);  // Gibbs' inequality
  const auto g1 = dy.ToVector(), g4 = dy4.ToVector();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g4[i], g1[i] / 4, 1e-6 * std::fabs(g1[i]));
}

TEST(SphereKld, AllZeroPredictionIsComparedWithTheUniformDensity) {
  const Shape s{1, 2, 2, 1};
  // Target {1,1,1,2}: densities t = b/(5w); uniform p = 1/(4w), w = π²/4.
  const double w = kPi * kPi / 4, eps = kKldEps;
  double expected = 0;
  for (double b : {1.0, 1.0, 1.0, 2.0}) {
    const double t = b / (5 * w), p = 1 / (4 * w);
    expected += w * t * std::log((t + eps) / (p + eps));
  }
  Tensor dy(s, Device::kCpu);
  EXPECT_NEAR(SphereKldLoss(Cpu(s, {0, -1, 0, -2}), Cpu(s, {1, 1, 1, 2}),
                            LossRowWeights(2, 2, Device::kCpu), &dy),
              expected, 1e-6);
  EXPECT_EQ(dy.ToVector(), (std::vector<float>{0, 0, 0, 0}));
}

TEST(LossDeathTest, BadShapesAbort) {
  const Tensor w = LossRowWeights(4, 4, Device::kCpu);
  EXPECT_DEATH(SphereMseLoss(Tensor::Zeros({1, 4, 4, 2}, Device::kCpu),
                             Tensor::Zeros({1, 4, 4, 2}, Device::kCpu), w, nullptr),
               "want \\(N,H,W,1\\)");
  EXPECT_DEATH(SphereKldLoss(Tensor::Zeros({1, 5, 4, 1}, Device::kCpu),
                             Tensor::Zeros({1, 5, 4, 1}, Device::kCpu), w, nullptr),
               "row_weights");
}

}  // namespace
}  // namespace sal360::nn
