// The whole spherical U-Net on the CUDA backend against the CPU, end to end: 8 Adam
// steps at 32x64 (batch 2, a new batch every step, the MSE loss as `train` uses by
// default and the KLD loss as well), with the CUDA orchestration that no op test sees
// (the model's buffers, the stream, the loss's read-back to the host, the optimiser on
// the parameter slab). Runs on a GPU and under --config=cuda_emu; skips otherwise.
//
// Tolerances, and why:
//   - per-step loss, rel 2e-4: both devices run the same float bodies; what differs is
//     the order of sums — cuBLAS vs OpenBLAS GEMMs (on a GPU, and FMAs in them), the
//     tree order of the loss and batch-norm reductions (about 1 ulp of float each). These
//     grow through 8 steps of training. Measured under --config=cuda_emu (OpenBLAS on both
//     sides, the same reductions): 0, bit-identical losses and parameters.
//   - parameters after 8 steps, |cpu - cuda| <= 0.05 · 8 · lr: each Adam step moves a
//     weight by at most ~lr, so this allows 5% of the largest possible travel.
//   - predictions of a saved and reloaded model on the CUDA device: bit-identical (the
//     same weights and the same kernels).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nn/buffer.h"
#include "nn/checkpoint.h"
#include "nn/context.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tests/testing/gpu.h"
#include "tests/testing/gradcheck.h"
#include "util/safetensors.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/runtime.h"
#endif

