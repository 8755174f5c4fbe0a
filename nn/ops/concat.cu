// Channel concat / split on CUDA: one thread per output element (concat_kernels.h).
#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/ops/concat_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

__global__ void ConcatKernel(const float* a, const float* b, int ca, int cb, int64_t total,
                             float* y) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const int cy = ca + cb;
  const int64_t m = i / cy;
  y[i] = kernels::ConcatAt(a, b, ca, cb, m, static_cast<int>(i - m * cy));
}
__global__ void SplitKernel(const float* dy, int cy, int first, int cpart, int64_t total,
                            float* part) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const int64_t m = i / cpart;
  part[i] = kernels::SplitAt(dy, cy, first, m, static_cast<int>(i - m * cpart));
}

}  // namespace

void ConcatChannels(const float* a, const float* b, int64_t m, int ca, int cb, float* y,
                    void* stream) {
  const int64_t total = m * (ca + cb);
  if (total == 0) return;
  SAL_LAUNCH(ConcatKernel, Blocks(total), kThreads, 0, S(stream))(a, b, ca, cb, total, y);
  SAL_CUDA_CHECK_LAUNCH();
}
void SplitChannels(const float* dy, int64_t m, int cy, int first, int cpart, float* part,
                   void* stream) {
  const int64_t total = m * cpart;
  if (total == 0) return;
  SAL_LAUNCH(SplitKernel, Blocks(total), kThreads, 0, S(stream))(dy, cy, first, cpart, total, part);
  SAL_CUDA_CHECK_LAUNCH();
}

}  // namespace sal360::nn::cuda
