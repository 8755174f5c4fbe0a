#include "nn/ops/batchnorm.h"

#include <algorithm>
#include <vector>

#include "nn/context.h"
#include "nn/ops/batchnorm_kernels.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"

namespace sal360::nn {
namespace {

bool IsChannelVector(const Tensor& t, int c) { return t.shape() == Shape{1, 1, 1, c}; }

void CheckChannelVector(const Tensor& t, const Tensor& x, const char* what, const char* op) {
  SAL_NN_CHECK(IsChannelVector(t, x.shape().c), "%s: %s has shape %s, want (1,1,1,%d)", op,
               what, t.shape().ToString().c_str(), x.shape().c);
  SAL_NN_CHECK(t.device() == x.device(), "%s: %s on a different device", op, what);
}

// Makes `t` a (1,1,1,c) tensor on `device`, reusing its memory when it already is one.
void EnsureChannelVector(Tensor& t, int c, Device device) {
  if (!(IsChannelVector(t, c) && t.device() == device)) t = Tensor(Shape{1, 1, 1, c}, device);
}

}  // namespace

BatchNormStats BatchNormStats::Create(int channels, Device device) {
  BatchNormStats s;
  s.running_mean = Tensor::Zeros(Shape{1, 1, 1, channels}, device);
  s.running_var = Tensor::FromVector(Shape{1, 1, 1, channels},
                                     std::vector<float>(static_cast<size_t>(channels), 1.0f), device);
  return s;
}

void BatchNormForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           BatchNormStats& stats, BatchNormCache& cache, Tensor& y,
                           float momentum, float eps, Collective* sync) {
  const char* op = "BatchNormForwardTrain";
  CheckSameShapeAndDevice(x, y, op);
  CheckChannelVector(gamma, x, "gamma", op);
  CheckChannelVector(beta, x, "beta", op);
  CheckChannelVector(stats.running_mean, x, "running_mean", op);
  CheckChannelVector(stats.running_var, x, "running_var", op);
  const int c = x.shape().c;
  const int64_t m_local = int64_t{x.shape().n} * x.shape().h * x.shape().w;
  int64_t m = m_local;
  if (sync != nullptr) {
    SAL_NN_CHECK(x.device() == Device::kCpu, "%s: synchronised batch-norm runs on the CPU only", op);
    double count = static_cast<double>(m_local);
    sync->AllReduceHost(&count, 1);
    m = static_cast<int64_t>(count);
  }
  SAL_NN_CHECK(m > 1, "%s: expected more than 1 value per channel, got input %s", op,
               x.shape().ToString().c_str());
  EnsureChannelVector(cache.mean, c, x.device());
  EnsureChannelVector(cache.invstd, c, x.device());
  ++stats.num_batches_tracked;

  SAL_ON_CUDA(x.device(), {
    Context& ctx = Context::Get(Device::kCuda);
    Arena::Scope scope(ctx.arena());
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    return cuda::BatchNormForwardTrain(x.data(), gamma.data(), beta.data(), m, c, momentum, eps,
                                       stats.running_mean.data(), stats.running_var.data(),
                                       cache.mean.data(), cache.invstd.data(), y.data(), scratch,
                                       ctx.stream());
  });
  const float* px = x.data();                  // (M, C)
  std::vector<double> mean(c, 0.0), var(c, 0.0);  // (C)
  for (int64_t i = 0; i < m_local; ++i) {
    for (int ch = 0; ch < c; ++ch) mean[ch] += px[i * c + ch];
  }
  if (sync != nullptr) sync->AllReduceHost(mean.data(), c);
  for (int ch = 0; ch < c; ++ch) mean[ch] /= static_cast<double>(m);
  for (int64_t i = 0; i < m_local; ++i) {
    for (int ch = 0; ch < c; ++ch) var[ch] += kernels::SquaredDeviation(px[i * c + ch], mean[ch]);
  }
  if (sync != nullptr) sync->AllReduceHost(var.data(), c);
  float* save_mean = cache.mean.data();
  float* save_invstd = cache.invstd.data();
  float* rm = stats.running_mean.data();
  float* rv = stats.running_var.data();
  for (int ch = 0; ch < c; ++ch) {
    var[ch] /= static_cast<double>(m);
    save_mean[ch] = static_cast<float>(mean[ch]);
    save_invstd[ch] = kernels::BnInvStd(var[ch], eps);
    rm[ch] = kernels::BnRunningUpdate(rm[ch], mean[ch], momentum);
    rv[ch] = kernels::BnRunningUpdate(rv[ch], kernels::BnUnbiased(var[ch], m), momentum);
  }
  const float* pg = gamma.data();
  const float* pb = beta.data();
  float* py = y.data();  // (M, C); may alias x: each element is read before it is written
  for (int64_t i = 0; i < m_local; ++i) {
    for (int ch = 0; ch < c; ++ch) {
      py[i * c + ch] =
          kernels::BnNormalize(px[i * c + ch], save_mean[ch], save_invstd[ch], pg[ch], pb[ch]);
    }
  }
}

void BatchNormForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const BatchNormStats& stats, Tensor& y, float eps) {
  const char* op = "BatchNormForwardEval";
  CheckSameShapeAndDevice(x, y, op);
  CheckChannelVector(gamma, x, "gamma", op);
  CheckChannelVector(beta, x, "beta", op);
  CheckChannelVector(stats.running_mean, x, "running_mean", op);
  CheckChannelVector(stats.running_var, x, "running_var", op);
  const int c = x.shape().c;
  const int64_t m = int64_t{x.shape().n} * x.shape().h * x.shape().w;
  SAL_ON_CUDA(x.device(), {
    Context& ctx = Context::Get(Device::kCuda);
    Arena::Scope scope(ctx.arena());
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    return cuda::BatchNormForwardEval(x.data(), gamma.data(), beta.data(),
                                      stats.running_mean.data(), stats.running_var.data(), m, c,
                                      eps, y.data(), scratch, ctx.stream());
  });
  const float* rm = stats.running_mean.data();
  const float* rv = stats.running_var.data();
  std::vector<float> invstd(c);
  for (int ch = 0; ch < c; ++ch) invstd[ch] = kernels::BnInvStd(rv[ch], eps);
  const float* px = x.data();
  const float* pg = gamma.data();
  const float* pb = beta.data();
  float* py = y.data();
  for (int64_t i = 0; i < m; ++i) {
    for (int ch = 0; ch < c; ++ch) {
      py[i * c + ch] = kernels::BnNormalize(px[i * c + ch], rm[ch], invstd[ch], pg[ch], pb[ch]);
    }
  }
}

void BatchNormBackward(const Tensor& x, const Tensor& gamma, const BatchNormCache& cache,
                       const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                       Collective* sync) {
  const char* op = "BatchNormBackward";
  CheckSameShapeAndDevice(x, dy, op);
  CheckSameShapeAndDevice(x, dx, op);
  CheckChannelVector(gamma, x, "gamma", op);
  CheckChannelVector(cache.mean, x, "cache.mean (run the training forward first)", op);
  CheckChannelVector(cache.invstd, x, "cache.invstd", op);
  CheckChannelVector(dgamma, x, "dgamma", op);
  CheckChannelVector(dbeta, x, "dbeta", op);
  const int c = x.shape().c;
  const int64_t m = int64_t{x.shape().n} * x.shape().h * x.shape().w;
  SAL_NN_CHECK(sync == nullptr || x.device() == Device::kCpu,
               "%s: synchronised batch-norm runs on the CPU only", op);
  SAL_ON_CUDA(x.device(), {
    Context& ctx = Context::Get(Device::kCuda);
    Arena::Scope scope(ctx.arena());
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    return cuda::BatchNormBackward(x.data(), gamma.data(), cache.mean.data(), cache.invstd.data(),
                                   dy.data(), m, c, dx.data(), dgamma.data(), dbeta.data(),
                                   scratch, ctx.stream());
  });
  const float* px = x.data();    // (M, C)
  const float* pdy = dy.data();  // (M, C)
  const float* mean = cache.mean.data();
  const float* invstd = cache.invstd.data();
  std::vector<double> sum_dy(c, 0.0), sum_dy_xhat(c, 0.0);  // (C)
  for (int64_t i = 0; i < m; ++i) {
    for (int ch = 0; ch < c; ++ch) {
      const float g = pdy[i * c + ch];
      sum_dy[ch] += g;
      sum_dy_xhat[ch] +=
          static_cast<double>(g) * kernels::BnXhat(px[i * c + ch], mean[ch], invstd[ch]);
    }
  }
  std::vector<float> mean_dy(c), mean_dy_xhat(c);
  float* pdg = dgamma.data();
  float* pdb = dbeta.data();
  for (int ch = 0; ch < c; ++ch) {  // the local sums (see the header)
    pdg[ch] += static_cast<float>(sum_dy_xhat[ch]);
    pdb[ch] += static_cast<float>(sum_dy[ch]);
  }
  double m_all = static_cast<double>(m);
  if (sync != nullptr) {
    std::vector<double> sums(2 * size_t(c) + 1);
    std::copy(sum_dy.begin(), sum_dy.end(), sums.begin());
    std::copy(sum_dy_xhat.begin(), sum_dy_xhat.end(), sums.begin() + c);
    sums[2 * size_t(c)] = m_all;
    sync->AllReduceHost(sums.data(), static_cast<int64_t>(sums.size()));
    std::copy(sums.begin(), sums.begin() + c, sum_dy.begin());
    std::copy(sums.begin() + c, sums.begin() + 2 * c, sum_dy_xhat.begin());
    m_all = sums[2 * size_t(c)];
  }
  for (int ch = 0; ch < c; ++ch) {
    mean_dy[ch] = static_cast<float>(sum_dy[ch] / m_all);
    mean_dy_xhat[ch] = static_cast<float>(sum_dy_xhat[ch] / m_all);
  }
  const float* pg = gamma.data();
  float* pdx = dx.data();  // may alias dy
  for (int64_t i = 0; i < m; ++i) {
    for (int ch = 0; ch < c; ++ch) {
      pdx[i * c + ch] = kernels::BnBackwardDx(px[i * c + ch], pdy[i * c + ch], mean[ch],
                                              invstd[ch], pg[ch], mean_dy[ch], mean_dy_xhat[ch]);
    }
  }
}

}  // namespace sal360::nn
