// Max-pool 2x2 (argmax, ties, NaN, odd sizes), nearest upsample x2 and channel concat
// on the CPU: known answers from the definitions in nn/ops/pool.h and nn/ops/concat.h,
// and finite-difference gradient checks (max-pool with kink skipping).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/ops/concat.h"
#include "nn/ops/pool.h"
#include "nn/ops/pool_kernels.h"
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
Buffer ArgmaxFor(const Shape& pooled) {
  return Buffer(Device::kCpu, static_cast<size_t>(pooled.numel()) * sizeof(int32_t));
}
std::vector<int32_t> ArgmaxVector(const Buffer& b, int64_t n) {
  const auto* p = static_cast<const int32_t*>(b.data());
  return std::vector<int32_t>(p, p + n);
}

TEST(MaxPool, KnownAnswer) {
  // One 4x4 channel (row-major):     windows:  [1 5 | 2 0]   max 5 @ (0,1) = 1, max 7 @ (1,3) = 7
  //   1 5 2 0                                   [3 4 | 6 7]
  //   3 4 6 7                                   [9 8 | 0 -1]  max 9 @ (2,0) = 8, max 2 @ (3,3) = 15
  //   9 8 0 -1                                  [2 1 | -3 2]
  //   2 1 -3 2
  const Tensor x = Cpu({1, 4, 4, 1}, {1, 5, 2, 0, 3, 4, 6, 7, 9, 8, 0, -1, 2, 1, -3, 2});
  Tensor y(Shape{1, 2, 2, 1}, Device::kCpu);
  Buffer arg = ArgmaxFor(y.shape());
  MaxPool2x2Forward(x, y, arg);
  EXPECT_EQ(y.ToVector(), (std::vector<float>{5, 7, 9, 2}));
  EXPECT_EQ(ArgmaxVector(arg, 4), (std::vector<int32_t>{1, 7, 8, 15}));
  Tensor dx(x.shape(), Device::kCpu);
  MaxPool2x2Backward(Cpu({1, 2, 2, 1}, {10, 20, 30, 40}), arg, dx);
  EXPECT_EQ(dx.ToVector(),
            (std::vector<float>{0, 10, 0, 0, 0, 0, 0, 20, 30, 0, 0, 0, 0, 0, 0, 40}));
}

TEST(MaxPool, TiesGoToTheFirstInScanOrder) {
  // Channels: c0 all equal (winner (0,0)); c1 = {0, 5, 5, 1}: (0,1) beats the tied (1,0);
  // c2 = {-1, -2, 3, 3}: (1,0) beats (1,1).
  const Tensor x = Cpu({1, 2, 2, 3}, {2, 0, -1, 2, 5, -2, 2, 5, 3, 2, 1, 3});
  Tensor y(Shape{1, 1, 1, 3}, Device::kCpu);
  Buffer arg = ArgmaxFor(y.shape());
  MaxPool2x2Forward(x, y, arg);
  EXPECT_EQ(y.ToVector(), (std::vector<float>{2, 5, 3}));
  EXPECT_EQ(ArgmaxVector(arg, 3), (std::vector<int32_t>{0, 1, 2}));
  Tensor dx(x.shape(), Device::kCpu);
  MaxPool2x2Backward(Cpu({1, 1, 1, 3}, {1, 1, 1}), arg, dx);
  // Exactly one input per window receives the gradient.
  EXPECT_EQ(dx.ToVector(), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}));
}

