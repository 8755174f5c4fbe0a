// Loss arithmetic shared by the CPU loops (loss.cc) and the CUDA kernels (loss.cu).
// Per-pixel terms are formed and accumulated in double; see nn/loss.h for the formulas.
#ifndef SAL360_NN_LOSS_KERNELS_H_
#define SAL360_NN_LOSS_KERNELS_H_

#include <math.h>

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

// ---- Sphere-weighted MSE ----
SAL_HD double MseTerm(float y, float t, float w) {
  const double d = static_cast<double>(y) - static_cast<double>(t);
  return static_cast<double>(w) * d * d;
}
// dL/dy with scale = 2/N.
SAL_HD float MseGrad(float y, float t, float w, float scale) { return scale * w * (y - t); }

// ---- Sphere-weighted KL divergence ----
SAL_HD double KldMass(float v) { return v > 0.0f ? static_cast<double>(v) : 0.0; }

// Per-sample sums of pass 1 (index 0..2): S_p = Σ w·a, S_t = Σ w·b, A = Σ w.
SAL_HD void KldSums(float y, float t, float w, double* sp, double* st, double* area) {
  *sp += static_cast<double>(w) * KldMass(y);
  *st += static_cast<double>(w) * KldMass(t);
  *area += static_cast<double>(w);
}
// The prediction density p_k (the uniform density 1/A when the map is all zero).
SAL_HD double KldPredDensity(float y, double sp, double area) {
  return sp > 0.0 ? KldMass(y) / sp : 1.0 / area;
}
// Pass 2: the pixel's KL term w·t·log((t+eps)/(p+eps)) and g·p with g = −w·t/(p+eps).
// Both are 0 for a sample whose target is all zero (st == 0).
SAL_HD void KldTerms(float y, float t, float w, double sp, double st, double area, double eps,
                     double* term, double* gp) {
  if (!(st > 0.0)) {
    *term = 0.0;
    *gp = 0.0;
    return;
  }
  const double p = KldPredDensity(y, sp, area);
  const double q = KldMass(t) / st;
  const double wd = static_cast<double>(w);
  *term = wd * q * log((q + eps) / (p + eps));
  *gp = -wd * q / (p + eps) * p;
}
// Pass 3: dL/dy = scale·[y > 0]·(g − w·G)/S_p with scale = 1/N and G = Σ g·p.
SAL_HD float KldGrad(float y, float t, float w, double sp, double st, double sum_gp, double eps,
                     double scale) {
  if (!(st > 0.0) || !(sp > 0.0) || !(y > 0.0f)) return 0.0f;
  const double wd = static_cast<double>(w);
  const double p = static_cast<double>(y) / sp;
  const double q = KldMass(t) / st;
  const double g = -wd * q / (p + eps);
  return static_cast<float>(scale * (g - wd * sum_gp) / sp);
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (loss.cu). pred/target/dpred are (N, H*W) row-major, row_weights (H). Each
// writes the per-sample loss sums to `sample_loss_host` (N doubles, host memory; the
// launcher synchronises). dpred may be null. `scratch` holds LossScratchBytes(n, h, w).
size_t LossScratchBytes(int n, int h, int w);
// `denominator` replaces N in the 1/N of the loss and its gradient (loss.h).
void SphereMse(const float* pred, const float* target, const float* row_weights, int n, int h,
               int w, int denominator, float* dpred, double* sample_loss_host, void* scratch, void* stream);
void SphereKld(const float* pred, const float* target, const float* row_weights, int n, int h,
               int w, int denominator, double eps, float* dpred, double* sample_loss_host, void* scratch,
               void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_LOSS_KERNELS_H_
