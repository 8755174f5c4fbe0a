// Sphere-weighted losses on CUDA. Per-sample sums use the deterministic tree sum of
// nn/ops/tree_sum_kernels.h with 256 lanes: a grid (G, N) of blocks, block (g, n) folding
// group g of sample n's pixels through a shared-memory tree (double), then one thread
// per sample adding its G group sums in ascending order. G depends only on the shape.
// No atomics. The per-pixel arithmetic is loss_kernels.h, shared with the CPU loops.
#include <vector>

#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/cuda/tree_sum.h"
#include "nn/loss_kernels.h"
#include "nn/ops/tree_sum_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxQuantities = 3;
inline unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

// Blocks per sample: about 4096 pixels per block, at most 64.
int TreeGroups(int64_t len) { return kernels::TreeSumGroups(len, 4096, 64); }

// Scratch: partial (N, G, 3) | sums (N, 3) | terms (N, 3), all double.
struct Scratch {
  double* partial;
  double* sums;
  double* terms;
};
Scratch LayOutScratch(void* scratch, int n, int64_t len) {
  Scratch s;
  s.partial = static_cast<double*>(scratch);
  s.sums = s.partial + int64_t{n} * TreeGroups(len) * kMaxQuantities;
  s.terms = s.sums + int64_t{n} * kMaxQuantities;
  return s;
}

template <int K, class F>
__global__ void SegmentPartialsKernel(int64_t len, int groups, F f, double* partial) {
  const int n = blockIdx.y, g = blockIdx.x, tid = threadIdx.x;
  double acc[K];
  for (int k = 0; k < K; ++k) acc[k] = 0.0;
  const int64_t stride = kernels::TreeSumStride(groups, kThreads);
  for (int64_t i = kernels::TreeSumFirst(g, tid, kThreads); i < len; i += stride) {
    f(n, i, acc);
  }
  __shared__ double sh[K][kThreads];
  for (int k = 0; k < K; ++k) sh[k][tid] = acc[k];
  __syncthreads();
  BlockTreeFold<kThreads>(tid, [&](int t, int u) {
    for (int k = 0; k < K; ++k) sh[k][t] += sh[k][u];
  });
  if (tid == 0) {
    for (int k = 0; k < K; ++k) partial[(int64_t{n} * groups + g) * K + k] = sh[k][0];
  }
}

template <int K>
__global__ void SegmentFinalKernel(int segments, int groups, const double* partial, double* out) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= segments) return;
  for (int k = 0; k < K; ++k) {
    out[n * K + k] = kernels::SumGroupsAscending(partial + int64_t{n} * groups * K + k, groups, K);
  }
}

// out (N, K) = per-sample sums of f over the sample's len pixels.
template <int K, class F>
void SegmentSums(int segments, int64_t len, F f, double* partial, double* out, void* stream) {
  const int groups = TreeGroups(len);
  SAL_LAUNCH(SegmentPartialsKernel<K>, dim3(groups, segments), kThreads, 0, S(stream))
  (len, groups, f, partial);
  SAL_CUDA_CHECK_LAUNCH();
  SAL_LAUNCH(SegmentFinalKernel<K>, Blocks(segments), kThreads, 0, S(stream))
  (segments, groups, partial, out);
  SAL_CUDA_CHECK_LAUNCH();
}

// Copies column q of a device (N, K) array to host out[N] (synchronises the stream).
void CopyColumnToHost(const double* dev, int n, int k, int q, double* out, void* stream) {
  std::vector<double> host(static_cast<size_t>(n) * k);
  SAL_CUDA_CHECK(cudaMemcpyAsync(host.data(), dev, host.size() * sizeof(double),
                                 cudaMemcpyDeviceToHost, S(stream)));
  SAL_CUDA_CHECK(cudaStreamSynchronize(S(stream)));
  for (int i = 0; i < n; ++i) out[i] = host[static_cast<size_t>(i) * k + q];
}

