// The deterministic tree sum of the CUDA reductions (nn/ops/tree_sum_kernels.h), on the
// host: its order is the documented one (a case where order changes the result), it is
// exact where float addition is, and its group count follows the rule.
#include "nn/ops/tree_sum_kernels.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace sal360::nn::kernels {
namespace {

TEST(TreeSum, AddsInTheDocumentedOrder) {
  // One group of 2 lanes over 4 items: lane 0 = x0 + x2, lane 1 = x1 + x3, then lane 0 +=
  // lane 1. With these values that is 0 + 2 = 2; left to right it would be 1.
  const std::vector<double> x = {1e16, 1, -1e16, 1};
  const auto item = [&](int64_t i) { return x[i]; };
  EXPECT_EQ(TreeOrderSum(4, 1, 2, item), 2.0);
  double sequential = 0;
  for (double v : x) sequential += v;
  EXPECT_EQ(sequential, 1.0);
  // Two groups of one lane: group 0 = x0 + x2, group 1 = x1 + x3.
  EXPECT_EQ(TreeOrderSum(4, 2, 1, item), 2.0);
  // One lane, one group: left to right.
  EXPECT_EQ(TreeOrderSum(4, 1, 1, item), sequential);
}

TEST(TreeSum, IsExactOnIntegersForEveryShape) {
  for (const int64_t len : {0, 1, 7, 255, 256, 257, 4095, 10000}) {
    for (const int groups : {1, 2, 3, 64}) {
      for (const int lanes : {1, 2, 8, 256}) {
        const double got = TreeOrderSum(len, groups, lanes, [](int64_t i) { return double(i); });
        EXPECT_EQ(got, double(len) * (len - 1) / 2) << len << " " << groups << " " << lanes;
      }
    }
  }
}

TEST(TreeSum, GroupsFollowTheRule) {
  EXPECT_EQ(TreeSumGroups(0, 4096, 64), 1);
  EXPECT_EQ(TreeSumGroups(4095, 4096, 64), 1);
  EXPECT_EQ(TreeSumGroups(8192, 4096, 64), 2);
  EXPECT_EQ(TreeSumGroups(int64_t{1} << 40, 4096, 64), 64);
  EXPECT_EQ(TreeSumFirst(3, 5, 8), 29);
  EXPECT_EQ(TreeSumStride(4, 8), 32);
  const std::vector<double> g = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(SumGroupsAscending(g.data() + 1, 3, 2), 2 + 4 + 6);
}

}  // namespace
}  // namespace sal360::nn::kernels
