#include "nn/ops/batchnorm.h"

#include <algorithm>
#include <vector>

#include "nn/context.h"
#include "nn/ops/batchnorm_kernels.h"
#include "nn/ops/check_args.h"
#include "nn/ops/dispatch.h"
#include "nn/ops/elementwise.h"
#include "nn/ops/elementwise_kernels.h"
#include "nn/parallel.h"

#ifdef SAL360_WITH_CUDA
#include <cstdio>
#include <string>

#include "nn/cuda/cudnn_graph.h"
#endif

namespace sal360::nn {
namespace {

bool IsChannelVector(const Tensor& t, int c) { return t.shape() == Shape{1, 1, 1, c}; }

void CheckChannelVector(const Tensor& t, const Tensor& x, const char* what, const char* op) {
  SAL_NN_CHECK(IsChannelVector(t, x.shape().c), "%s: %s has shape %s, want (1,1,1,%d)", op,
               what, t.shape().ToString().c_str(), x.shape().c);
  SAL_NN_CHECK(t.device() == x.device(), "%s: %s on a different device", op, what);
}

// The CPU reductions over the M rows: fixed chunks of kChunkRows rows, each summed in
// double on some thread into its own slot, then the slots added in chunk order. The
// order depends only on M, so the bits do not depend on the thread count.
constexpr int64_t kChunkRows = 512;

// sums[j] (j < width) = sum over rows i of the terms row_fn(i, acc) adds into acc[j],
// in the fixed order above.
template <typename RowFn>
void ChunkedRowSums(int64_t m, int width, RowFn row_fn, std::vector<double>* sums) {
  const int64_t chunks = (m + kChunkRows - 1) / kChunkRows;
  std::vector<double> partial(static_cast<size_t>(chunks) * width, 0.0);  // (chunks, width)
  ParallelFor(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double* acc = partial.data() + k * width;
      const int64_t i1 = std::min(m, (k + 1) * kChunkRows);
      for (int64_t i = k * kChunkRows; i < i1; ++i) row_fn(i, acc);
    }
  });
  sums->assign(width, 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    for (int j = 0; j < width; ++j) (*sums)[j] += partial[k * width + j];
  }
}

// fn(i) for every row, rows split over the threads.
template <typename Fn>
void ForRows(int64_t m, int c, Fn fn) {
  ParallelFor(0, m, GrainFor(c), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i);
  });
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

namespace {

#ifdef SAL360_WITH_CUDA
// The cudnn engine's batch-norm + ReLU (nn/cuda/cudnn_graph.h) for this call: when the
// CUDA context asks for it and cuDNN has a plan for the shape. Otherwise the native
// kernels run, with one notice per operation and process naming cuDNN's reason.
bool UseCudnnBnRelu(cuda::CudnnBnOp op, int64_t m, int c, size_t* workspace) {
  Context& ctx = Context::Get(Device::kCuda);
  if (ctx.math().engine != GpuEngine::kCudnn) return false;
  std::string why;
  if (cuda::CudnnBnReluSupported(ctx.cudnn(), op, m, c, workspace, &why)) return true;
  static bool told[3] = {false, false, false};
  if (!told[static_cast<int>(op)]) {
    told[static_cast<int>(op)] = true;
    std::fprintf(stderr, "sal360: cudnn engine: %s (M %lld, C %d) runs on the native kernels: %s\n",
                 cuda::CudnnBnOpName(op), static_cast<long long>(m), c, why.c_str());
  }
  return false;
}
#endif

void ForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta, BatchNormStats& stats,
                  BatchNormCache& cache, Tensor& y, float momentum, float eps, Collective* sync,
                  bool relu) {
  const char* op = relu ? "BatchNormReluForwardTrain" : "BatchNormForwardTrain";
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
    size_t ws_bytes = 0;
    if (relu && x.data() != y.data() && UseCudnnBnRelu(cuda::CudnnBnOp::kForwardTrain, m, c, &ws_bytes)) {
      cuda::CudnnBnArgs a;
      a.x = x.data();
      a.gamma = gamma.data();
      a.beta = beta.data();
      a.running_mean = stats.running_mean.data();
      a.running_var = stats.running_var.data();
      a.save_mean = cache.mean.data();
      a.save_invstd = cache.invstd.data();
      a.y = y.data();
      a.epsilon = eps;
      a.momentum = momentum;
      cuda::CudnnBnRelu(ctx.cudnn(), cuda::CudnnBnOp::kForwardTrain, m, c, a,
                        ws_bytes > 0 ? ctx.arena().Alloc(ws_bytes) : nullptr);
      return;
    }
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    cuda::BatchNormForwardTrain(x.data(), gamma.data(), beta.data(), m, c, momentum, eps,
                                stats.running_mean.data(), stats.running_var.data(),
                                cache.mean.data(), cache.invstd.data(), y.data(), scratch,
                                ctx.stream());
    if (relu) ReluForward(y, y);
    return;
  });
  const float* px = x.data();                  // (M, C)
  std::vector<double> mean, var;  // (C)
  ChunkedRowSums(
      m_local, c,
      [&](int64_t i, double* acc) {
        for (int ch = 0; ch < c; ++ch) acc[ch] += px[i * c + ch];
      },
      &mean);
  if (sync != nullptr) sync->AllReduceHost(mean.data(), c);
  for (int ch = 0; ch < c; ++ch) mean[ch] /= static_cast<double>(m);
  ChunkedRowSums(
      m_local, c,
      [&](int64_t i, double* acc) {
        for (int ch = 0; ch < c; ++ch) acc[ch] += kernels::SquaredDeviation(px[i * c + ch], mean[ch]);
      },
      &var);
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
  ForRows(m_local, c, [&](int64_t i) {
    for (int ch = 0; ch < c; ++ch) {
      const float v =
          kernels::BnNormalize(px[i * c + ch], save_mean[ch], save_invstd[ch], pg[ch], pb[ch]);
      py[i * c + ch] = relu ? kernels::Relu(v) : v;
    }
  });
}

void ForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                 const BatchNormStats& stats, Tensor& y, float eps, bool relu) {
  const char* op = relu ? "BatchNormReluForwardEval" : "BatchNormForwardEval";
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
    size_t ws_bytes = 0;
    if (relu && x.data() != y.data() && UseCudnnBnRelu(cuda::CudnnBnOp::kForwardEval, m, c, &ws_bytes)) {
      float* invstd = ctx.arena().AllocFloats(c);
      cuda::BatchNormInvStd(stats.running_var.data(), c, eps, invstd, ctx.stream());
      cuda::CudnnBnArgs a;
      a.x = x.data();
      a.gamma = gamma.data();
      a.beta = beta.data();
      a.running_mean = const_cast<float*>(stats.running_mean.data());
      a.invstd = invstd;
      a.y = y.data();
      a.epsilon = eps;
      cuda::CudnnBnRelu(ctx.cudnn(), cuda::CudnnBnOp::kForwardEval, m, c, a,
                        ws_bytes > 0 ? ctx.arena().Alloc(ws_bytes) : nullptr);
      return;
    }
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    cuda::BatchNormForwardEval(x.data(), gamma.data(), beta.data(), stats.running_mean.data(),
                               stats.running_var.data(), m, c, eps, y.data(), scratch,
                               ctx.stream());
    if (relu) ReluForward(y, y);
    return;
  });
  const float* rm = stats.running_mean.data();
  const float* rv = stats.running_var.data();
  std::vector<float> invstd(c);
  for (int ch = 0; ch < c; ++ch) invstd[ch] = kernels::BnInvStd(rv[ch], eps);
  const float* px = x.data();
  const float* pg = gamma.data();
  const float* pb = beta.data();
  float* py = y.data();
  ForRows(m, c, [&](int64_t i) {
    for (int ch = 0; ch < c; ++ch) {
      const float v = kernels::BnNormalize(px[i * c + ch], rm[ch], invstd[ch], pg[ch], pb[ch]);
      py[i * c + ch] = relu ? kernels::Relu(v) : v;
    }
  });
}

