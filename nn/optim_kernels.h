// Optimiser update arithmetic for ONE parameter element, shared by the CPU loop
// (optim.cc) and the single CUDA kernel per step (optim.cu). The expression order
// follows PyTorch's single-tensor implementation (see nn/optim.h).
#ifndef SAL360_NN_OPTIM_KERNELS_H_
#define SAL360_NN_OPTIM_KERNELS_H_

#include <math.h>

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

// Per-step scalars, computed on the host (in double, rounded to float once).
struct AdamStep {
  float step_size;       // lr / (1 − β1^t)
  float bc2_sqrt;        // sqrt(1 − β2^t)
  float beta1_weight;    // 1 − β1 (torch: exp_avg.lerp_(grad, 1 − β1))
  float beta2;           // β2
  float one_minus_beta2;
  float eps;
  float l2;              // Adam: weight decay added to the gradient (0 for AdamW)
  float decay_scale;     // AdamW: 1 − lr·wd (1 for Adam)
};

// torch.lerp: start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w).
SAL_HD float Lerp(float start, float end, float w) {
  return (w < 0.5f && w > -0.5f) ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

SAL_HD void AdamUpdate(const AdamStep& s, float* p, float g, float* m, float* v) {
  float pv = *p;
  if (s.decay_scale != 1.0f) pv = pv * s.decay_scale;  // AdamW: param.mul_(1 − lr·wd)
  if (s.l2 != 0.0f) g = g + s.l2 * pv;                // Adam: grad.add(param, alpha=wd)
  const float mv = Lerp(*m, g, s.beta1_weight);
  const float vv = *v * s.beta2 + s.one_minus_beta2 * g * g;  // mul_(β2).addcmul_(g, g, 1 − β2)
  const float denom = sqrtf(vv) / s.bc2_sqrt + s.eps;
  *p = pv + -s.step_size * mv / denom;  // addcdiv_(m, denom, value=−step_size)
  *m = mv;
  *v = vv;
}

struct SgdStep {
  float lr, weight_decay, momentum;
  int first;  // 1 on the first step: the momentum buffer starts as the gradient
};

SAL_HD void SgdUpdate(const SgdStep& s, float* p, float g, float* buf) {
  float d = s.weight_decay != 0.0f ? g + s.weight_decay * *p : g;
  if (s.momentum != 0.0f) {
    d = s.first ? d : *buf * s.momentum + d;
    *buf = d;
  }
  *p = *p + -s.lr * d;
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (optim.cu): one kernel over n elements of the flat slabs.
void Adam(const kernels::AdamStep& s, float* params, const float* grads, float* exp_avg,
              float* exp_avg_sq, int64_t n, void* stream);
// buf may be null when momentum == 0.
void Sgd(const kernels::SgdStep& s, float* params, const float* grads, float* buf, int64_t n,
             void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPTIM_KERNELS_H_
