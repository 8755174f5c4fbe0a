// Optimisers with PyTorch semantics (torch.optim, default single-tensor code path), one
// kernel launch per Step() over the whole flat parameter slab; optimiser state lives in
// slabs of the same layout (nn/params.h).
//
// With t = step count after increment, g = gradient, p = parameter:
//  "adam":  g ← g + wd·p                       (L2 penalty, only if wd ≠ 0)
//           m ← lerp(m, g, 1 − β1)            v ← β2·v + (1 − β2)·g²
//           p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
//  "adamw": p ← p·(1 − lr·wd)                  (decoupled decay), then "adam" with wd = 0
//  "sgd":   d ← g + wd·p
//           if momentum ≠ 0: buf ← d on the first step (PyTorch clones the first gradient),
//                            else buf ← momentum·buf + d;   d ← buf
//           p ← p − lr·d
// (no dampening, no Nesterov, no AMSGrad). Scalar factors (bias corrections, lr·wd) are
// computed on the host in double and rounded to float once per step.
// The optimiser never zeroes gradients: the caller calls ParamStore::ZeroGrad().
#ifndef SAL360_NN_OPTIM_H_
#define SAL360_NN_OPTIM_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "nn/params.h"
#include "nn/tensor.h"

namespace sal360::nn {

struct OptimConfig {
  std::string kind = "adam";  // "adam" | "adamw" | "sgd"
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f,
        momentum = 0.0f;
};

// Checks kind and ranges (lr ≥ 0, 0 ≤ β < 1, eps > 0, wd ≥ 0, 0 ≤ momentum < 1) like
// torch.optim's constructors; the message names the offending field.
absl::Status ValidateOptimConfig(const OptimConfig& cfg);

class Optimizer {
 public:
  // Aborts on an invalid config (call ValidateOptimConfig on user input first). `params`
  // must outlive the optimiser and must not be moved.
  Optimizer(const OptimConfig& cfg, ParamStore& params);
  void Step();
  int64_t step_count() const { return step_; }
  void set_step_count(int64_t step) { step_ = step; }
  const OptimConfig& config() const { return cfg_; }

  // Named state tensors for checkpoints, each a flat slab Shape{1,1,1,total}:
  // adam/adamw: "optim.exp_avg", "optim.exp_avg_sq"; sgd with momentum:
  // "optim.momentum_buffer"; sgd without momentum: none. The step count is separate.
  std::vector<std::pair<std::string, const Tensor*>> StateTensors() const;
  // Copies host values into the named state; error for an unknown name or a size that
  // is not the slab length.
  absl::Status LoadState(const std::string& name, const std::vector<float>& values);

 private:
  OptimConfig cfg_;
  ParamStore& params_;
  int64_t step_ = 0;
  Tensor exp_avg_, exp_avg_sq_, momentum_buffer_;
};

}  // namespace sal360::nn

#endif  // SAL360_NN_OPTIM_H_
