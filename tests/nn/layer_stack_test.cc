// A finite-difference gradient check through a small stack of every layer of
// //nn:layers, chained the way the U-Net chains them (CPU):
//
//   x (N,H,W,2) ──BN(train)──MaxPool2x2──Upsample2x──┐
//    └──────────────────────────────────────────────Concat── z (N,H,W,4)
//   z = [pred | rest] (split by ConcatChannelsBackward used forwards)
//   L = SphereMse(pred, target) + Σ r·rest
//
// Backward: dz = Concat(dpred, r) → Concat backward → (dup, dx_skip) → Upsample backward
// → MaxPool backward → BN backward → dx = dx_bn + dx_skip.
#include <vector>

#include "gtest/gtest.h"
#include "nn/loss.h"
#include "nn/ops/batchnorm.h"
#include "nn/ops/concat.h"
#include "nn/ops/elementwise.h"
#include "nn/ops/pool.h"
#include "tests/testing/gradcheck.h"

namespace sal360::nn {
namespace {

using ::sal360::testing::CheckGradient;
using ::sal360::testing::Dot;
using ::sal360::testing::GradCheckOptions;
using ::sal360::testing::GradientMatches;
using ::sal360::testing::RandomFloats;
using ::sal360::testing::ToDoubles;

Tensor Cpu(Shape s, const std::vector<float>& v) { return Tensor::FromVector(s, v, Device::kCpu); }

struct Stack {
  Shape s;
  Tensor gamma, beta, target, w;
  std::vector<float> r;

  explicit Stack(Shape shape)
      : s(shape),
        gamma(Cpu({1, 1, 1, 2}, {1.3f, 0.7f})),
        beta(Cpu({1, 1, 1, 2}, {0.1f, -0.2f})),
        target(Cpu({s.n, s.h, s.w, 1}, RandomFloats(int64_t{s.n} * s.h * s.w, 91, 0, 1))),
        w(LossRowWeights(s.h, s.w, Device::kCpu)),
        r(RandomFloats(int64_t{s.n} * s.h * s.w * 3, 92)) {}

  // Returns L; with `dx` also runs the backward.
  double Run(const Tensor& x, Tensor* dx) {
    const Shape p{s.n, s.h / 2, s.w / 2, 2}, one{s.n, s.h, s.w, 1}, three{s.n, s.h, s.w, 3};
    BatchNormStats stats = BatchNormStats::Create(2, Device::kCpu);
    BatchNormCache cache;
    Tensor bn(s, Device::kCpu), pooled(p, Device::kCpu), up(s, Device::kCpu);
    Buffer arg(Device::kCpu, p.numel() * sizeof(int32_t));
    BatchNormForwardTrain(x, gamma, beta, stats, cache, bn);
    MaxPool2x2Forward(bn, pooled, arg);
    UpsampleNearest2xForward(pooled, up);
    Tensor z({s.n, s.h, s.w, 4}, Device::kCpu);
    ConcatChannelsForward(up, x, z);
    Tensor pred(one, Device::kCpu), rest(three, Device::kCpu);
    ConcatChannelsBackward(z, pred, rest);  // split
    Tensor dpred(one, Device::kCpu);
    const double loss = SphereMseLoss(pred, target, w, dx ? &dpred : nullptr) + Dot(rest.ToVector(), r);
    if (dx == nullptr) return loss;

    Tensor dz(z.shape(), Device::kCpu);
    ConcatChannelsForward(dpred, Cpu(three, r), dz);
    Tensor dup(s, Device::kCpu), dskip(s, Device::kCpu), dpooled(p, Device::kCpu), dbn(s, Device::kCpu);
    ConcatChannelsBackward(dz, dup, dskip);
    UpsampleNearest2xBackward(dup, dpooled);
    MaxPool2x2Backward(dpooled, arg, dbn);
    Tensor dgamma = Tensor::Zeros({1, 1, 1, 2}, Device::kCpu), dbeta = Tensor::Zeros({1, 1, 1, 2}, Device::kCpu);
    BatchNormBackward(x, gamma, cache, dbn, *dx, dgamma, dbeta);
    Axpy(1.0f, dskip, *dx);
    return loss;
  }
};

TEST(LayerStack, GradientMatchesFiniteDifferences) {
  for (const Shape s : {Shape{1, 4, 6, 2}, Shape{3, 2, 10, 2}, Shape{3, 6, 4, 2}}) {
    Stack stack(s);
    const std::vector<float> xv = RandomFloats(s.numel(), 93, -2, 2);
    Tensor dx(s, Device::kCpu);
    stack.Run(Cpu(s, xv), &dx);
    // Measured: the error is float rounding of L divided by 2h (it grows as 1/h: max
    // 4e-4 at h = 1e-2, 4e-3 at h = 1e-3), while BN's curvature error is still far below
    // that at h = 1e-2.
    GradCheckOptions opt;
    opt.step = 1e-2;
    opt.atol = 1e-3;
    opt.rtol = 1e-2;
    opt.skip_kinks = true;   // max-pool windows whose top two values are within the step
    opt.kink_tol = 0.05;
    auto f = [&](const std::vector<float>& v) { return stack.Run(Cpu(s, v), nullptr); };
    const ::testing::AssertionResult ok =
        GradientMatches(CheckGradient(f, xv, ToDoubles(dx.ToVector()), opt), opt, s.numel() * 8 / 10);
    EXPECT_TRUE(ok) << s.ToString();
  }
}

}  // namespace
}  // namespace sal360::nn
