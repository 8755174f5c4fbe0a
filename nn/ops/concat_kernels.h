// Channel concat arithmetic (pure index maps), shared by concat.cc and concat.cu.
#ifndef SAL360_NN_OPS_CONCAT_KERNELS_H_
#define SAL360_NN_OPS_CONCAT_KERNELS_H_

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

// y is (M, Ca+Cb) row-major; element (m, k) of y reads a (M, Ca) or b (M, Cb).
SAL_HD float ConcatAt(const float* a, const float* b, int ca, int cb, int64_t m, int k) {
  return k < ca ? a[m * ca + k] : b[m * cb + (k - ca)];
}
// Split: element (m, k) of a part with `cpart` channels starting at channel `first` of
// dy (M, cy).
SAL_HD float SplitAt(const float* dy, int cy, int first, int64_t m, int k) {
  return dy[m * cy + first + k];
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (concat.cu); m = N*H*W positions.
void ConcatChannels(const float* a, const float* b, int64_t m, int ca, int cb, float* y,
                    void* stream);
void SplitChannels(const float* dy, int64_t m, int cy, int first, int cpart, float* part,
                   void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPS_CONCAT_KERNELS_H_
