#include "nn/loss.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "nn/context.h"
#include "nn/loss_kernels.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "sphere/tables.h"

namespace sal360::nn {
namespace {

void CheckLossArgs(const Tensor& pred, const Tensor& target, const Tensor& row_weights,
                   const Tensor* dpred, const char* op) {
  const Shape& s = pred.shape();
  SAL_NN_CHECK(s.c == 1 && s.n >= 1, "%s: pred %s, want (N,H,W,1) with N >= 1", op,
               s.ToString().c_str());
  CheckSameShapeAndDevice(pred, target, op);
  SAL_NN_CHECK(row_weights.shape() == (Shape{1, s.h, 1, 1}), "%s: row_weights %s, want (1,%d,1,1)",
               op, row_weights.shape().ToString().c_str(), s.h);
  SAL_NN_CHECK(row_weights.device() == pred.device(), "%s: row_weights on a different device", op);
  if (dpred != nullptr) CheckSameShapeAndDevice(pred, *dpred, op);
  // The CUDA reduction puts the samples on the grid's y dimension.
  SAL_NN_CHECK(pred.device() != Device::kCuda || s.n <= 65535, "%s: batch %d > 65535", op, s.n);
}

// L = (Σ_n sample_loss[n]) / N, summed in order (the same on both devices).
// Σ sample losses / denominator (the batch size N, or the global batch's).
float Mean(const std::vector<double>& sample_loss, int denominator) {
  double total = 0.0;
  for (double v : sample_loss) total += v;
  return static_cast<float>(total / static_cast<double>(denominator));
}

int Denominator(int n, int batch_total, const char* op) {
  SAL_NN_CHECK(batch_total == 0 || batch_total >= n, "%s: batch_total %d < the batch's %d samples", op,
               batch_total, n);
  return batch_total > 0 ? batch_total : n;
}

}  // namespace

// The published training loss's row weights, from sphere/ (the one place the formula
// lives): w_i = (2·pi/W)(pi/H)(sin(theta_i) + sin(theta_{i+1}))/2, theta_i = i·pi/H.
Tensor LossRowWeights(int height, int width, Device device) {
  SAL_NN_CHECK(height > 0 && width > 0, "LossRowWeights: bad size %dx%d", height, width);
  const std::vector<double> rw = sphere::PublishedLossRowWeights(height, width);
  SAL_NN_CHECK(static_cast<int>(rw.size()) == height, "LossRowWeights: %zu weights for %d rows",
               rw.size(), height);
  std::vector<float> w(rw.begin(), rw.end());
  return Tensor::FromVector(Shape{1, height, 1, 1}, w, device);
}

float SphereMseLoss(const Tensor& pred, const Tensor& target, const Tensor& row_weights,
                    Tensor* dpred, int batch_total) {
  CheckLossArgs(pred, target, row_weights, dpred, "SphereMseLoss");
  const int N = pred.shape().n, H = pred.shape().h, W = pred.shape().w;
  const int D = Denominator(N, batch_total, "SphereMseLoss");
  std::vector<double> sample_loss(N, 0.0);
  SAL_ON_CUDA(pred.device(), {
    Context& ctx = Context::Get(Device::kCuda);
    Arena::Scope scope(ctx.arena());
    void* scratch = ctx.arena().Alloc(cuda::LossScratchBytes(N, H, W));
    cuda::SphereMse(pred.data(), target.data(), row_weights.data(), N, H, W, D,
                    dpred ? dpred->data() : nullptr, sample_loss.data(), scratch, ctx.stream());
    return Mean(sample_loss, D);
  });
  const float* y = pred.data();    // (N, H, W)
  const float* t = target.data();  // (N, H, W)
  const float* rw = row_weights.data();  // (H)
  float* dy = dpred ? dpred->data() : nullptr;
  const float scale = 2.0f / static_cast<float>(D);
  for (int n = 0; n < N; ++n) {
    for (int i = 0; i < H; ++i) {
      for (int j = 0; j < W; ++j) {
        const int64_t k = (int64_t{n} * H + i) * W + j;
        sample_loss[n] += kernels::MseTerm(y[k], t[k], rw[i]);
        if (dy) dy[k] = kernels::MseGrad(y[k], t[k], rw[i], scale);
      }
    }
  }
  return Mean(sample_loss, D);
}

float SphereKldLoss(const Tensor& pred, const Tensor& target, const Tensor& row_weights,
                    Tensor* dpred, float eps, int batch_total) {
  CheckLossArgs(pred, target, row_weights, dpred, "SphereKldLoss");
  SAL_NN_CHECK(eps > 0.0f, "SphereKldLoss: eps must be > 0, got %g", eps);
  const int N = pred.shape().n, H = pred.shape().h, W = pred.shape().w;
  const int D = Denominator(N, batch_total, "SphereKldLoss");
  std::vector<double> sample_loss(N, 0.0);
  SAL_ON_CUDA(pred.device(), {
    Context& ctx = Context::Get(Device::kCuda);
    Arena::Scope scope(ctx.arena());
    void* scratch = ctx.arena().Alloc(cuda::LossScratchBytes(N, H, W));
    cuda::SphereKld(pred.data(), target.data(), row_weights.data(), N, H, W, D, eps,
                    dpred ? dpred->data() : nullptr, sample_loss.data(), scratch, ctx.stream());
    return Mean(sample_loss, D);
  });
  const float* y = pred.data();          // (N, H, W)
  const float* t = target.data();        // (N, H, W)
  const float* rw = row_weights.data();  // (H)
  float* dy = dpred ? dpred->data() : nullptr;
  const double deps = eps, scale = 1.0 / D;
  for (int n = 0; n < N; ++n) {
    const int64_t base = int64_t{n} * H * W;
    double sp = 0.0, st = 0.0, area = 0.0, sum_gp = 0.0;
    for (int i = 0; i < H; ++i) {
      for (int j = 0; j < W; ++j) {
        const int64_t k = base + int64_t{i} * W + j;
        kernels::KldSums(y[k], t[k], rw[i], &sp, &st, &area);
      }
    }
    for (int i = 0; i < H; ++i) {
      for (int j = 0; j < W; ++j) {
        const int64_t k = base + int64_t{i} * W + j;
        double term, gp;
        kernels::KldTerms(y[k], t[k], rw[i], sp, st, area, deps, &term, &gp);
        sample_loss[n] += term;
        sum_gp += gp;
      }
    }
    if (dy == nullptr) continue;
    for (int i = 0; i < H; ++i) {
      for (int j = 0; j < W; ++j) {
        const int64_t k = base + int64_t{i} * W + j;
        dy[k] = kernels::KldGrad(y[k], t[k], rw[i], sp, st, sum_gp, deps, scale);
      }
    }
  }
  return Mean(sample_loss, D);
}

}  // namespace sal360::nn
