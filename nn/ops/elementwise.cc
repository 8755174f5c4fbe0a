#include "nn/ops/elementwise.h"

#include "nn/context.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "nn/ops/elementwise_kernels.h"
#include "nn/parallel.h"

namespace sal360::nn {

void Fill(Tensor& y, float value) {
  const int64_t n = y.numel();
  float* py = y.data();
  SAL_ON_CUDA(y.device(), {
    return cuda::Fill(py, n, value, CudaStream());
  });
  ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) py[i] = value;
  });
}

void Axpy(float a, const Tensor& x, Tensor& y) {
  CheckSameShapeAndDevice(x, y, "Axpy");
  const int64_t n = y.numel();
  const float* px = x.data();
  float* py = y.data();
  SAL_ON_CUDA(y.device(), {
    return cuda::Axpy(a, px, py, n, CudaStream());
  });
  ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) py[i] = kernels::Axpy(a, px[i], py[i]);
  });
}

void ReluForward(const Tensor& x, Tensor& y) {
  CheckSameShapeAndDevice(x, y, "ReluForward");
  const int64_t n = y.numel();
  const float* px = x.data();
  float* py = y.data();
  SAL_ON_CUDA(y.device(), {
    return cuda::ReluForward(px, py, n, CudaStream());
  });
  ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) py[i] = kernels::Relu(px[i]);
  });
}

void ReluBackward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  CheckSameShapeAndDevice(y, dy, "ReluBackward");
  CheckSameShapeAndDevice(y, dx, "ReluBackward");
  const int64_t n = y.numel();
  SAL_ON_CUDA(y.device(), {
    return cuda::ReluBackward(y.data(), dy.data(), dx.data(), n,
                              CudaStream());
  });
  const float* py = y.data();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) pdx[i] = kernels::ReluGrad(py[i], pdy[i]);
  });
}

}  // namespace sal360::nn
