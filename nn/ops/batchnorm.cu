// BatchNorm2d on CUDA: custom kernels, not cuDNN.
//
// Why: cuDNN 9 marks the legacy BatchNorm and pooling APIs CUDNN_DEPRECATED (the
// replacement is the graph API), its reductions are not documented as deterministic, and
// its running-variance and saved-statistics conventions would have to be re-derived and
// re-tested against PyTorch. These kernels run the same SAL_HD bodies as the CPU path
// (batchnorm_kernels.h), reduce in double in a fixed order and so agree with the CPU to
// float rounding of the per-channel statistics, and are deterministic run to run.
//
// Reduction layout (x is (M, C) row-major, channels contiguous): the deterministic tree
// sum of nn/ops/tree_sum_kernels.h over rows with 8 lanes. A block of 32 channels x 8
// rows (lanes) walks one group's rows; grid (ceil(C/32), G) with G = TreeGroups(M) fixed by
// the shape. Each block writes one group sum per channel; a per-channel kernel adds the
// G group sums in ascending order. No atomics.

#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/cuda/tree_sum.h"
#include "nn/ops/batchnorm_kernels.h"
#include "nn/ops/tree_sum_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kCols = 32, kRows = 8, kThreads = 256;
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }
inline unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Row groups per channel column: about 512 rows per group, at most 256 groups.
int TreeGroups(int64_t m) { return kernels::TreeSumGroups(m, 512, 256); }

// Scratch layout: partial (G, C, 2) doubles | stat (C, 2) doubles | per-channel floats (C, 2).
struct Scratch {
  double* partial;
  double* stat;
  float* f;
};
Scratch LayOutScratch(void* scratch, int64_t m, int c) {
  Scratch s;
  s.partial = static_cast<double*>(scratch);
  s.stat = s.partial + int64_t{TreeGroups(m)} * c * 2;
  s.f = reinterpret_cast<float*>(s.stat + int64_t{c} * 2);
  return s;
}

struct SumX {  // a += x
  const float* x;
  int c;
  __device__ void operator()(int64_t r, int ch, double* a, double*) const { *a += x[r * c + ch]; }
};
struct SumSquaredDeviation {  // a += (x − mean)², mean = stat[ch][0]
  const float* x;
  int c;
  const double* stat;
  __device__ void operator()(int64_t r, int ch, double* a, double*) const {
    *a += kernels::SquaredDeviation(x[r * c + ch], stat[ch * 2]);
  }
};
struct SumBackward {  // a += dy, b += dy·x̂
  const float* x;
  const float* dy;
  int c;
  const float* mean;
  const float* invstd;
  __device__ void operator()(int64_t r, int ch, double* a, double* b) const {
    const float g = dy[r * c + ch];
    *a += g;
    *b += static_cast<double>(g) * kernels::BnXhat(x[r * c + ch], mean[ch], invstd[ch]);
  }
};

// partial[g][ch][0..1] over rows g*8 + ty, stepping by G*8.
template <class F>
__global__ void ChannelPartialsKernel(int64_t m, int c, int groups, F f, double* partial) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int ch = blockIdx.x * kCols + tx, g = blockIdx.y;
  double a = 0.0, b = 0.0;
  if (ch < c) {
    const int64_t stride = kernels::TreeSumStride(groups, kRows);
    for (int64_t r = kernels::TreeSumFirst(g, ty, kRows); r < m; r += stride) f(r, ch, &a, &b);
  }
  __shared__ double sa[kRows][kCols], sb[kRows][kCols];
  sa[ty][tx] = a;
  sb[ty][tx] = b;
  __syncthreads();
  BlockTreeFold<kRows>(ty, [&](int t, int u) {
    sa[t][tx] += sa[u][tx];
    sb[t][tx] += sb[u][tx];
  });
  if (ty == 0 && ch < c) {
    partial[(int64_t{g} * c + ch) * 2] = sa[0][tx];
    partial[(int64_t{g} * c + ch) * 2 + 1] = sb[0][tx];
  }
}

template <class F>
void ChannelPartials(int64_t m, int c, F f, double* partial, void* stream) {
  const int groups = TreeGroups(m);
  const dim3 block(kCols, kRows), grid((c + kCols - 1) / kCols, groups);
  SAL_LAUNCH(ChannelPartialsKernel, grid, block, 0, S(stream))(m, c, groups, f, partial);
  SAL_CUDA_CHECK_LAUNCH();
}

// Σ over groups in ascending order, for quantity q of channel ch.
__device__ double SumChannelGroups(const double* partial, int groups, int c, int ch, int q) {
  return kernels::SumGroupsAscending(partial + int64_t{ch} * 2 + q, groups, int64_t{c} * 2);
}

__global__ void FinalizeMeanKernel(const double* partial, int groups, int64_t m, int c,
                                   double* stat) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch < c) stat[ch * 2] = SumChannelGroups(partial, groups, c, ch, 0) / static_cast<double>(m);
}

__global__ void FinalizeVarKernel(const double* partial, int groups, int64_t m, int c,
                                  float momentum, float eps, const double* stat,
                                  float* running_mean, float* running_var, float* save_mean,
                                  float* save_invstd) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  const double mean = stat[ch * 2];
  const double var = SumChannelGroups(partial, groups, c, ch, 0) / static_cast<double>(m);
  save_mean[ch] = static_cast<float>(mean);
  save_invstd[ch] = kernels::BnInvStd(var, eps);
  running_mean[ch] = kernels::BnRunningUpdate(running_mean[ch], mean, momentum);
  running_var[ch] =
      kernels::BnRunningUpdate(running_var[ch], kernels::BnUnbiased(var, m), momentum);
}

