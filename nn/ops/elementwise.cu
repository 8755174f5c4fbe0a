#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/ops/elementwise_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

__global__ void FillKernel(float* y, int64_t n, float v) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) y[i] = v;
}
__global__ void AxpyKernel(float a, const float* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) y[i] = kernels::Axpy(a, x[i], y[i]);
}
__global__ void ReluForwardKernel(const float* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) y[i] = kernels::Relu(x[i]);
}
__global__ void ReluBackwardKernel(const float* y, const float* dy, float* dx, int64_t n) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) dx[i] = kernels::ReluGrad(y[i], dy[i]);
}

}  // namespace

void Fill(float* y, int64_t n, float value, void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(FillKernel, Blocks(n), kThreads, 0, S(stream))(y, n, value);
  SAL_CUDA_CHECK_LAUNCH();
}
void Axpy(float a, const float* x, float* y, int64_t n, void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(AxpyKernel, Blocks(n), kThreads, 0, S(stream))(a, x, y, n);
  SAL_CUDA_CHECK_LAUNCH();
}
void ReluForward(const float* x, float* y, int64_t n, void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(ReluForwardKernel, Blocks(n), kThreads, 0, S(stream))(x, y, n);
  SAL_CUDA_CHECK_LAUNCH();
}
void ReluBackward(const float* y, const float* dy, float* dx, int64_t n, void* stream) {
  if (n == 0) return;
  SAL_LAUNCH(ReluBackwardKernel, Blocks(n), kThreads, 0, S(stream))(y, dy, dx, n);
  SAL_CUDA_CHECK_LAUNCH();
}

}  // namespace sal360::nn::cuda
