// Sphere-weighted training losses on equirectangular maps.
//
// pred, target: (N,H,W,1). row_weights: (1,H,1,1), w_i for image row i, on the same
// device (build it once with LossRowWeights()). Each function returns the loss (copied
// to the host; this is the only device->host copy of the step) and, if dpred is not
// null, writes dL/dpred into it with "=". All sums are accumulated in double, per sample
// in a fixed order (CUDA: fixed-shape tree reductions, no atomics), so both devices are
// deterministic and agree to float rounding of the final values.
//
// SphereMseLoss — the published training loss:
//   L = (1/N) Σ_n Σ_{i,j} w_i · (pred[n,i,j] − target[n,i,j])²
//   dL/dpred = (2/N) · w_i · (pred − target)
// with w_i = (2π/W)(π/H)(sin θ_i + sin θ_{i+1})/2, θ_i = iπ/H (a trapezoid estimate of
// the solid angle of one pixel of row i; see sphere::PublishedLossRowWeights).
//
// SphereKldLoss — KL(T ‖ P) between the two maps read as probability densities on the
// sphere, with w_i as the area element. Per sample n, over its pixels k (row i(k)):
//   a_k = max(pred_k, 0),  b_k = max(target_k, 0)        (maps are non-negative)
//   S_p = Σ_k w_i a_k,  S_t = Σ_k w_i b_k,  A = Σ_k w_i   (≈ 4π)
//   p_k = a_k / S_p  (or 1/A, the uniform density, when S_p = 0),   t_k = b_k / S_t
//   KL_n = Σ_k w_i · t_k · log((t_k + eps) / (p_k + eps))
//   L = (1/N) Σ_n KL_n;   a sample whose target has S_t = 0 contributes 0 (and no gradient).
// p and t are densities (Σ_k w_i p_k = 1), so eps (kKldEps = 1e-6, against a mean density
// of 1/4π ≈ 0.08) means the same thing at every resolution. Gradient, with
// g_k = −w_i t_k / (p_k + eps) and G = Σ_k g_k p_k:
//   dL/dpred_k = (1/N) · [pred_k > 0] · (g_k − w_i · G) / S_p      (0 when S_p = 0)
//
// `batch_total` (data-parallel training): when > 0 it replaces N in every 1/N above, so a
// rank holding n of a global batch of batch_total samples returns its share of the
// global loss, and its gradient is its share of the global gradient (the ranks' losses
// and gradients then SUM to the single-process ones). 0: N.
#ifndef SAL360_NN_LOSS_H_
#define SAL360_NN_LOSS_H_

#include "nn/device.h"
#include "nn/tensor.h"

namespace sal360::nn {

inline constexpr float kKldEps = 1e-6f;

float SphereMseLoss(const Tensor& pred, const Tensor& target, const Tensor& row_weights,
                    Tensor* dpred, int batch_total = 0);
float SphereKldLoss(const Tensor& pred, const Tensor& target, const Tensor& row_weights,
                    Tensor* dpred, float eps = kKldEps, int batch_total = 0);

// The published loss row weights as a (1,H,1,1) tensor on `device`
// (sphere::PublishedLossRowWeights, rounded to float).
Tensor LossRowWeights(int height, int width, Device device);

}  // namespace sal360::nn

#endif  // SAL360_NN_LOSS_H_
