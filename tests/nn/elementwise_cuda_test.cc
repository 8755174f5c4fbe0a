// CUDA-vs-CPU parity for the elementwise ops. Tolerance: exact — ReLU and fill are
// selections, and a·x + y is one fused or unfused rounding; we allow 1 ulp-ish (1e-6
// relative) for axpy because nvcc may contract it into an FMA where gcc does not.
#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "nn/ops/elementwise.h"
#include "tests/testing/gpu.h"

namespace sal360::nn {
namespace {

std::vector<float> RandomVector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

TEST(ElementwiseCuda, ReluParity) {
  SAL_SKIP_WITHOUT_CUDA();
  const Shape s{3, 5, 7, 9};
  const auto x = RandomVector(s.numel(), 1);
  Tensor cx = Tensor::FromVector(s, x, Device::kCpu), cy(s, Device::kCpu);
  Tensor gx = cx.To(Device::kCuda), gy(s, Device::kCuda);
  ReluForward(cx, cy);
  ReluForward(gx, gy);
  EXPECT_EQ(cy.ToVector(), gy.ToVector());
  const auto dy = RandomVector(s.numel(), 2);
  Tensor cdy = Tensor::FromVector(s, dy, Device::kCpu), cdx(s, Device::kCpu);
  Tensor gdy = cdy.To(Device::kCuda), gdx(s, Device::kCuda);
  ReluBackward(cy, cdy, cdx);
  ReluBackward(gy, gdy, gdx);
  EXPECT_EQ(cdx.ToVector(), gdx.ToVector());
}

TEST(ElementwiseCuda, AxpyParity) {
  SAL_SKIP_WITHOUT_CUDA();
  const Shape s{1, 17, 31, 3};
  Tensor cx = Tensor::FromVector(s, RandomVector(s.numel(), 3), Device::kCpu);
  Tensor cy = Tensor::FromVector(s, RandomVector(s.numel(), 4), Device::kCpu);
  Tensor gx = cx.To(Device::kCuda), gy = cy.To(Device::kCuda);
  Axpy(0.37f, cx, cy);
  Axpy(0.37f, gx, gy);
  const auto a = cy.ToVector(), b = gy.ToVector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * (1 + std::fabs(a[i])));
}

}  // namespace
}  // namespace sal360::nn
