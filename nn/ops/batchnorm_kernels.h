// BatchNorm arithmetic shared by the CPU loops (batchnorm.cc) and the CUDA kernels
// (batchnorm.cu). Statistics are accumulated in double; the per-element maps run in
// float. See nn/ops/batchnorm.h for the formulas.
#ifndef SAL360_NN_OPS_BATCHNORM_KERNELS_H_
#define SAL360_NN_OPS_BATCHNORM_KERNELS_H_

#include <math.h>

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

// One term of the second (variance) pass: (x − mean)², in double.
SAL_HD double SquaredDeviation(float x, double mean) {
  const double d = static_cast<double>(x) - mean;
  return d * d;
}
SAL_HD float BnInvStd(double var, float eps) {
  return static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
}
// running ← (1 − momentum)·running + momentum·batch, in double, rounded once.
SAL_HD float BnRunningUpdate(float running, double batch, float momentum) {
  const double m = static_cast<double>(momentum);
  return static_cast<float>((1.0 - m) * static_cast<double>(running) + m * batch);
}
// Unbiased variance from the biased one over m values (m > 1).
SAL_HD double BnUnbiased(double var_biased, int64_t m) {
  return var_biased * static_cast<double>(m) / static_cast<double>(m - 1);
}
SAL_HD float BnXhat(float x, float mean, float invstd) { return (x - mean) * invstd; }
SAL_HD float BnNormalize(float x, float mean, float invstd, float gamma, float beta) {
  return BnXhat(x, mean, invstd) * gamma + beta;
}
// dx = gamma·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
SAL_HD float BnBackwardDx(float x, float dy, float mean, float invstd, float gamma,
                          float mean_dy, float mean_dy_xhat) {
  const float xhat = BnXhat(x, mean, invstd);
  return gamma * invstd * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (batchnorm.cu). x, y, dy, dx are (M, C) row-major (NHWC with M = N*H*W);
// per-channel arrays have C entries. `scratch` is device memory of at least
// BatchNormScratchBytes(m, c) bytes (from the context's arena). `stream` is cudaStream_t.
size_t BatchNormScratchBytes(int64_t m, int c);
void BatchNormForwardTrain(const float* x, const float* gamma, const float* beta, int64_t m,
                           int c, float momentum, float eps, float* running_mean,
                           float* running_var, float* save_mean, float* save_invstd, float* y,
                           void* scratch, void* stream);
void BatchNormForwardEval(const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, int64_t m, int c,
                          float eps, float* y, void* scratch, void* stream);
void BatchNormBackward(const float* x, const float* gamma, const float* save_mean,
                       const float* save_invstd, const float* dy, int64_t m, int c, float* dx,
                       float* dgamma, float* dbeta, void* scratch, void* stream);
// invstd[ch] = BnInvStd(var[ch], eps) (the cudnn engine's inference input).
void BatchNormInvStd(const float* var, int c, float eps, float* invstd, void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPS_BATCHNORM_KERNELS_H_