namespace sal360::nn {
namespace {

using ::sal360::testing::RandomFloats;

constexpr int kN = 2, kH = 32, kW = 64, kSteps = 8;
constexpr float kLr = 1e-3f;

struct Net {
  Net(Device d, sphere::TableMode mode)
      : device(d),
        model(d, ModelConfig{mode, sphere::Convention::kPixelCentre}),
        opt(OptimConfig{"adam", kLr}, model.params()),
        row_weights(LossRowWeights(kH, kW, d)) {
    Rng rng(2024);
    model.Initialize(rng);
  }
  // One step on batch `s` (uploaded into the same input buffers each step, as the
  // trainer does); returns the loss.
  float Step(int s, bool kld) {
    x.CopyFrom(Tensor::FromVector(x.shape(), RandomFloats(x.numel(), 100 + s, 0, 1),
                                  Device::kCpu));
    t.CopyFrom(Tensor::FromVector(t.shape(), RandomFloats(t.numel(), 200 + s, 0, 10),
                                  Device::kCpu));
    model.params().ZeroGrad();
    const Tensor& out = model.Forward(x, true);
    const float loss = kld ? SphereKldLoss(out, t, row_weights, &model.output_grad())
                           : SphereMseLoss(out, t, row_weights, &model.output_grad());
    model.Backward(model.output_grad());
    opt.Step();
    return loss;
  }
  Device device;
  SphericalUNet model;
  Optimizer opt;
  Tensor row_weights;
  Tensor x{Shape{kN, kH, kW, 4}, device};
  Tensor t{Shape{kN, kH, kW, 1}, device};
};

void ExpectTrainingMatches(sphere::TableMode mode, bool kld) {
  Net cpu(Device::kCpu, mode), gpu(Device::kCuda, mode);
  ASSERT_EQ(cpu.model.params().params_flat().ToVector(),
            gpu.model.params().params_flat().ToVector());
  double worst_loss = 0;
  int64_t allocations = 0;
#ifdef SAL360_WITH_CUDA
  int64_t launches = -1, gemms = -1;
#endif
  for (int s = 0; s < kSteps; ++s) {
    const float lc = cpu.Step(s, kld);
#ifdef SAL360_WITH_CUDA
    const int64_t k0 = cuda::KernelLaunches(), g0 = cuda::CublasGemmCalls();
#endif
    const int64_t a0 = Buffer::device_allocations();
    const float lg = gpu.Step(s, kld);
    Context::Get(Device::kCuda).Synchronize();
    if (s > 0) {
      allocations += Buffer::device_allocations() - a0;
#ifdef SAL360_WITH_CUDA
      const int64_t k = cuda::KernelLaunches() - k0, g = cuda::CublasGemmCalls() - g0;
      if (launches < 0) {
        launches = k;
        gemms = g;
      }
      EXPECT_EQ(k, launches) << "step " << s << ": kernel launches differ from step 1";
      EXPECT_EQ(g, gemms) << "step " << s << ": cuBLAS GEMMs differ from step 1";
#endif
    }
    ASSERT_TRUE(std::isfinite(lc) && std::isfinite(lg)) << "step " << s;
    const double rel = std::fabs(double{lc} - lg) / std::max(1e-12, std::fabs(double{lc}));
    worst_loss = std::max(worst_loss, rel);
    EXPECT_LE(rel, 2e-4) << "step " << s << ": cpu loss " << lc << ", cuda loss " << lg;
  }
  EXPECT_EQ(allocations, 0) << "device allocations inside steps 2.." << kSteps;
  const std::vector<float> pc = cpu.model.params().params_flat().ToVector();
  const std::vector<float> pg = gpu.model.params().params_flat().ToVector();
  ASSERT_EQ(pc.size(), pg.size());
  double worst_param = 0;
  for (size_t i = 0; i < pc.size(); ++i) {
    worst_param = std::max(worst_param, std::fabs(double{pc[i]} - pg[i]));
  }
  EXPECT_LE(worst_param, 0.05 * kSteps * kLr);
  for (int i = 0; i < kNumBatchNorms; ++i) {
    EXPECT_EQ(gpu.model.bn_stats(i).num_batches_tracked, kSteps);
  }
  std::printf("%s %s: worst loss rel. diff. %.3g, worst parameter diff. %.3g (%.3g of 8·lr)\n",
              sphere::ModeName(mode), kld ? "skld" : "smse", worst_loss, worst_param,
              worst_param / (kSteps * kLr));
}

TEST(ModelCuda, EightMseTrainingStepsMatchTheCpu) {
  SAL_SKIP_WITHOUT_CUDA();
  ExpectTrainingMatches(sphere::TableMode::kNearest, /*kld=*/false);
}

TEST(ModelCuda, EightKldTrainingStepsMatchTheCpuWithBilinearTables) {
  SAL_SKIP_WITHOUT_CUDA();
  ExpectTrainingMatches(sphere::TableMode::kBilinear, /*kld=*/true);
}

TEST(ModelCuda, SaveThenLoadOnTheCudaDeviceGivesTheSamePredictions) {
  SAL_SKIP_WITHOUT_CUDA();
  Net a(Device::kCuda, sphere::TableMode::kNearest);
  for (int s = 0; s < 3; ++s) a.Step(s, false);
  const std::string path = ::testing::TempDir() + "/cuda.safetensors";
  ASSERT_TRUE(SaveCheckpoint(path, a.model, &a.opt, {}).ok());
  absl::StatusOr<util::Safetensors> st = util::ReadSafetensors(path);
  ASSERT_TRUE(st.ok()) << st.status();
  absl::StatusOr<ModelConfig> config = ModelConfigFromCheckpoint(*st, path);
  ASSERT_TRUE(config.ok()) << config.status();
  SphericalUNet b(Device::kCuda, *config);
  ASSERT_TRUE(ImportModel(*st, path, b).ok());
  const Tensor x = Tensor::FromVector(Shape{1, kH, kW, 4},
                                      RandomFloats(int64_t{kH} * kW * 4, 999, 0, 1),
                                      Device::kCuda);
  const std::vector<float> ya = a.model.Forward(x, false).ToVector();
  const std::vector<float> yb = b.Forward(x, false).ToVector();
  EXPECT_EQ(ya, yb);
  // And the same model loaded on the CPU predicts within the parity tolerance.
  SphericalUNet c(Device::kCpu, *config);
  ASSERT_TRUE(ImportModel(*st, path, c).ok());
  const std::vector<float> yc = c.Forward(x.To(Device::kCpu), false).ToVector();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ya.size(); ++i) {
    worst = std::max(worst, std::fabs(double{ya[i]} - yc[i]));
    scale = std::max(scale, std::fabs(double{yc[i]}));
  }
  EXPECT_LE(worst, 1e-4 * std::max(1.0, scale));
}

}  // namespace
}  // namespace sal360::nn