__global__ void FinalizeBackwardKernel(const double* partial, int groups, int64_t m, int c,
                                       float* mean_dy, float* mean_dy_xhat, float* dgamma,
                                       float* dbeta) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  const double sum_dy = SumChannelGroups(partial, groups, c, ch, 0);
  const double sum_dy_xhat = SumChannelGroups(partial, groups, c, ch, 1);
  mean_dy[ch] = static_cast<float>(sum_dy / static_cast<double>(m));
  mean_dy_xhat[ch] = static_cast<float>(sum_dy_xhat / static_cast<double>(m));
  dgamma[ch] += static_cast<float>(sum_dy_xhat);
  dbeta[ch] += static_cast<float>(sum_dy);
}

__global__ void InvStdKernel(const float* var, int c, float eps, float* invstd) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch < c) invstd[ch] = kernels::BnInvStd(var[ch], eps);
}

__global__ void NormalizeKernel(const float* x, const float* mean, const float* invstd,
                                const float* gamma, const float* beta, int64_t n, int c, float* y) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  const int ch = static_cast<int>(i % c);
  y[i] = kernels::BnNormalize(x[i], mean[ch], invstd[ch], gamma[ch], beta[ch]);
}

__global__ void BackwardDxKernel(const float* x, const float* dy, const float* mean,
                                 const float* invstd, const float* gamma, const float* mean_dy,
                                 const float* mean_dy_xhat, int64_t n, int c, float* dx) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= n) return;
  const int ch = static_cast<int>(i % c);
  dx[i] = kernels::BnBackwardDx(x[i], dy[i], mean[ch], invstd[ch], gamma[ch], mean_dy[ch],
                                mean_dy_xhat[ch]);
}

}  // namespace

size_t BatchNormScratchBytes(int64_t m, int c) {
  return (static_cast<size_t>(TreeGroups(m)) * c * 2 + static_cast<size_t>(c) * 2) * sizeof(double) +
         static_cast<size_t>(c) * 2 * sizeof(float);
}

void BatchNormForwardTrain(const float* x, const float* gamma, const float* beta, int64_t m, int c,
                           float momentum, float eps, float* running_mean, float* running_var,
                           float* save_mean, float* save_invstd, float* y, void* scratch,
                           void* stream) {
  if (c == 0) return;
  const Scratch s = LayOutScratch(scratch, m, c);
  const int groups = TreeGroups(m);
  const unsigned cb = Blocks(c);
  ChannelPartials(m, c, SumX{x, c}, s.partial, stream);
  SAL_LAUNCH(FinalizeMeanKernel, cb, kThreads, 0, S(stream))(s.partial, groups, m, c, s.stat);
  SAL_CUDA_CHECK_LAUNCH();
  ChannelPartials(m, c, SumSquaredDeviation{x, c, s.stat}, s.partial, stream);
  SAL_LAUNCH(FinalizeVarKernel, cb, kThreads, 0, S(stream))
  (s.partial, groups, m, c, momentum, eps, s.stat, running_mean, running_var, save_mean,
   save_invstd);
  SAL_CUDA_CHECK_LAUNCH();
  const int64_t n = m * c;
  SAL_LAUNCH(NormalizeKernel, Blocks(n), kThreads, 0, S(stream))
  (x, save_mean, save_invstd, gamma, beta, n, c, y);
  SAL_CUDA_CHECK_LAUNCH();
}

void BatchNormForwardEval(const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, int64_t m, int c,
                          float eps, float* y, void* scratch, void* stream) {
  const int64_t n = m * c;
  if (n == 0) return;
  const Scratch s = LayOutScratch(scratch, m, c);
  SAL_LAUNCH(InvStdKernel, Blocks(c), kThreads, 0, S(stream))(running_var, c, eps, s.f);
  SAL_CUDA_CHECK_LAUNCH();
  SAL_LAUNCH(NormalizeKernel, Blocks(n), kThreads, 0, S(stream))
  (x, running_mean, s.f, gamma, beta, n, c, y);
  SAL_CUDA_CHECK_LAUNCH();
}

void BatchNormInvStd(const float* var, int c, float eps, float* invstd, void* stream) {
  if (c == 0) return;
  SAL_LAUNCH(InvStdKernel, Blocks(c), kThreads, 0, S(stream))(var, c, eps, invstd);
  SAL_CUDA_CHECK_LAUNCH();
}

void BatchNormBackward(const float* x, const float* gamma, const float* save_mean,
                       const float* save_invstd, const float* dy, int64_t m, int c, float* dx,
                       float* dgamma, float* dbeta, void* scratch, void* stream) {
  if (c == 0) return;
  const Scratch s = LayOutScratch(scratch, m, c);
  const int groups = TreeGroups(m);
  ChannelPartials(m, c, SumBackward{x, dy, c, save_mean, save_invstd}, s.partial, stream);
  float* mean_dy = s.f;
  float* mean_dy_xhat = s.f + c;
  SAL_LAUNCH(FinalizeBackwardKernel, Blocks(c), kThreads, 0, S(stream))
  (s.partial, groups, m, c, mean_dy, mean_dy_xhat, dgamma, dbeta);
  SAL_CUDA_CHECK_LAUNCH();
  const int64_t n = m * c;
  if (n == 0) return;
  SAL_LAUNCH(BackwardDxKernel, Blocks(n), kThreads, 0, S(stream))
  (x, dy, save_mean, save_invstd, gamma, mean_dy, mean_dy_xhat, n, c, dx);
  SAL_CUDA_CHECK_LAUNCH();
}

}  // namespace sal360::nn::cuda
