// The CUDA launch counters that tools/bench reports (nn/cuda/runtime.h): every kernel
// launch checked by SAL_CUDA_CHECK_LAUNCH counts one, every cuBLAS GEMM one, and a
// training step of the U-Net launches the same number each time (no data-dependent
// launches). Skipped without a CUDA build or device.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "nn/context.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/ops/elementwise.h"
#include "nn/optim.h"
#include "tests/testing/gpu.h"

#ifdef SAL360_WITH_CUDA
#include "nn/cuda/runtime.h"
#endif

namespace sal360::nn {
namespace {

#ifdef SAL360_WITH_CUDA
struct Counts {
  int64_t kernels, gemms;
};
Counts Now() { return {cuda::KernelLaunches(), cuda::CublasGemmCalls()}; }
#endif

TEST(LaunchCountCuda, OneElementwiseOpIsOneLaunchAndNoGemm) {
  SAL_SKIP_WITHOUT_CUDA();
#ifdef SAL360_WITH_CUDA
  Tensor y(Shape{2, 4, 8, 3}, Device::kCuda);
  const Counts before = Now();
  Fill(y, 1.5f);
  ReluForward(y, y);
  const Counts after = Now();
  EXPECT_EQ(after.kernels - before.kernels, 2);
  EXPECT_EQ(after.gemms - before.gemms, 0);
#endif
}

TEST(LaunchCountCuda, TrainingStepsLaunchTheSameCounts) {
  SAL_SKIP_WITHOUT_CUDA();
#ifdef SAL360_WITH_CUDA
  const int n = 2, h = 16, w = 32;
  SphericalUNet model(Device::kCuda, ModelConfig{});
  Rng rng(7);
  model.Initialize(rng);
  Optimizer opt(OptimConfig{}, model.params());
  std::vector<float> xv(size_t(n) * h * w * 4), tv(size_t(n) * h * w);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(i % 97) / 97.0f;
  for (size_t i = 0; i < tv.size(); ++i) tv[i] = float(i % 31) / 3.0f;
  const Tensor x = Tensor::FromVector(Shape{n, h, w, 4}, xv, Device::kCuda);
  const Tensor t = Tensor::FromVector(Shape{n, h, w, 1}, tv, Device::kCuda);
  const Tensor row_weights = LossRowWeights(h, w, Device::kCuda);
  auto step = [&] {
    const Counts before = Now();
    model.params().ZeroGrad();
    const Tensor& out = model.Forward(x, true);
    SphereMseLoss(out, t, row_weights, &model.output_grad());
    model.Backward(model.output_grad());
    opt.Step();
    Context::Get(Device::kCuda).Synchronize();
    const Counts after = Now();
    return Counts{after.kernels - before.kernels, after.gemms - before.gemms};
  };
  step();  // first step: buffers and tables
  const Counts a = step(), b = step();
  EXPECT_GT(a.kernels, 0);
  EXPECT_GE(a.gemms, kNumConvLayers * 2);  // at least a forward and a weight-gradient GEMM per conv
  EXPECT_EQ(a.kernels, b.kernels);
  EXPECT_EQ(a.gemms, b.gemms);
  const Counts before = Now();
  model.Forward(x, false);
  const Counts after = Now();
  EXPECT_GT(after.kernels - before.kernels, 0);
  EXPECT_LT(after.kernels - before.kernels, a.kernels);  // inference launches fewer
#endif
}

}  // namespace
}  // namespace sal360::nn