// The cudnn engine's window index (row-major in the 2x2 window) names the same input
// position as our argmax: for each window and each possible winner, the flat index of
// that position; anything outside 0..3 is "no winner" (-1).
TEST(MaxPool, WindowIndexToFlatNamesTheWindowPosition) {
  const int W = 10;
  for (int ho = 0; ho < 4; ++ho) {
    for (int wo = 0; wo < 5; ++wo) {
      const int32_t expected[4] = {(2 * ho) * W + 2 * wo, (2 * ho) * W + 2 * wo + 1,
                                   (2 * ho + 1) * W + 2 * wo, (2 * ho + 1) * W + 2 * wo + 1};
      for (int k = 0; k < 4; ++k) EXPECT_EQ(kernels::WindowIndexToFlat(k, ho, wo, W), expected[k]);
      EXPECT_EQ(kernels::WindowIndexToFlat(-1, ho, wo, W), -1);
      EXPECT_EQ(kernels::WindowIndexToFlat(4, ho, wo, W), -1);
    }
  }
}

TEST(MaxPool, NanPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Cpu({1, 2, 2, 2}, {1, nan, nan, 0, 3, 7, 2, 1});
  Tensor y(Shape{1, 1, 1, 2}, Device::kCpu);
  Buffer arg = ArgmaxFor(y.shape());
  MaxPool2x2Forward(x, y, arg);
  const auto yv = y.ToVector();
  EXPECT_TRUE(std::isnan(yv[0]));
  EXPECT_TRUE(std::isnan(yv[1]));
  EXPECT_EQ(ArgmaxVector(arg, 2), (std::vector<int32_t>{1, 0}));
}

TEST(MaxPool, OddSizesDropTheLastRowAndColumn) {
  const Shape s{2, 3, 5, 2};
  const Tensor x = Cpu(s, RandomFloats(s.numel(), 7));
  Tensor y(Shape{2, 1, 2, 2}, Device::kCpu);
  Buffer arg = ArgmaxFor(y.shape());
  MaxPool2x2Forward(x, y, arg);
  const auto xv = x.ToVector(), yv = y.ToVector();
  for (int n = 0; n < 2; ++n) {
    for (int wo = 0; wo < 2; ++wo) {
      for (int c = 0; c < 2; ++c) {
        float best = -1e30f;
        for (int h = 0; h < 2; ++h) {
          for (int w = 2 * wo; w < 2 * wo + 2; ++w) best = std::max(best, xv[((n * 3 + h) * 5 + w) * 2 + c]);
        }
        EXPECT_EQ(yv[(n * 2 + wo) * 2 + c], best);
      }
    }
  }
  Tensor dx = Cpu(s, std::vector<float>(s.numel(), 9.0f));  // "=": stale values must go
  MaxPool2x2Backward(Cpu(y.shape(), std::vector<float>(y.numel(), 1.0f)), arg, dx);
  const auto dxv = dx.ToVector();
  double total = 0;
  for (int n = 0; n < 2; ++n) {
    for (int h = 0; h < 3; ++h) {
      for (int w = 0; w < 5; ++w) {
        for (int c = 0; c < 2; ++c) {
          const float g = dxv[((n * 3 + h) * 5 + w) * 2 + c];
          total += g;
          if (h == 2 || w == 4) {
            EXPECT_EQ(g, 0.0f) << "dropped position " << h << "," << w;
          }
        }
      }
    }
  }
  EXPECT_EQ(total, y.numel());  // each window routes its gradient to exactly one input
}

TEST(MaxPool, CorruptArgmaxCannotReadOutOfRange) {
  const Shape s{1, 2, 2, 1};
  Buffer arg = ArgmaxFor({1, 1, 1, 1});
  *static_cast<int32_t*>(arg.data()) = 1 << 30;
  Tensor dx(s, Device::kCpu);
  MaxPool2x2Backward(Cpu({1, 1, 1, 1}, {1}), arg, dx);
  EXPECT_EQ(dx.ToVector(), (std::vector<float>{0, 0, 0, 0}));
}

class MaxPoolGrad : public ::testing::TestWithParam<Shape> {};

