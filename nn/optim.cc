#include "nn/optim.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "nn/context.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "nn/optim_kernels.h"
#include "nn/parallel.h"

namespace sal360::nn {

absl::Status ValidateOptimConfig(const OptimConfig& cfg) {
  if (cfg.kind != "adam" && cfg.kind != "adamw" && cfg.kind != "sgd") {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer kind '", cfg.kind, "' is not one of adam, adamw, sgd"));
  }
  auto bad = [](const char* field, float v, const char* want) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer ", field, " = ", v, " is invalid: want ", want));
  };
  if (!(cfg.lr >= 0.0f) || !std::isfinite(cfg.lr)) return bad("lr", cfg.lr, "a finite lr >= 0");
  if (!(cfg.weight_decay >= 0.0f) || !std::isfinite(cfg.weight_decay)) {
    return bad("weight_decay", cfg.weight_decay, "a finite value >= 0");
  }
  if (cfg.kind == "sgd") {
    if (!(cfg.momentum >= 0.0f && cfg.momentum < 1.0f)) {
      return bad("momentum", cfg.momentum, "0 <= momentum < 1");
    }
  } else {
    if (!(cfg.beta1 >= 0.0f && cfg.beta1 < 1.0f)) return bad("beta1", cfg.beta1, "0 <= beta1 < 1");
    if (!(cfg.beta2 >= 0.0f && cfg.beta2 < 1.0f)) return bad("beta2", cfg.beta2, "0 <= beta2 < 1");
    if (!(cfg.eps > 0.0f) || !std::isfinite(cfg.eps)) return bad("eps", cfg.eps, "a finite eps > 0");
  }
  return absl::OkStatus();
}

Optimizer::Optimizer(const OptimConfig& cfg, ParamStore& params) : cfg_(cfg), params_(params) {
  const absl::Status valid = ValidateOptimConfig(cfg);
  SAL_NN_CHECK(valid.ok(), "Optimizer: %s", std::string(valid.message()).c_str());
  const Shape flat = params.params_flat().shape();
  if (cfg.kind == "sgd") {
    if (cfg.momentum != 0.0f) momentum_buffer_ = Tensor::Zeros(flat, params.device());
  } else {
    exp_avg_ = Tensor::Zeros(flat, params.device());
    exp_avg_sq_ = Tensor::Zeros(flat, params.device());
  }
}

void Optimizer::Step() {
  ++step_;
  Tensor& p = params_.params_flat();
  const Tensor& g = params_.grads_flat();
  const int64_t n = p.numel();
  const Device device = p.device();
  [[maybe_unused]] void* stream = device == Device::kCuda ? Context::Get(device).stream() : nullptr;
  if (cfg_.kind == "sgd") {
    kernels::SgdStep s;
    s.lr = cfg_.lr;
    s.weight_decay = cfg_.weight_decay;
    s.momentum = cfg_.momentum;
    s.first = step_ == 1 ? 1 : 0;
    float* buf = momentum_buffer_.empty() ? nullptr : momentum_buffer_.data();
    SAL_ON_CUDA(device, {
      return cuda::Sgd(s, p.data(), g.data(), buf, n, stream);
    });
    float* pp = p.data();
    const float* pg = g.data();
    ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
      float dummy = 0.0f;
      for (int64_t i = i0; i < i1; ++i) kernels::SgdUpdate(s, &pp[i], pg[i], buf ? &buf[i] : &dummy);
    });
    return;
  }
  const double t = static_cast<double>(step_);
  const double lr = cfg_.lr, b1 = cfg_.beta1, b2 = cfg_.beta2, wd = cfg_.weight_decay;
  kernels::AdamStep s;
  s.step_size = static_cast<float>(lr / (1.0 - std::pow(b1, t)));
  s.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(b2, t)));
  s.beta1_weight = static_cast<float>(1.0 - b1);
  s.beta2 = cfg_.beta2;
  s.one_minus_beta2 = static_cast<float>(1.0 - b2);
  s.eps = cfg_.eps;
  const bool decoupled = cfg_.kind == "adamw";
  s.l2 = decoupled ? 0.0f : cfg_.weight_decay;
  s.decay_scale = decoupled ? static_cast<float>(1.0 - lr * wd) : 1.0f;
  SAL_ON_CUDA(device, {
    return cuda::Adam(s, p.data(), g.data(), exp_avg_.data(), exp_avg_sq_.data(), n, stream);
  });
  float* pp = p.data();
  const float* pg = g.data();
  float* m = exp_avg_.data();
  float* v = exp_avg_sq_.data();
  ParallelFor(0, n, GrainFor(1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kernels::AdamUpdate(s, &pp[i], pg[i], &m[i], &v[i]);
  });
}

std::vector<std::pair<std::string, const Tensor*>> Optimizer::StateTensors() const {
  std::vector<std::pair<std::string, const Tensor*>> out;
  if (!exp_avg_.empty()) out.emplace_back("optim.exp_avg", &exp_avg_);
  if (!exp_avg_sq_.empty()) out.emplace_back("optim.exp_avg_sq", &exp_avg_sq_);
  if (!momentum_buffer_.empty()) out.emplace_back("optim.momentum_buffer", &momentum_buffer_);
  return out;
}

absl::Status Optimizer::LoadState(const std::string& name, const std::vector<float>& values) {
  Tensor* target = nullptr;
  if (name == "optim.exp_avg" && !exp_avg_.empty()) target = &exp_avg_;
  if (name == "optim.exp_avg_sq" && !exp_avg_sq_.empty()) target = &exp_avg_sq_;
  if (name == "optim.momentum_buffer" && !momentum_buffer_.empty()) target = &momentum_buffer_;
  if (target == nullptr) {
    std::string known;
    for (const auto& [n, t] : StateTensors()) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    return absl::InvalidArgumentError(absl::StrCat("optimizer state '", name, "' does not exist for '",
                                                   cfg_.kind, "' (expected: ",
                                                   known.empty() ? "none" : known, ")"));
  }
  if (static_cast<int64_t>(values.size()) != target->numel()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer state '", name, "' has ", values.size(), " values, want ", target->numel(),
        " (the parameter slab length; was the checkpoint written for another model?)"));
  }
  CopyBytes(target->device(), target->data(), Device::kCpu, values.data(),
            values.size() * sizeof(float));
  return absl::OkStatus();
}

}  // namespace sal360::nn
