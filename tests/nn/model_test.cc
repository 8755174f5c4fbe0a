// The spherical U-Net (nn/model.h) against an independent, slow reference written from
// the definition of the network: every SphericalConv is the published
// "expanded image" construction — the 3H x 3W image whose 3x3 block (i, j) holds the
// table samples of pixel (i, j), followed by a plain Conv2d(kernel 3, stride 3) — and
// BatchNorm, ReLU, max-pool, upsample and concat are plain loops in double. Weights come
// from the exported PyTorch state dict (nn/checkpoint.h), so the weight permutation is
// checked too. Then: finite-difference gradients of the whole network, determinism, and
// buffer reuse.
#include "nn/cpu_gemm.h"
#include "nn/model.h"

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "nn/checkpoint.h"
#include "nn/context.h"
#include "sphere/tables.h"
#include "tests/testing/gradcheck.h"

namespace sal360::nn {
namespace {

using ::sal360::testing::CheckGradient;
using ::sal360::testing::GradCheckOptions;
using ::sal360::testing::GradientMatches;
using ::sal360::testing::RandomFloats;

// NHWC activation in double.
struct Act {
  int n = 0, h = 0, w = 0, c = 0;
  std::vector<double> v;
  Act() = default;
  Act(int n_, int h_, int w_, int c_) : n(n_), h(h_), w(w_), c(c_), v(size_t(n_) * h_ * w_ * c_, 0.0) {}
  double& at(int b, int i, int j, int k) { return v[((size_t(b) * h + i) * w + j) * c + k]; }
  double at(int b, int i, int j, int k) const { return v[((size_t(b) * h + i) * w + j) * c + k]; }
};

std::vector<float> TensorF32(const util::Safetensors& st, const std::string& name) {
  const util::SafetensorsTensor& t = st.tensors.at(name);
  std::vector<float> out(size_t(t.numel()));
  std::memcpy(out.data(), t.bytes.data(), out.size() * 4);
  return out;
}

// The published construction: expanded image E (3H x 3W x Cin) with
// E[3i+r][3j+c] = Σ_t weight · x[src] for kernel position (r, c) of pixel (i, j), then a
// Conv2d(k=3, stride=3, no padding) with the PyTorch weight (Cout, Cin, 3, 3).
Act ExpandedConv(const Act& x, const std::vector<float>& w_oihw, const std::vector<float>& bias,
                 int cout, const ModelConfig& config) {
  sphere::TableSpec spec;
  spec.height = x.h;
  spec.width = x.w;
  spec.mode = config.table_mode;
  spec.convention = config.convention;
  const sphere::GatherTable& table = sphere::CachedGatherTable(spec);
  const int cin = x.c;
  const std::vector<double> w(w_oihw.begin(), w_oihw.end());
  Act y(x.n, x.h, x.w, cout);
  for (int b = 0; b < x.n; ++b) {
    Act expanded(1, 3 * x.h, 3 * x.w, cin);
    for (int i = 0; i < x.h; ++i) {
      for (int j = 0; j < x.w; ++j) {
        const int p = i * x.w + j;
        for (int tap = 0; tap < 9; ++tap) {
          for (int t = 0; t < table.taps; ++t) {
            const size_t e = (size_t(p) * 9 + tap) * table.taps + t;
            const int q = table.src[e];
            for (int ci = 0; ci < cin; ++ci) {
              expanded.at(0, 3 * i + tap / 3, 3 * j + tap % 3, ci) += table.weight[e] * x.at(b, q / x.w, q % x.w, ci);
            }
          }
        }
      }
    }
    // The stride-3 Conv2d over E: the 3x3 patch of pixel (i, j), flattened in the
    // weight's (ci, r, c) order, dotted with each output channel's weight row.
    std::vector<double> patch(size_t(cin) * 9);
    for (int i = 0; i < x.h; ++i) {
      for (int j = 0; j < x.w; ++j) {
        for (int ci = 0; ci < cin; ++ci) {
          for (int r = 0; r < 3; ++r) {
            for (int c = 0; c < 3; ++c) patch[(size_t(ci) * 3 + r) * 3 + c] = expanded.at(0, 3 * i + r, 3 * j + c, ci);
          }
        }
        for (int co = 0; co < cout; ++co) {
          const double* wrow = w.data() + size_t(co) * cin * 9;
          double s = bias[co];
          for (size_t k = 0; k < patch.size(); ++k) s += wrow[k] * patch[k];
          y.at(b, i, j, co) = s;
        }
      }
    }
  }
  return y;
}

// BatchNorm2d (training: batch statistics, biased variance; eval: running statistics),
// then ReLU.
Act BnRelu(const Act& x, const std::vector<float>& gamma, const std::vector<float>& beta,
           const std::vector<float>& running_mean, const std::vector<float>& running_var,
           bool training) {
  Act y = x;
  const double m = double(x.n) * x.h * x.w;
  for (int k = 0; k < x.c; ++k) {
    double mean = running_mean[k], var = running_var[k];
    if (training) {
      mean = 0;
      for (size_t i = k; i < x.v.size(); i += x.c) mean += x.v[i];
      mean /= m;
      var = 0;
      for (size_t i = k; i < x.v.size(); i += x.c) var += (x.v[i] - mean) * (x.v[i] - mean);
      var /= m;
    }
    for (size_t i = k; i < x.v.size(); i += x.c) {
      y.v[i] = std::max(0.0, (x.v[i] - mean) / std::sqrt(var + 1e-5) * gamma[k] + beta[k]);
    }
  }
  return y;
}

Act MaxPool(const Act& x) {
  Act y(x.n, x.h / 2, x.w / 2, x.c);
  for (int b = 0; b < x.n; ++b)
    for (int i = 0; i < y.h; ++i)
      for (int j = 0; j < y.w; ++j)
        for (int k = 0; k < x.c; ++k)
          y.at(b, i, j, k) = std::max(std::max(x.at(b, 2 * i, 2 * j, k), x.at(b, 2 * i, 2 * j + 1, k)),
                                      std::max(x.at(b, 2 * i + 1, 2 * j, k), x.at(b, 2 * i + 1, 2 * j + 1, k)));
  return y;
}

Act UpCat(const Act& low, const Act& skip) {
  Act y(skip.n, skip.h, skip.w, low.c + skip.c);
  for (int b = 0; b < y.n; ++b)
    for (int i = 0; i < y.h; ++i)
      for (int j = 0; j < y.w; ++j) {
        for (int k = 0; k < low.c; ++k) y.at(b, i, j, k) = low.at(b, i / 2, j / 2, k);
        for (int k = 0; k < skip.c; ++k) y.at(b, i, j, low.c + k) = skip.at(b, i, j, k);
      }
  return y;
}

// The whole network from a state dict, in double.
Act ReferenceForward(const util::Safetensors& sd, const Act& x, bool training,
                     const ModelConfig& config) {
  auto conv = [&](int i, const Act& in) {
    return ExpandedConv(in, TensorF32(sd, std::string(kConvLayers[i].name) + ".weight"),
                        TensorF32(sd, std::string(kConvLayers[i].name) + ".bias"),
                        kConvLayers[i].cout, config);
  };
  auto bn = [&](int i, const Act& in) {
    const std::string p = "bn" + std::to_string(i + 1) + ".";
    return BnRelu(in, TensorF32(sd, p + "weight"), TensorF32(sd, p + "bias"),
                  TensorF32(sd, p + "running_mean"), TensorF32(sd, p + "running_var"), training);
  };
  const Act e1 = bn(0, conv(0, x));
  const Act e2 = bn(1, conv(1, MaxPool(e1)));
  const Act e3 = bn(2, conv(2, MaxPool(e2)));
  const Act e4 = bn(3, conv(3, MaxPool(e3)));
  const Act e5 = bn(4, conv(4, UpCat(e4, e3)));
  const Act e6 = bn(5, conv(5, UpCat(e5, e2)));
  return conv(6, UpCat(e6, e1));
}

// A model with every parameter and BN statistic randomised (not the identity-like
// defaults), so that each term of the reference matters.
void Randomise(SphericalUNet& model, uint64_t seed) {
  Rng rng(seed);
  model.Initialize(rng);
  for (int i = 0; i < kNumBatchNorms; ++i) {
    const int c = SphericalUNet::BatchNormChannels(i);
    const Shape s{1, 1, 1, c};
    model.params().param(model.bn_weight_index(i)).CopyFrom(
        Tensor::FromVector(s, RandomFloats(c, seed + 10 * i + 1, 0.5, 1.5), Device::kCpu));
    model.params().param(model.bn_bias_index(i)).CopyFrom(
        Tensor::FromVector(s, RandomFloats(c, seed + 10 * i + 2, -0.3, 0.3), Device::kCpu));
    model.bn_stats(i).running_mean.CopyFrom(
        Tensor::FromVector(s, RandomFloats(c, seed + 10 * i + 3, -0.2, 0.2), Device::kCpu));
    model.bn_stats(i).running_var.CopyFrom(
        Tensor::FromVector(s, RandomFloats(c, seed + 10 * i + 4, 0.5, 2.0), Device::kCpu));
  }
}

Act ToAct(const Tensor& t) {
  Act a(t.shape().n, t.shape().h, t.shape().w, t.shape().c);
  const std::vector<float> v = t.ToVector();
  for (size_t i = 0; i < v.size(); ++i) a.v[i] = v[i];
  return a;
}

// Model input: RGB in [0,1] and a previous map in [0,10] (the published x10 scale).
Tensor RandomInput(int n, int h, int w, uint64_t seed) {
  std::vector<float> v = RandomFloats(int64_t{n} * h * w * 4, seed, 0.0, 1.0);
  for (size_t i = 3; i < v.size(); i += 4) v[i] *= 10.0f;
  return Tensor::FromVector(Shape{n, h, w, 4}, v, Device::kCpu);
}

struct ForwardCase {
  sphere::TableMode mode;
  bool training;
  int n, h, w;
};

class ModelForwardTest : public ::testing::TestWithParam<ForwardCase> {};

TEST_P(ModelForwardTest, EqualsExpandedImageReference) {
  const ForwardCase& c = GetParam();
  ModelConfig config;
  config.table_mode = c.mode;
  SphericalUNet model(Device::kCpu, config);
  Randomise(model, 7);
  util::Safetensors sd;
  ExportModel(model, sd);  // before the forward: training mode updates the running stats
  const Tensor x = RandomInput(c.n, c.h, c.w, 11);
  const Act got = ToAct(model.Forward(x, c.training));
  const Act want = ReferenceForward(sd, ToAct(x), c.training, config);
  ASSERT_EQ(got.v.size(), want.v.size());
  double scale = 0, max_err = 0;
  for (double v : want.v) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.v.size(); ++i) max_err = std::max(max_err, std::abs(got.v[i] - want.v[i]));
  // float32 through 7 convolutions with up to 4608 products each and 6 BatchNorms:
  // measured max errors are ~1e-6 of the output scale; 1e-4 leaves room for other BLAS
  // kernels while still catching any wrong index (which gives O(scale) errors).
  EXPECT_GT(scale, 0.1);
  EXPECT_LT(max_err, 1e-4 * scale) << "scale " << scale;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ModelForwardTest,
    ::testing::Values(ForwardCase{sphere::TableMode::kNearest, true, 2, 16, 32},
                      ForwardCase{sphere::TableMode::kNearest, false, 1, 16, 32},
                      ForwardCase{sphere::TableMode::kBilinear, true, 1, 24, 48},
                      ForwardCase{sphere::TableMode::kBilinear, false, 2, 16, 32}),
    [](const ::testing::TestParamInfo<ForwardCase>& info) {
      const ForwardCase& c = info.param;
      return std::string(c.mode == sphere::TableMode::kNearest ? "Nearest" : "Bilinear") +
             (c.training ? "Train" : "Eval") + "N" + std::to_string(c.n) + "H" + std::to_string(c.h);
    });

TEST(ModelTest, TrainingForwardUpdatesRunningStatsLikePyTorch) {
  SphericalUNet model(Device::kCpu, ModelConfig{});
  Randomise(model, 3);
  util::Safetensors before;
  ExportModel(model, before);
  const Tensor x = RandomInput(2, 16, 32, 5);
  model.Forward(x, true);
  // bn1's input is conv1's output; its batch statistics in double.
  const Act c1 = ExpandedConv(ToAct(x), TensorF32(before, "conv1.weight"), TensorF32(before, "conv1.bias"),
                              64, ModelConfig{});
  const std::vector<float> rm0 = TensorF32(before, "bn1.running_mean");
  const std::vector<float> rv0 = TensorF32(before, "bn1.running_var");
  const std::vector<float> rm = model.bn_stats(0).running_mean.ToVector();
  const std::vector<float> rv = model.bn_stats(0).running_var.ToVector();
  const double m = 2.0 * 16 * 32;
  for (int k = 0; k < 64; ++k) {
    double mean = 0, var = 0;
    for (size_t i = k; i < c1.v.size(); i += 64) mean += c1.v[i];
    mean /= m;
    for (size_t i = k; i < c1.v.size(); i += 64) var += (c1.v[i] - mean) * (c1.v[i] - mean);
    var /= m - 1;  // the running variance is unbiased
    EXPECT_NEAR(rm[k], 0.9 * rm0[k] + 0.1 * mean, 1e-5);
    EXPECT_NEAR(rv[k], 0.9 * rv0[k] + 0.1 * var, 1e-4 * (1 + var));
  }
  EXPECT_EQ(model.bn_stats(0).num_batches_tracked, 1);
  EXPECT_EQ(model.bn_stats(5).num_batches_tracked, 1);
  model.Forward(x, false);
  EXPECT_EQ(model.bn_stats(0).num_batches_tracked, 1) << "eval forward must not touch the stats";
}

// L = Σ r·out of the double-precision reference network with the parameters of state
// dict `sd` (training mode: BatchNorm on batch statistics).
double ReferenceObjective(const util::Safetensors& sd, const Act& x, const std::vector<float>& r,
                          const ModelConfig& config) {
  const Act out = ReferenceForward(sd, x, /*training=*/true, config);
  double s = 0;
  for (size_t i = 0; i < out.v.size(); ++i) s += double(r[i]) * out.v[i];
  return s;
}

TEST(ModelTest, WholeNetworkGradientMatchesFiniteDifferences) {
  // The model's backward (float) against central differences of the double-precision
  // reference network (which the forward tests show the model computes): no float noise
  // in the numeric side, so the tolerance measures the backward's float rounding.
  // Batch 1 at 16x32: the coarsest level is 2x4, so BatchNorm still has 8 values per
  // channel. Every parameter tensor is checked at a random subset of its entries, in
  // the checkpoint's PyTorch layout (the model's conv-weight gradients are permuted
  // with ConvWeightToPytorch, so the permutation is checked too); the reference reads
  // the exported state dict, in which only the perturbed tensor changes.
  SphericalUNet model(Device::kCpu, ModelConfig{});
  Randomise(model, 21);
  const Tensor x = RandomInput(1, 16, 32, 22);
  const Act xa = ToAct(x);
  const std::vector<float> r = RandomFloats(16 * 32, 23);
  model.params().ZeroGrad();
  model.Forward(x, true);
  model.Backward(Tensor::FromVector(Shape{1, 16, 32, 1}, r, Device::kCpu));
  ParamStore& params = model.params();
  GradCheckOptions opt;
  // Small enough that ReLU/max kinks are rarely inside the stencil (conv1 moves every
  // pixel: at 1e-4 some of its entries still straddle a kink); the reference is double,
  // so the differences stay accurate to ~1e-10.
  opt.step = 1e-5;
  opt.rtol = 1e-3;
  opt.atol = 1e-4;
  opt.skip_kinks = true;
  opt.max_points = 5;
  util::Safetensors sd;
  ExportModel(model, sd);
  for (int i = 0; i < params.size(); ++i) {
    const std::string name = params.name(i);
    std::vector<float> g = params.grad(i).ToVector();
    for (int k = 0; k < kNumConvLayers; ++k) {
      if (i == model.conv_weight_index(k)) ConvWeightToPytorch(params.grad(i), g.data());
    }
    const std::vector<double> analytic(g.begin(), g.end());
    const std::vector<float> p0 = TensorF32(sd, name);
    ASSERT_EQ(p0.size(), g.size()) << name;
    std::string& bytes = sd.tensors.at(name).bytes;
    opt.seed = 100 + i;
    auto f = [&](const std::vector<float>& values) {
      std::memcpy(bytes.data(), values.data(), values.size() * sizeof(float));
      return ReferenceObjective(sd, xa, r, model.config());
    };
    const auto result = CheckGradient(f, p0, analytic, opt);
    std::memcpy(bytes.data(), p0.data(), p0.size() * sizeof(float));
    EXPECT_TRUE(GradientMatches(result, opt, 1)) << name;
  }
}

TEST(ModelTest, TrainingStepIsDeterministicAndAccumulates) {
  const Tensor x = RandomInput(2, 16, 32, 31);
  const std::vector<float> r = RandomFloats(2 * 16 * 32, 32);
  const Tensor dout = Tensor::FromVector(Shape{2, 16, 32, 1}, r, Device::kCpu);
  std::vector<float> grads[2];
  for (int run = 0; run < 2; ++run) {
    SphericalUNet model(Device::kCpu, ModelConfig{});
    Rng rng(5);
    model.Initialize(rng);
    model.params().ZeroGrad();
    model.Forward(x, true);
    model.Backward(dout);
    grads[run] = model.params().grads_flat().ToVector();
    // A second backward of the same forward doubles every gradient ("+=").
    model.Backward(dout);
    const std::vector<float> twice = model.params().grads_flat().ToVector();
    // (Not bit-exact: the GEMMs accumulate into the existing gradient with beta = 1.)
    for (size_t i = 0; i < twice.size(); i += 97) {
      EXPECT_NEAR(twice[i], 2 * grads[run][i], 1e-5 * (1 + std::abs(grads[run][i]))) << i;
    }
  }
  EXPECT_EQ(grads[0], grads[1]);
}

// The CPU's parallel loops (nn/parallel.h: gathers, batch-norm, pooling, concat, Adam)
// cut their work independently of the thread count, so a training step gives the same
// bits on 1, 2 or 3 threads. The GEMM is pinned to OpenBLAS, which splits its products
// over M and N only (never K), so its bits do not depend on the thread count either.
TEST(ModelTest, TrainingStepIsIndependentOfTheThreadCount) {
  GemmPolicy openblas;
  openblas.automatic = false;
  openblas.fixed = GemmBackend::kOpenBlas;
  SetGemmPolicy(openblas);
  const Tensor x = RandomInput(2, 32, 64, 61);
  const std::vector<float> r = RandomFloats(2 * 32 * 64, 62);
  const Tensor dout = Tensor::FromVector(Shape{2, 32, 64, 1}, r, Device::kCpu);
  std::vector<float> out[3], grads[3];
  for (int threads = 1; threads <= 3; ++threads) {
    SetCpuThreads(threads);
    SphericalUNet model(Device::kCpu, ModelConfig{});
    Rng rng(7);
    model.Initialize(rng);
    model.params().ZeroGrad();
    out[threads - 1] = model.Forward(x, true).ToVector();
    model.Backward(dout);
    grads[threads - 1] = model.params().grads_flat().ToVector();
  }
  SetCpuThreads(0);
  SetGemmPolicy(GemmPolicy{});
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_EQ(grads[0], grads[2]);
}

TEST(ModelTest, SmallerBatchReusesBuffers) {
  SphericalUNet model(Device::kCpu, ModelConfig{});
  Rng rng(1);
  model.Initialize(rng);
  const Tensor x2 = RandomInput(2, 16, 32, 41);
  const float* out2 = model.Forward(x2, false).data();
  const int64_t bytes = model.workspace_bytes();
  EXPECT_GT(bytes, 0);
  // The first image alone gives the same output as in the batch (eval mode).
  std::vector<float> first = x2.ToVector();
  first.resize(first.size() / 2);
  const std::vector<float> batch_out = model.Forward(x2, false).ToVector();
  const Tensor& o1 = model.Forward(Tensor::FromVector(Shape{1, 16, 32, 4}, first, Device::kCpu), false);
  EXPECT_EQ(o1.data(), out2);
  EXPECT_EQ(model.workspace_bytes(), bytes);
  const std::vector<float> one = o1.ToVector();
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], batch_out[i]) << i;
}

