#include "nn/ops/elementwise.h"

#include "gtest/gtest.h"
#include "nn/ops/elementwise_kernels.h"

namespace sal360::nn {
namespace {

TEST(Elementwise, KernelBodies) {
  EXPECT_EQ(kernels::Relu(-1.5f), 0.0f);
  EXPECT_EQ(kernels::Relu(2.5f), 2.5f);
  EXPECT_EQ(kernels::Relu(0.0f), 0.0f);
  EXPECT_EQ(kernels::ReluGrad(0.0f, 7.0f), 0.0f);  // kink: gradient 0, like PyTorch
  EXPECT_EQ(kernels::ReluGrad(0.1f, 7.0f), 7.0f);
  EXPECT_EQ(kernels::Axpy(2.0f, 3.0f, 1.0f), 7.0f);
}

TEST(Elementwise, ReluForwardBackwardCpu) {
  const Shape s{1, 2, 3, 2};
  std::vector<float> x = {-2, -1, 0, 1, 2, 3, -0.5f, 0.5f, 4, -4, 1e-7f, -1e-7f};
  Tensor tx = Tensor::FromVector(s, x, Device::kCpu);
  Tensor ty(s, Device::kCpu);
  ReluForward(tx, ty);
  std::vector<float> y = ty.ToVector();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] > 0 ? x[i] : 0.0f) << i;

  Tensor tdy = Tensor::FromVector(s, std::vector<float>(x.size(), 3.0f), Device::kCpu);
  Tensor tdx(s, Device::kCpu);
  ReluBackward(ty, tdy, tdx);
  std::vector<float> dx = tdx.ToVector();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], x[i] > 0 ? 3.0f : 0.0f) << i;
}

TEST(Elementwise, FillAndAxpyCpu) {
  const Shape s{2, 1, 1, 3};
  Tensor y(s, Device::kCpu);
  Fill(y, 1.5f);
  EXPECT_EQ(y.ToVector(), std::vector<float>(6, 1.5f));
  Tensor x = Tensor::FromVector(s, {1, 2, 3, 4, 5, 6}, Device::kCpu);
  Axpy(-2.0f, x, y);
  EXPECT_EQ(y.ToVector(), (std::vector<float>{-0.5f, -2.5f, -4.5f, -6.5f, -8.5f, -10.5f}));
}

}  // namespace
}  // namespace sal360::nn