// relu_y: the ReLU's output when the ReLU's backward is folded in (dy is then the
// gradient w.r.t. that output), else null.
void Backward(const Tensor& x, const Tensor* relu_y, const Tensor& gamma,
              const BatchNormCache& cache, Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
              Collective* sync) {
  const char* op = relu_y != nullptr ? "BatchNormReluBackward" : "BatchNormBackward";
  CheckSameShapeAndDevice(x, dy, op);
  if (relu_y != nullptr) CheckSameShapeAndDevice(x, *relu_y, op);
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
    size_t ws_bytes = 0;
    if (relu_y != nullptr && dx.data() != dy.data() &&
        UseCudnnBnRelu(cuda::CudnnBnOp::kBackward, m, c, &ws_bytes)) {
      // cuDNN writes dgamma/dbeta; ours accumulate ("+="): through scratch, then added.
      float* dg = ctx.arena().AllocFloats(c);
      float* db = ctx.arena().AllocFloats(c);
      cuda::CudnnBnArgs a;
      a.x = x.data();
      a.y = const_cast<float*>(relu_y->data());
      a.dy = dy.data();
      a.gamma = gamma.data();
      a.save_mean = const_cast<float*>(cache.mean.data());
      a.save_invstd = const_cast<float*>(cache.invstd.data());
      a.dx = dx.data();
      a.dgamma = dg;
      a.dbeta = db;
      cuda::CudnnBnRelu(ctx.cudnn(), cuda::CudnnBnOp::kBackward, m, c, a,
                        ws_bytes > 0 ? ctx.arena().Alloc(ws_bytes) : nullptr);
      cuda::Axpy(1.0f, dg, dgamma.data(), c, ctx.stream());
      cuda::Axpy(1.0f, db, dbeta.data(), c, ctx.stream());
      return;
    }
    void* scratch = ctx.arena().Alloc(cuda::BatchNormScratchBytes(m, c));
    if (relu_y != nullptr) ReluBackward(*relu_y, dy, dy);
    cuda::BatchNormBackward(x.data(), gamma.data(), cache.mean.data(), cache.invstd.data(),
                            dy.data(), m, c, dx.data(), dgamma.data(), dbeta.data(), scratch,
                            ctx.stream());
    return;
  });
  const float* px = x.data();    // (M, C)
  const float* pdy = dy.data();  // (M, C)
  const float* mean = cache.mean.data();
  const float* invstd = cache.invstd.data();
  const float* py = relu_y != nullptr ? relu_y->data() : nullptr;  // (M, C) or null
  // The gradient w.r.t. BN's output: dy, masked by the ReLU when it is folded in.
  auto grad = [&](int64_t at) { return py != nullptr ? kernels::ReluGrad(py[at], pdy[at]) : pdy[at]; };
  std::vector<double> sums;  // (2C): sum of g, then sum of g * xhat
  ChunkedRowSums(
      m, 2 * c,
      [&](int64_t i, double* acc) {
        for (int ch = 0; ch < c; ++ch) {
          const float g = grad(i * c + ch);
          acc[ch] += g;
          acc[c + ch] += static_cast<double>(g) * kernels::BnXhat(px[i * c + ch], mean[ch], invstd[ch]);
        }
      },
      &sums);
  std::vector<double> sum_dy(sums.begin(), sums.begin() + c), sum_dy_xhat(sums.begin() + c, sums.end());
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
  float* pdx = dx.data();  // may alias dy: each element is read before it is written
  ForRows(m, c, [&](int64_t i) {
    for (int ch = 0; ch < c; ++ch) {
      pdx[i * c + ch] = kernels::BnBackwardDx(px[i * c + ch], grad(i * c + ch), mean[ch],
                                              invstd[ch], pg[ch], mean_dy[ch], mean_dy_xhat[ch]);
    }
  });
}

}  // namespace

void BatchNormForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           BatchNormStats& stats, BatchNormCache& cache, Tensor& y,
                           float momentum, float eps, Collective* sync) {
  ForwardTrain(x, gamma, beta, stats, cache, y, momentum, eps, sync, /*relu=*/false);
}

void BatchNormReluForwardTrain(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                               BatchNormStats& stats, BatchNormCache& cache, Tensor& y,
                               float momentum, float eps, Collective* sync) {
  ForwardTrain(x, gamma, beta, stats, cache, y, momentum, eps, sync, /*relu=*/true);
}

void BatchNormForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const BatchNormStats& stats, Tensor& y, float eps) {
  ForwardEval(x, gamma, beta, stats, y, eps, /*relu=*/false);
}

void BatchNormReluForwardEval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const BatchNormStats& stats, Tensor& y, float eps) {
  ForwardEval(x, gamma, beta, stats, y, eps, /*relu=*/true);
}

void BatchNormBackward(const Tensor& x, const Tensor& gamma, const BatchNormCache& cache,
                       const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta,
                       Collective* sync) {
  // Without the ReLU, dy is only read.
  Backward(x, nullptr, gamma, cache, const_cast<Tensor&>(dy), dx, dgamma, dbeta, sync);
}

void BatchNormReluBackward(const Tensor& x, const Tensor& y, const Tensor& gamma,
                           const BatchNormCache& cache, Tensor& dy, Tensor& dx, Tensor& dgamma,
                           Tensor& dbeta, Collective* sync) {
  Backward(x, &y, gamma, cache, dy, dx, dgamma, dbeta, sync);
}

}  // namespace sal360::nn
