// The CUDA backend's deterministic sums, described once: the per-sample loss sums
// (nn/loss.cu) and the per-channel batch-norm sums (nn/ops/batchnorm.cu) both add in
// this order, and TreeOrderSum reproduces it on the host, so a CPU test can predict the
// GPU's bits.
//
// `len` items (the pixels of a sample, the rows of a channel) are summed in double by G
// groups of L lanes (L a power of two):
//   1. lane l of group g adds items g·L + l, g·L + l + G·L, g·L + l + 2·G·L, ... in
//      ascending order, starting from 0;
//   2. each group folds its L lane sums by a pairwise tree: for s = L/2, L/4, ..., 1,
//      lane t < s adds lane t + s (nn/cuda/tree_sum.h, with a barrier per level);
//   3. the G group sums are added in ascending group order, starting from 0.
// G depends only on the length (TreeSumGroups), never on the device or on timing, and
// there are no atomics: the same inputs give the same bits, run after run.
#ifndef SAL360_NN_OPS_TREE_SUM_KERNELS_H_
#define SAL360_NN_OPS_TREE_SUM_KERNELS_H_

#include <cstdint>
#include <vector>

#include "util/hd.h"

namespace sal360::nn::kernels {

// G for `len` items: one group per `items_per_group` items, at least 1, at most
// `max_groups`.
SAL_HD int TreeSumGroups(int64_t len, int64_t items_per_group, int max_groups) {
  const int64_t g = len / items_per_group;
  return static_cast<int>(g < 1 ? 1 : (g > max_groups ? max_groups : g));
}

// Step 1: lane `lane` of group `group` visits i = TreeSumFirst(...), then every
// TreeSumStride(...) items.
SAL_HD int64_t TreeSumFirst(int group, int lane, int lanes) {
  return int64_t{group} * lanes + lane;
}
SAL_HD int64_t TreeSumStride(int groups, int lanes) { return int64_t{groups} * lanes; }

// Step 3: group_sums[g · stride] for g = 0 .. groups − 1, in ascending order.
SAL_HD double SumGroupsAscending(const double* group_sums, int groups, int64_t stride) {
  double s = 0.0;
  for (int g = 0; g < groups; ++g) s += group_sums[g * stride];
  return s;
}

// The whole order on the host: Σ item(i), i in [0, len), exactly as the kernels add it.
template <class Item>
double TreeOrderSum(int64_t len, int groups, int lanes, Item item) {
  std::vector<double> group_sums(groups), lane_sums(lanes);
  for (int g = 0; g < groups; ++g) {
    for (int l = 0; l < lanes; ++l) {
      double acc = 0.0;
      for (int64_t i = TreeSumFirst(g, l, lanes); i < len; i += TreeSumStride(groups, lanes)) {
        acc += item(i);
      }
      lane_sums[l] = acc;
    }
    for (int s = lanes / 2; s > 0; s >>= 1) {
      for (int t = 0; t < s; ++t) lane_sums[t] += lane_sums[t + s];
    }
    group_sums[g] = lane_sums[0];
  }
  return SumGroupsAscending(group_sums.data(), groups, 1);
}

}  // namespace sal360::nn::kernels

#endif  // SAL360_NN_OPS_TREE_SUM_KERNELS_H_
