// ParamStore slabs and the optimisers on the CPU: the slab layout, first steps of Adam,
// AdamW and SGD against values derived by hand from torch.optim's update rules (written
// next to each test), bit-identical resume from saved state, and the state API's errors.
#include "nn/optim.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "nn/params.h"

namespace sal360::nn {
namespace {

// Parameters "a" (1,1,1,2) = {0.5, −1} and "b" (1,1,1,1) = {2}.
ParamStore MakeStore() {
  ParamStore store(Device::kCpu, {{"a", Shape{1, 1, 1, 2}}, {"b", Shape{1, 1, 1, 1}}});
  store.param(0).CopyFrom(Tensor::FromVector({1, 1, 1, 2}, {0.5f, -1.0f}, Device::kCpu));
  store.param(1).CopyFrom(Tensor::FromVector({1, 1, 1, 1}, {2.0f}, Device::kCpu));
  return store;
}
void SetGrads(ParamStore& store, const std::vector<float>& g) {
  store.ZeroGrad();
  store.grad(0).CopyFrom(Tensor::FromVector({1, 1, 1, 2}, {g[0], g[1]}, Device::kCpu));
  store.grad(1).CopyFrom(Tensor::FromVector({1, 1, 1, 1}, {g[2]}, Device::kCpu));
}
std::vector<float> Params(const ParamStore& store) {
  std::vector<float> v = store.param(0).ToVector();
  v.push_back(store.param(1).ToVector()[0]);
  return v;
}

// g1 has a zero entry: Adam's update there is 0/(0 + eps) = 0.
const std::vector<double> kP0 = {0.5, -1.0, 2.0};
const std::vector<double> kG1 = {0.1, -0.2, 0.0};
const std::vector<double> kG2 = {0.3, 0.1, -0.4};

TEST(ParamStore, LayoutViewsAndZeroGrad) {
  ParamStore s(Device::kCpu, {{"conv.w", Shape{9, 1, 3, 5}}, {"conv.b", Shape{1, 1, 1, 5}},
                              {"bn.gamma", Shape{1, 1, 1, 70}}});
  ASSERT_EQ(s.size(), 3);
  EXPECT_EQ(s.name(1), "conv.b");
  EXPECT_EQ(s.Find("bn.gamma"), 2);
  EXPECT_EQ(s.Find("nope"), -1);
  // 135 floats -> 192; 5 -> 64; 70 -> 128: every parameter starts on a 256-byte boundary.
  EXPECT_EQ(s.offset(0), 0);
  EXPECT_EQ(s.offset(1), 192);
  EXPECT_EQ(s.offset(2), 256);
  EXPECT_EQ(s.total(), 384);
  EXPECT_EQ(s.num_values(), 135 + 5 + 70);
  EXPECT_EQ(s.params_flat().shape(), (Shape{1, 1, 1, 384}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.param(i).data(), s.params_flat().data() + s.offset(i));
    EXPECT_EQ(s.grad(i).data(), s.grads_flat().data() + s.offset(i));
  }
  for (float v : s.params_flat().ToVector()) EXPECT_EQ(v, 0.0f);  // starts zeroed
  s.grad(1).data()[4] = 3.0f;
  EXPECT_EQ(s.grads_flat().ToVector()[192 + 4], 3.0f);
  s.ZeroGrad();
  for (float v : s.grads_flat().ToVector()) EXPECT_EQ(v, 0.0f);
}

TEST(ParamStoreDeathTest, DuplicateNamesAbort) {
  EXPECT_DEATH(ParamStore(Device::kCpu, {{"w", Shape{1, 1, 1, 1}}, {"w", Shape{1, 1, 1, 2}}}),
               "duplicate parameter name 'w'");
}

// Adam (lr 0.01, β 0.9/0.999, eps 1e-8), t = 1:
//   m1 = 0.1·g1, v1 = 0.001·g1², m̂ = m1/(1 − 0.9) = g1, sqrt(v1)/sqrt(1 − 0.999) = |g1|
//   p1 = p0 − 0.01·g1/(|g1| + 1e-8)  ≈ p0 − 0.01·sign(g1) = {0.49, −0.99, 2}.
// t = 2: m2 = 0.9·m1 + 0.1·g2, v2 = 0.999·v1 + 0.001·g2²,
//   p2 = p1 − (0.01/(1 − 0.81))·m2/(sqrt(v2)/sqrt(1 − 0.998001) + 1e-8).
// With L2 weight decay wd (Adam): g ← g + wd·p before everything above.
// AdamW: p ← p·(1 − lr·wd) first, then the update above with the plain g.
std::vector<double> AdamByHand(double lr, double wd, bool decoupled) {
  std::vector<double> p = kP0, out(3);
  for (int i = 0; i < 3; ++i) {
    double p1 = p[i];
    double g = kG1[i];
    if (decoupled) p1 *= 1 - lr * wd;
    else g += wd * p[i];
    const double m1 = 0.1 * g, v1 = 0.001 * g * g;
    p1 -= (lr / 0.1) * m1 / (std::sqrt(v1) / std::sqrt(0.001) + 1e-8);
    double p2 = p1;
    double g2 = kG2[i];
    if (decoupled) p2 *= 1 - lr * wd;
    else g2 += wd * p1;
    const double m2 = 0.9 * m1 + 0.1 * g2, v2 = 0.999 * v1 + 0.001 * g2 * g2;
    p2 -= (lr / 0.19) * m2 / (std::sqrt(v2) / std::sqrt(1 - 0.998001) + 1e-8);
    out[i] = p2;
  }
  return out;
}

void RunTwoSteps(const OptimConfig& cfg, std::vector<float>* p1, std::vector<float>* p2) {
  ParamStore store = MakeStore();
  Optimizer opt(cfg, store);
  SetGrads(store, {0.1f, -0.2f, 0.0f});
  opt.Step();
  *p1 = Params(store);
  SetGrads(store, {0.3f, 0.1f, -0.4f});
  opt.Step();
  *p2 = Params(store);
  EXPECT_EQ(opt.step_count(), 2);
  // The gaps of the slab stay exactly zero.
  const auto flat = store.params_flat().ToVector();
  for (int64_t i = 0; i < store.total(); ++i) {
    if ((i >= 2 && i < 64) || i >= 65) {
      EXPECT_EQ(flat[i], 0.0f) << i;
    }
  }
}

TEST(Adam, FirstTwoStepsByHand) {
  OptimConfig cfg;
  cfg.lr = 0.01f;
  std::vector<float> p1, p2;
  RunTwoSteps(cfg, &p1, &p2);
  EXPECT_NEAR(p1[0], 0.49, 1e-6);
  EXPECT_NEAR(p1[1], -0.99, 1e-6);
  EXPECT_EQ(p1[2], 2.0f);  // zero gradient: no movement
  const auto want = AdamByHand(0.01, 0.0, false);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p2[i], want[i], 2e-6) << i;
}

TEST(Adam, L2WeightDecayIsAddedToTheGradient) {
  OptimConfig cfg;
  cfg.lr = 0.01f;
  cfg.weight_decay = 0.1f;
  std::vector<float> p1, p2;
  RunTwoSteps(cfg, &p1, &p2);
  // Step 1, element 2: g = 0 + 0.1·2 = 0.2 > 0, so it moves by −0.01.
  EXPECT_NEAR(p1[2], 1.99, 1e-6);
  const auto want = AdamByHand(0.01, 0.1, false);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p2[i], want[i], 2e-6) << i;
}

