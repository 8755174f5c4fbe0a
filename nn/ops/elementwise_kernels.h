// Elementwise arithmetic shared by the CPU loops (elementwise.cc) and the CUDA
// kernels (elementwise.cu). Activations are written with `=`; gradients that
// accumulate say so in their name.
#ifndef SAL360_NN_OPS_ELEMENTWISE_KERNELS_H_
#define SAL360_NN_OPS_ELEMENTWISE_KERNELS_H_

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

SAL_HD float Relu(float x) { return x > 0.0f ? x : 0.0f; }
// Gradient of ReLU given its output y (y > 0 exactly where x > 0). At the kink x = 0
// the gradient is taken as 0, like PyTorch.
SAL_HD float ReluGrad(float y, float dy) { return y > 0.0f ? dy : 0.0f; }
SAL_HD float Axpy(float a, float x, float y) { return a * x + y; }

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (elementwise.cu). `stream` is the context's cudaStream_t.
void Fill(float* y, int64_t n, float value, void* stream);
void Axpy(float a, const float* x, float* y, int64_t n, void* stream);
void ReluForward(const float* x, float* y, int64_t n, void* stream);
void ReluBackward(const float* y, const float* dy, float* dx, int64_t n, void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPS_ELEMENTWISE_KERNELS_H_