struct MseF {  // acc[0] += w·(y − t)²; writes dy
  const float* y;
  const float* t;
  const float* rw;
  int64_t len;
  int w;
  float scale;
  float* dy;
  __device__ void operator()(int n, int64_t i, double* acc) const {
    const int64_t k = n * len + i;
    const float wr = rw[i / w];
    acc[0] += kernels::MseTerm(y[k], t[k], wr);
    if (dy != nullptr) dy[k] = kernels::MseGrad(y[k], t[k], wr, scale);
  }
};

struct KldSumsF {  // acc = (S_p, S_t, A)
  const float* y;
  const float* t;
  const float* rw;
  int64_t len;
  int w;
  __device__ void operator()(int n, int64_t i, double* acc) const {
    const int64_t k = n * len + i;
    kernels::KldSums(y[k], t[k], rw[i / w], &acc[0], &acc[1], &acc[2]);
  }
};

struct KldTermsF {  // acc = (Σ term, Σ g·p)
  const float* y;
  const float* t;
  const float* rw;
  int64_t len;
  int w;
  const double* sums;  // (N, 3)
  double eps;
  __device__ void operator()(int n, int64_t i, double* acc) const {
    const int64_t k = n * len + i;
    double term, gp;
    kernels::KldTerms(y[k], t[k], rw[i / w], sums[n * 3], sums[n * 3 + 1], sums[n * 3 + 2], eps,
                      &term, &gp);
    acc[0] += term;
    acc[1] += gp;
  }
};

__global__ void KldGradKernel(const float* y, const float* t, const float* rw, int64_t len, int w,
                              int64_t total, const double* sums, const double* terms, double eps,
                              double scale, float* dy) {
  const int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (k >= total) return;
  const int64_t n = k / len, i = k - n * len;
  dy[k] = kernels::KldGrad(y[k], t[k], rw[i / w], sums[n * 3], sums[n * 3 + 1], terms[n * 2 + 1],
                           eps, scale);
}

}  // namespace

size_t LossScratchBytes(int n, int h, int w) {
  const int64_t len = int64_t{h} * w;
  return static_cast<size_t>(n) * (TreeGroups(len) + 2) * kMaxQuantities * sizeof(double);
}

void SphereMse(const float* pred, const float* target, const float* row_weights, int n, int h,
               int w, int denominator, float* dpred, double* sample_loss_host, void* scratch, void* stream) {
  const int64_t len = int64_t{h} * w;
  const Scratch s = LayOutScratch(scratch, n, len);
  const float scale = 2.0f / static_cast<float>(denominator);
  SegmentSums<1>(n, len, MseF{pred, target, row_weights, len, w, scale, dpred}, s.partial, s.sums,
                 stream);
  CopyColumnToHost(s.sums, n, 1, 0, sample_loss_host, stream);
}

void SphereKld(const float* pred, const float* target, const float* row_weights, int n, int h,
               int w, int denominator, double eps, float* dpred, double* sample_loss_host, void* scratch,
               void* stream) {
  const int64_t len = int64_t{h} * w;
  const Scratch s = LayOutScratch(scratch, n, len);
  SegmentSums<3>(n, len, KldSumsF{pred, target, row_weights, len, w}, s.partial, s.sums, stream);
  SegmentSums<2>(n, len, KldTermsF{pred, target, row_weights, len, w, s.sums, eps}, s.partial,
                 s.terms, stream);
  if (dpred != nullptr) {
    const int64_t total = int64_t{n} * len;
    SAL_LAUNCH(KldGradKernel, Blocks(total), kThreads, 0, S(stream))
    (pred, target, row_weights, len, w, total, s.sums, s.terms, eps, 1.0 / denominator, dpred);
    SAL_CUDA_CHECK_LAUNCH();
  }
  CopyColumnToHost(s.terms, n, 2, 0, sample_loss_host, stream);
}

}  // namespace sal360::nn::cuda