TEST(AdamW, DecoupledDecay) {
  OptimConfig cfg;
  cfg.kind = "adamw";
  cfg.lr = 0.01f;
  cfg.weight_decay = 0.1f;
  std::vector<float> p1, p2;
  RunTwoSteps(cfg, &p1, &p2);
  EXPECT_NEAR(p1[2], 2.0 * (1 - 0.001), 1e-6);  // decay only: the gradient is 0
  const auto want = AdamByHand(0.01, 0.1, true);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p2[i], want[i], 2e-6) << i;
}

// SGD, lr 0.1, momentum 0.9, wd 0.01:
//   t = 1: d1 = g1 + 0.01·p0, buf1 = d1 (PyTorch clones the first gradient), p1 = p0 − 0.1·buf1
//   t = 2: d2 = g2 + 0.01·p1, buf2 = 0.9·buf1 + d2,                            p2 = p1 − 0.1·buf2
TEST(Sgd, MomentumStartsFromTheFirstGradient) {
  OptimConfig cfg;
  cfg.kind = "sgd";
  cfg.lr = 0.1f;
  cfg.momentum = 0.9f;
  cfg.weight_decay = 0.01f;
  std::vector<float> p1, p2;
  RunTwoSteps(cfg, &p1, &p2);
  for (int i = 0; i < 3; ++i) {
    const double d1 = kG1[i] + 0.01 * kP0[i], buf1 = d1, q1 = kP0[i] - 0.1 * buf1;
    const double d2 = kG2[i] + 0.01 * q1, buf2 = 0.9 * buf1 + d2, q2 = q1 - 0.1 * buf2;
    EXPECT_NEAR(p1[i], q1, 1e-6) << i;
    EXPECT_NEAR(p2[i], q2, 1e-6) << i;
  }
}

TEST(Sgd, PlainHasNoState) {
  OptimConfig cfg;
  cfg.kind = "sgd";
  cfg.lr = 0.5f;
  ParamStore store = MakeStore();
  Optimizer opt(cfg, store);
  EXPECT_TRUE(opt.StateTensors().empty());
  SetGrads(store, {1.0f, 2.0f, -4.0f});
  opt.Step();
  EXPECT_EQ(Params(store), (std::vector<float>{0.0f, -2.0f, 4.0f}));  // exact in binary
}