TEST_P(MaxPoolGrad, MatchesFiniteDifferences) {
  const Shape s = GetParam();
  const Shape p{s.n, s.h / 2, s.w / 2, s.c};
  const std::vector<float> xv = RandomFloats(s.numel(), 31, -1, 1);
  const std::vector<float> r = RandomFloats(p.numel(), 32, -1, 1);
  auto f = [&](const std::vector<float>& v) {
    Tensor y(p, Device::kCpu);
    Buffer arg = ArgmaxFor(p);
    MaxPool2x2Forward(Cpu(s, v), y, arg);
    return Dot(y.ToVector(), r);
  };
  Tensor y(p, Device::kCpu), dx(s, Device::kCpu);
  Buffer arg = ArgmaxFor(p);
  MaxPool2x2Forward(Cpu(s, xv), y, arg);
  MaxPool2x2Backward(Cpu(p, r), arg, dx);
  // Piecewise linear: central differences are exact away from kinks (a window's top two
  // values within the step), which are skipped.
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.atol = 1e-4;
  opt.skip_kinks = true;
  EXPECT_TRUE(GradientMatches(CheckGradient(f, xv, ToDoubles(dx.ToVector()), opt), opt,
                              s.numel() * 9 / 10));
}

INSTANTIATE_TEST_SUITE_P(Shapes, MaxPoolGrad,
                         ::testing::Values(Shape{1, 4, 6, 3}, Shape{3, 5, 7, 2}, Shape{1, 2, 2, 1},
                                           Shape{3, 3, 9, 1}),
                         [](const ::testing::TestParamInfo<Shape>& info) {
                           const Shape& s = info.param;
                           return "N" + std::to_string(s.n) + "H" + std::to_string(s.h) + "W" +
                                  std::to_string(s.w) + "C" + std::to_string(s.c);
                         });

// Windows whose two largest values are closer than the step are kinks of the max: the
// check must recognise and skip them (and only them), and still pass everywhere else.
TEST(MaxPoolGradNearTies, KinksAreSkipped) {
  const Shape s{1, 4, 4, 1};
  std::vector<float> xv = RandomFloats(s.numel(), 33, -1, 0);
  xv[0] = 0.5f, xv[1] = 0.5004f;  // window (0,0): top two within the step
  xv[10] = 0.7f, xv[15] = 0.7003f;  // window (1,1)
  const Shape p{1, 2, 2, 1};
  const std::vector<float> r = {1.0f, -2.0f, 0.5f, 3.0f};
  auto f = [&](const std::vector<float>& v) {
    Tensor y(p, Device::kCpu);
    Buffer arg = ArgmaxFor(p);
    MaxPool2x2Forward(Cpu(s, v), y, arg);
    return Dot(y.ToVector(), r);
  };
  Tensor y(p, Device::kCpu), dx(s, Device::kCpu);
  Buffer arg = ArgmaxFor(p);
  MaxPool2x2Forward(Cpu(s, xv), y, arg);
  MaxPool2x2Backward(Cpu(p, r), arg, dx);
  GradCheckOptions opt;
  opt.step = 1e-3;
  opt.skip_kinks = true;
  opt.max_skipped_fraction = 0.3;
  const auto result = CheckGradient(f, xv, ToDoubles(dx.ToVector()), opt);
  EXPECT_EQ(result.skipped, 4);  // both candidates of both near-tied windows
  EXPECT_TRUE(GradientMatches(result, opt, 12));
  opt.skip_kinks = false;  // without skipping, the kinks do not match a one-sided gradient
  EXPECT_GT(CheckGradient(f, xv, ToDoubles(dx.ToVector()), opt).failed, 0);
}

TEST(Upsample, ForwardCopiesEachValueToFourChildren) {
  const Shape s{3, 2, 3, 2};
  const std::vector<float> xv = RandomFloats(s.numel(), 41);
  Tensor y(Shape{3, 4, 6, 2}, Device::kCpu);
  UpsampleNearest2xForward(Cpu(s, xv), y);
  const auto yv = y.ToVector();
  for (int n = 0; n < 3; ++n) {
    for (int h = 0; h < 4; ++h) {
      for (int w = 0; w < 6; ++w) {
        for (int c = 0; c < 2; ++c) {
          EXPECT_EQ(yv[((n * 4 + h) * 6 + w) * 2 + c], xv[((n * 2 + h / 2) * 3 + w / 2) * 2 + c]);
        }
      }
    }
  }
}

