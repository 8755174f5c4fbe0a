// Optimiser steps on CUDA: ONE grid-stride kernel over the whole flat slab per step
// (tiny-cuda-nn style); the per-element arithmetic is optim_kernels.h, shared with the CPU.
#include <algorithm>

#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/optim_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned Blocks(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 4096));
}
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

__global__ void AdamKernel(kernels::AdamStep s, float* p, const float* g, float* m, float* v,
                           int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    kernels::AdamUpdate(s, &p[i], g[i], &m[i], &v[i]);
  }
}
__global__ void SgdKernel(kernels::SgdStep s, float* p, const float* g, float* buf, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    float unused = 0.0f;
    kernels::SgdUpdate(s, &p[i], g[i], buf ? &buf[i] : &unused);
  }
}

}  // namespace

void Adam(const kernels::AdamStep& s, float* params, const float* grads, float* exp_avg,
          float* exp_avg_sq, int64_t n, void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(AdamKernel, Blocks(n), kThreads, 0, S(stream))
  (s, params, grads, exp_avg, exp_avg_sq, n);
  SAL_CUDA_CHECK_LAUNCH();
}
void Sgd(const kernels::SgdStep& s, float* params, const float* grads, float* buf, int64_t n,
         void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(SgdKernel, Blocks(n), kThreads, 0, S(stream))(s, params, grads, buf, n);
  SAL_CUDA_CHECK_LAUNCH();
}

}  // namespace sal360::nn::cuda
