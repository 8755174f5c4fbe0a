// Step 2 of the deterministic sum (nn/ops/tree_sum_kernels.h) inside a CUDA block: the
// pairwise tree over kLanes lanes, one barrier per level. Every thread of the block must
// call it (it synchronises the block); fold(t, u) adds lane u's partial sums into lane
// t's, for every quantity the kernel reduces. Included by .cu files only.
#ifndef SAL360_NN_CUDA_TREE_SUM_H_
#define SAL360_NN_CUDA_TREE_SUM_H_

namespace sal360::nn::cuda {

template <int kLanes, class Fold>
__device__ void BlockTreeFold(int lane, Fold fold) {
  static_assert(kLanes > 0 && (kLanes & (kLanes - 1)) == 0, "kLanes must be a power of two");
  for (int s = kLanes / 2; s > 0; s >>= 1) {
    if (lane < s) fold(lane, lane + s);
    __syncthreads();
  }
}

}  // namespace sal360::nn::cuda

#endif  // SAL360_NN_CUDA_TREE_SUM_H_
