// BatchNorm2d with PyTorch semantics, over NHWC tensors: one statistic per channel,
// taken over all N*H*W positions (M = N*H*W values per channel).
//
// Training forward (per channel c, values x_m, m < M):
//   mean   = (1/M) Σ x_m                       (accumulated in double, fixed order)
//   var    = (1/M) Σ (x_m − mean)²             (biased: used to normalise; two-pass)
//   invstd = 1 / sqrt(var + eps)
//   y_m    = (x_m − mean)·invstd·gamma + beta
//   running_mean ← (1 − momentum)·running_mean + momentum·mean
//   running_var  ← (1 − momentum)·running_var  + momentum·var·M/(M − 1)   (UNBIASED)
//   num_batches_tracked += 1
// M must be > 1 (PyTorch raises "Expected more than 1 value per channel"; we abort).
// Eval forward: y = (x − running_mean)/sqrt(running_var + eps)·gamma + beta.
// Backward (training mode, batch statistics from the cache), with x̂ = (x − mean)·invstd:
//   dbeta  += Σ dy            dgamma += Σ dy·x̂
//   dx      = gamma·invstd·(dy − mean(dy) − x̂·mean(dy·x̂))
//
// Synchronised batch-norm (`sync` non-null, data-parallel --sync_bn): the statistics are
// taken over every rank's positions (M = Σ_ranks M_r): the per-channel sums Σx, then
// Σ(x − mean)², and in the backward Σdy and Σdy·x̂ are summed over the ranks (in double,
// nn/collective.h) before they are used, so each rank normalises and back-propagates
// with the global batch's statistics. dgamma/dbeta stay the LOCAL sums (the gradient
// all-reduce adds them up once). CPU only: on the CUDA device a non-null `sync` aborts
// (the trainer refuses --sync_bn there first).
// Invariants: y and dx are written with "="; dgamma and dbeta accumulate "+=". Every
// reduction is deterministic (fixed order; no float atomics), on both devices.
// Shapes: x, y, dy, dx (N,H,W,C); gamma, beta and every statistic (1,1,1,C); all on one
// device. CUDA: custom kernels, not cuDNN — see docs/nn_layers.md ("Why not cuDNN").
#ifndef SAL360_NN_OPS_BATCHNORM_H_
#define SAL360_NN_OPS_BATCHNORM_H_

#include <cstdint>

#include "nn/collective.h"
#include "nn/device.h"
#include "nn/tensor.h"

namespace sal360::nn {

struct BatchNormStats {
  Tensor running_mean, running_var;  // (1,1,1,C)
  int64_t num_batches_tracked = 0;
  // PyTorch's initial state: running_mean 0, running_var 1, num_batches_tracked 0.
  static BatchNormStats Create(int channels, Device device);
};

// Filled by the training forward and read by the backward. The tensors are allocated
// (or re-allocated when the channel count or device changes) by the forward.
struct BatchNormCache {
  Tensor mean, invstd;  // (1,1,1,C)
};

// y "="; updates stats (running_mean, running_var, num_batches_tracked).
void BatchNormForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           BatchNormStats& stats, BatchNormCache& cache, Tensor& y,
                           float momentum = 0.1f, float eps = 1e-5f, Collective* sync = nullptr);
// y "="; stats are read only.
void BatchNormForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const BatchNormStats& stats, Tensor& y, float eps = 1e-5f);
// dx "=", dgamma/dbeta "+=". `x` is the training forward's input, `cache` its output.
void BatchNormBackward(const Tensor& x, const Tensor& gamma, const BatchNormCache& cache,
                       const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                       Collective* sync = nullptr);

// BatchNorm followed by ReLU: y = max(0, BN(x)), the model's every use. On the CPU one
// pass normalises and clamps (and the backward applies the ReLU mask inside its own
// passes), which saves a read and a write of the activation; the bits are those of the
// separate calls (BatchNorm*, then ReluForward / ReluBackward then BatchNormBackward).
// On CUDA these are exactly those separate calls.
void BatchNormReluForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               BatchNormStats& stats, BatchNormCache& cache, Tensor& y,
                               float momentum = 0.1f, float eps = 1e-5f, Collective* sync = nullptr);
void BatchNormReluForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const BatchNormStats& stats, Tensor& y, float eps = 1e-5f);
// `y` is the forward's output (after the ReLU), `dy` the gradient with respect to it;
// dx "=", dgamma/dbeta "+=". `dy` is scratch afterwards (CUDA masks it in place; the CPU
// leaves it as it was). dx may alias dy.
void BatchNormReluBackward(const Tensor& x, const Tensor& y, const Tensor& gamma,
                           const BatchNormCache& cache, Tensor& dy, Tensor& dx, Tensor& dgamma,
                           Tensor& dbeta, Collective* sync = nullptr);

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_BATCHNORM_H_