TEST(Upsample, BackwardSumsTheFourChildren) {
  const Shape s{1, 1, 2, 1};
  Tensor dx = Cpu(s, {5, 5});
  UpsampleNearest2xBackward(Cpu({1, 2, 4, 1}, {1, 2, 10, 20, 3, 4, 30, 40}), dx);
  EXPECT_EQ(dx.ToVector(), (std::vector<float>{1 + 2 + 3 + 4, 10 + 20 + 30 + 40}));
}

TEST(Upsample, GradientMatchesFiniteDifferences) {
  for (const Shape s : {Shape{1, 3, 5, 2}, Shape{3, 1, 1, 3}, Shape{3, 2, 7, 1}}) {
    const Shape u{s.n, 2 * s.h, 2 * s.w, s.c};
    const std::vector<float> xv = RandomFloats(s.numel(), 51), r = RandomFloats(u.numel(), 52);
    auto f = [&](const std::vector<float>& v) {
      Tensor y(u, Device::kCpu);
      UpsampleNearest2xForward(Cpu(s, v), y);
      return Dot(y.ToVector(), r);
    };
    Tensor dx(s, Device::kCpu);
    UpsampleNearest2xBackward(Cpu(u, r), dx);
    GradCheckOptions opt;
    opt.atol = 1e-4;
    EXPECT_TRUE(GradientMatches(CheckGradient(f, xv, ToDoubles(dx.ToVector()), opt), opt,
                                s.numel()))
        << s.ToString();
  }
}

TEST(Concat, ForwardAndBackwardAreExactCopies) {
  const Shape sa{3, 2, 5, 3}, sb{3, 2, 5, 2}, sy{3, 2, 5, 5};
  const auto av = RandomFloats(sa.numel(), 61), bv = RandomFloats(sb.numel(), 62);
  Tensor y(sy, Device::kCpu);
  ConcatChannelsForward(Cpu(sa, av), Cpu(sb, bv), y);
  const auto yv = y.ToVector();
  for (int64_t m = 0; m < 30; ++m) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(yv[m * 5 + k], av[m * 3 + k]);
    for (int k = 0; k < 2; ++k) EXPECT_EQ(yv[m * 5 + 3 + k], bv[m * 2 + k]);
  }
  Tensor da(sa, Device::kCpu), db(sb, Device::kCpu);
  ConcatChannelsBackward(y, da, db);  // the split of a concat is the identity
  EXPECT_EQ(da.ToVector(), av);
  EXPECT_EQ(db.ToVector(), bv);
}

TEST(Concat, SingleChannelParts) {
  Tensor y(Shape{1, 1, 2, 2}, Device::kCpu);
  ConcatChannelsForward(Cpu({1, 1, 2, 1}, {1, 2}), Cpu({1, 1, 2, 1}, {3, 4}), y);
  EXPECT_EQ(y.ToVector(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(ConcatDeathTest, MismatchedShapesAbort) {
  Tensor y(Shape{1, 2, 2, 4}, Device::kCpu);
  EXPECT_DEATH(ConcatChannelsForward(Tensor::Zeros({1, 2, 2, 2}, Device::kCpu),
                                     Tensor::Zeros({1, 2, 3, 2}, Device::kCpu), y),
               "do not concatenate");
}

TEST(MaxPoolDeathTest, SmallArgmaxBufferAborts) {
  Tensor y(Shape{1, 2, 2, 1}, Device::kCpu);
  Buffer arg(Device::kCpu, 8);
  EXPECT_DEATH(MaxPool2x2Forward(Tensor::Zeros({1, 4, 4, 1}, Device::kCpu), y, arg),
               "argmax buffer has 8 bytes");
}

}  // namespace
}  // namespace sal360::nn