// Train 5 steps; separately train 2, save (params, state, step count), restore into a
// fresh store and optimiser, train 3 more: every bit must agree.
void CheckBitIdenticalResume(const OptimConfig& cfg) {
  auto grad_at = [](const ParamStore& s, int step) {
    std::vector<float> p = Params(s), g(3);
    for (int i = 0; i < 3; ++i) g[i] = p[i] - 0.25f * i + 0.1f * std::sin(1.0f + step * (i + 1));
    return g;
  };
  ParamStore a = MakeStore();
  Optimizer oa(cfg, a);
  for (int t = 0; t < 5; ++t) {
    SetGrads(a, grad_at(a, t));
    oa.Step();
  }
  ParamStore b = MakeStore();
  std::vector<float> saved_params;
  std::vector<std::pair<std::string, std::vector<float>>> saved_state;
  int64_t saved_step;
  {
    Optimizer ob(cfg, b);
    for (int t = 0; t < 2; ++t) {
      SetGrads(b, grad_at(b, t));
      ob.Step();
    }
    saved_params = b.params_flat().ToVector();
    for (const auto& [name, tensor] : ob.StateTensors()) saved_state.emplace_back(name, tensor->ToVector());
    saved_step = ob.step_count();
  }
  ParamStore c = MakeStore();
  c.params_flat().CopyFrom(Tensor::FromVector(c.params_flat().shape(), saved_params, Device::kCpu));
  Optimizer oc(cfg, c);
  for (const auto& [name, values] : saved_state) ASSERT_TRUE(oc.LoadState(name, values).ok()) << name;
  oc.set_step_count(saved_step);
  for (int t = 2; t < 5; ++t) {
    SetGrads(c, grad_at(c, t));
    oc.Step();
  }
  EXPECT_EQ(c.params_flat().ToVector(), a.params_flat().ToVector()) << cfg.kind;
}

TEST(Optimizer, ResumeIsBitIdentical) {
  OptimConfig adam;
  adam.weight_decay = 0.01f;
  CheckBitIdenticalResume(adam);
  OptimConfig adamw = adam;
  adamw.kind = "adamw";
  CheckBitIdenticalResume(adamw);
  OptimConfig sgd;
  sgd.kind = "sgd";
  sgd.lr = 0.05f;
  sgd.momentum = 0.9f;
  CheckBitIdenticalResume(sgd);
}

TEST(Optimizer, StateNamesAndLoadErrors) {
  ParamStore store = MakeStore();
  OptimConfig cfg;
  Optimizer opt(cfg, store);
  const auto state = opt.StateTensors();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "optim.exp_avg");
  EXPECT_EQ(state[1].first, "optim.exp_avg_sq");
  EXPECT_EQ(state[0].second->numel(), store.total());
  const absl::Status wrong_size = opt.LoadState("optim.exp_avg", std::vector<float>(3));
  EXPECT_FALSE(wrong_size.ok());
  EXPECT_NE(std::string(wrong_size.message()).find("has 3 values, want 128"), std::string::npos)
      << wrong_size;
  const absl::Status wrong_name = opt.LoadState("optim.momentum_buffer", std::vector<float>(128));
  EXPECT_FALSE(wrong_name.ok());
  EXPECT_NE(std::string(wrong_name.message()).find("optim.exp_avg, optim.exp_avg_sq"),
            std::string::npos)
      << wrong_name;
}

TEST(Optimizer, ConfigValidation) {
  OptimConfig cfg;
  EXPECT_TRUE(ValidateOptimConfig(cfg).ok());
  cfg.kind = "rmsprop";
  EXPECT_NE(std::string(ValidateOptimConfig(cfg).message()).find("'rmsprop'"), std::string::npos);
  cfg.kind = "adam";
  cfg.beta2 = 1.0f;
  EXPECT_NE(std::string(ValidateOptimConfig(cfg).message()).find("beta2"), std::string::npos);
  cfg.beta2 = 0.999f;
  cfg.lr = -1.0f;
  EXPECT_NE(std::string(ValidateOptimConfig(cfg).message()).find("lr"), std::string::npos);
  cfg.lr = 1e-3f;
  cfg.eps = 0.0f;
  EXPECT_FALSE(ValidateOptimConfig(cfg).ok());
  cfg = OptimConfig{};
  cfg.kind = "sgd";
  cfg.momentum = 1.5f;
  EXPECT_NE(std::string(ValidateOptimConfig(cfg).message()).find("momentum"), std::string::npos);
  cfg.momentum = 0.0f;
  cfg.weight_decay = NAN;
  EXPECT_FALSE(ValidateOptimConfig(cfg).ok());
}

}  // namespace
}  // namespace sal360::nn
