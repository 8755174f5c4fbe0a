// Baseline maps: uniform, latitude prior, mean of training maps.
#include "data/baselines.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sal360::data {
namespace {

TEST(Baselines, UniformIsConstant) {
  const auto u = UniformMap(3, 5);
  ASSERT_EQ(u.size(), 15u);
  for (float v : u) EXPECT_EQ(v, 1.0f);
}

TEST(Baselines, LatitudePriorPeaksAtTheEquatorAndIsSymmetric) {
  const int h = 10, w = 4;
  const auto p = LatitudePrior(h, w, 0.3);
  for (int i = 0; i < h; ++i) {
    for (int j = 0; j < w; ++j) EXPECT_EQ(p[i * w + j], p[i * w]);  // constant along rows
    EXPECT_NEAR(p[i * w], p[(h - 1 - i) * w], 1e-6);                // north-south mirror
  }
  for (int i = 0; i + 1 < h / 2; ++i) EXPECT_LT(p[i * w], p[(i + 1) * w]);
  // Row 4 centre at latitude π/2 − 4.5π/10 = π/20.
  EXPECT_NEAR(p[4 * w], std::exp(-std::pow(M_PI / 20, 2) / (2 * 0.09)), 1e-6);
}

TEST(Baselines, MeanMapWeighsEveryFrameEquallyAndSkipsBadMaps) {
  MeanMapAccumulator acc(1, 2);
  EXPECT_EQ(acc.Mean(), (std::vector<float>{0.5f, 0.5f}));  // nothing added: uniform
  const float a[] = {3, 1};                                 // -> (3/4, 1/4)
  const double b[] = {0, 100};                              // -> (0, 1)
  const float zero[] = {0, 0};
  const float nan[] = {NAN, 1};
  acc.Add(a);
  acc.Add(b);
  acc.Add(zero);
  acc.Add(nan);
  EXPECT_EQ(acc.count(), 2);
  EXPECT_EQ(acc.skipped(), 2);
  const auto m = acc.Mean();
  EXPECT_NEAR(m[0], 0.375f, 1e-7);
  EXPECT_NEAR(m[1], 0.625f, 1e-7);
}

}  // namespace
}  // namespace sal360::data
