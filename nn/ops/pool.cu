// Max-pool 2x2 and nearest upsample x2 on CUDA: one thread per output element, the
// arithmetic in pool_kernels.h. Custom kernels rather than cuDNN pooling: the contract's
// backward takes the argmax (cuDNN's pooling backward recomputes it from x and y and
// documents no tie rule), and cuDNN 9 deprecates the legacy pooling descriptors.
#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/ops/pool_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

// Decodes a linear NHWC index over a (N, h, w, c) grid.
struct Nhwc {
  int n, h, w, c;
};
__device__ Nhwc Decode(int64_t i, int h, int w, int c) {
  Nhwc r;
  r.c = static_cast<int>(i % c);
  i /= c;
  r.w = static_cast<int>(i % w);
  i /= w;
  r.h = static_cast<int>(i % h);
  r.n = static_cast<int>(i / h);
  return r;
}

__global__ void MaxPoolForwardKernel(const float* x, int H, int W, int C, int64_t total, float* y,
                                     int32_t* argmax) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const Nhwc o = Decode(i, H / 2, W / 2, C);
  y[i] = kernels::MaxPool2x2At(x, H, W, C, o.n, o.h, o.w, o.c, &argmax[i]);
}
__global__ void MaxPoolBackwardKernel(const float* dy, const int32_t* argmax, int H, int W, int C,
                                      int64_t total, float* dx) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const Nhwc p = Decode(i, H, W, C);
  dx[i] = kernels::MaxPool2x2GradAt(dy, argmax, H, W, C, p.n, p.h, p.w, p.c);
}
__global__ void UpsampleForwardKernel(const float* x, int H, int W, int C, int64_t total,
                                      float* y) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const Nhwc o = Decode(i, 2 * H, 2 * W, C);
  y[i] = kernels::Upsample2xAt(x, H, W, C, o.n, o.h, o.w, o.c);
}
__global__ void UpsampleBackwardKernel(const float* dy, int H, int W, int C, int64_t total,
                                       float* dx) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const Nhwc p = Decode(i, H, W, C);
  dx[i] = kernels::Upsample2xGradAt(dy, H, W, C, p.n, p.h, p.w, p.c);
}

__global__ void ArgmaxFromWindowIndexKernel(const int8_t* k, int H, int W, int C, int64_t total,
                                            int32_t* argmax) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= total) return;
  const Nhwc o = Decode(i, H / 2, W / 2, C);
  argmax[i] = kernels::WindowIndexToFlat(k[i], o.h, o.w, W);
}

}  // namespace

void ArgmaxFromWindowIndex(const int8_t* window_index, int n, int h, int w, int c,
                           int32_t* argmax, void* stream) {
  const int64_t total = int64_t{n} * (h / 2) * (w / 2) * c;
  if (total == 0) return;
  SAL_LAUNCH(ArgmaxFromWindowIndexKernel, Blocks(total), kThreads, 0, S(stream))
  (window_index, h, w, c, total, argmax);
  SAL_CUDA_CHECK_LAUNCH();
}

void MaxPool2x2Forward(const float* x, int n, int h, int w, int c, float* y, int32_t* argmax,
                       void* stream) {
  const int64_t total = int64_t{n} * (h / 2) * (w / 2) * c;
  if (total == 0) return;
  SAL_LAUNCH(MaxPoolForwardKernel, Blocks(total), kThreads, 0, S(stream))
  (x, h, w, c, total, y, argmax);
  SAL_CUDA_CHECK_LAUNCH();
}
void MaxPool2x2Backward(const float* dy, const int32_t* argmax, int n, int h, int w, int c,
                        float* dx, void* stream) {
  const int64_t total = int64_t{n} * h * w * c;
  if (total == 0) return;
  SAL_LAUNCH(MaxPoolBackwardKernel, Blocks(total), kThreads, 0, S(stream))
  (dy, argmax, h, w, c, total, dx);
  SAL_CUDA_CHECK_LAUNCH();
}
void UpsampleNearest2xForward(const float* x, int n, int h, int w, int c, float* y, void* stream) {
  const int64_t total = int64_t{n} * (2 * h) * (2 * w) * c;
  if (total == 0) return;
  SAL_LAUNCH(UpsampleForwardKernel, Blocks(total), kThreads, 0, S(stream))(x, h, w, c, total, y);
  SAL_CUDA_CHECK_LAUNCH();
}
void UpsampleNearest2xBackward(const float* dy, int n, int h, int w, int c, float* dx,
                               void* stream) {
  const int64_t total = int64_t{n} * h * w * c;
  if (total == 0) return;
  SAL_LAUNCH(UpsampleBackwardKernel, Blocks(total), kThreads, 0, S(stream))(dy, h, w, c, total, dx);
  SAL_CUDA_CHECK_LAUNCH();
}

}  // namespace sal360::nn::cuda