// The memory estimate (issue #18) is the workspace Forward allocates, exactly, and
// bounds the arena a training step uses; absurd sizes saturate instead of wrapping.
TEST(ModelTest, MemoryEstimateMatchesTheAllocations) {
  for (const auto& [n, h, w] : std::vector<std::tuple<int, int, int>>{{2, 32, 64}, {1, 16, 32}, {3, 24, 48}}) {
    SphericalUNet model(Device::kCpu, ModelConfig{});
    Rng rng(1);
    model.Initialize(rng);
    Context::Get(Device::kCpu).arena().Reset();
    const Tensor x = RandomInput(n, h, w, 7);
    model.Forward(x, true);
    Tensor dout = Tensor::FromVector(Shape{n, h, w, 1}, std::vector<float>(size_t(n) * h * w, 0.5f), Device::kCpu);
    model.params().ZeroGrad();
    model.Backward(dout);
    const MemoryEstimate e = EstimateMemory(n, h, w, sphere::TableMode::kNearest);
    EXPECT_EQ(model.workspace_bytes(), e.workspace) << n << "x" << h << "x" << w;
    EXPECT_LE(static_cast<int64_t>(Context::Get(Device::kCpu).arena().high_water()), e.scratch);
  }
  const MemoryEstimate huge = EstimateMemory(1, 100000, 200000, sphere::TableMode::kNearest);
  EXPECT_GT(huge.total(), int64_t{1} << 47);  // about 165 TiB, and positive
  const MemoryEstimate absurd = EstimateMemory(4096, int64_t{1} << 40, int64_t{1} << 41, sphere::TableMode::kBilinear);
  EXPECT_GT(absurd.total(), 0);
}

TEST(ModelTest, RejectsBadInputShapes) {
  EXPECT_EQ(SphericalUNet::CheckInputShape(Shape{1, 16, 32, 4}), "");
  EXPECT_NE(SphericalUNet::CheckInputShape(Shape{1, 16, 32, 3}), "");
  EXPECT_NE(SphericalUNet::CheckInputShape(Shape{1, 12, 24, 4}), "");
  EXPECT_NE(SphericalUNet::CheckInputShape(Shape{0, 16, 32, 4}), "");
  EXPECT_NE(SphericalUNet::CheckInputShape(Shape{1, 8, 16, 4}), "");
}

}  // namespace
}  // namespace sal360::nn
