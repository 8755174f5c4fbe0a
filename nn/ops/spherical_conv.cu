// CUDA kernels of SphericalConv. One thread per output element (row, channel); the
// arithmetic is the shared body in spherical_conv_kernels.h called for that single
// channel, so the CPU tests cover it. Adjacent threads take adjacent channels of one
// row: loads and stores of a row are coalesced. Compiled with -fmad=false: the bodies
// then round exactly like the CPU loops (gcc does not contract a*b + c on x86-64), and
// the gathers are memory-bound, so FMAs would buy nothing. GEMMs go through cuBLAS
// (deterministic: atomics mode off, its default). Every launch is checked.
#include "nn/cuda/check.h"
#include "nn/cuda/launch.h"
#include "nn/ops/spherical_conv_kernels.h"

namespace sal360::nn::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // grid-stride loops cover the rest

inline unsigned Blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < kMaxBlocks ? b : kMaxBlocks);
}
inline cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }

#define SAL_GRID_STRIDE_LOOP(i, n)                                          \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{blockDim.x} * gridDim.x)

__global__ void GatherColumnsKernel(ConvTableView t, const float* x_img, int channels, int64_t pt0,
                                    int64_t n, float* col) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / channels;
    const int c = static_cast<int>(i % channels);
    kernels::GatherColumnRow(x_img, channels, t.src, t.weight, t.taps, pt0 + r, col + r * channels,
                             c, c + 1, 1);
  }
}

__global__ void InverseGatherKernel(ConvTableView t, const float* dcol_img, int channels,
                                    int64_t q0, int64_t n, float* dx_rows) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / channels;
    const int c = static_cast<int>(i % channels);
    kernels::InverseGatherRow(dcol_img, channels, t.inv_offsets, t.inv_rows, t.inv_weights, q0 + r,
                              dx_rows + r * channels, c, c + 1, 1);
  }
}

__global__ void GatherSumKernel(ConvTableView t, const float* z_img, int channels,
                                const float* bias, int64_t p0, int64_t n, float* y_rows) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / channels;
    const int c = static_cast<int>(i % channels);
    kernels::GatherSumRow(z_img, channels, t.src, t.weight, t.taps, p0 + r, bias,
                          y_rows + r * channels, c, c + 1, 1);
  }
}

__global__ void InverseGatherTapsKernel(ConvTableView t, const float* dy_img, int channels,
                                        int64_t q0, int64_t n, float* g_rows) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int64_t r = i / channels;
    const int c = static_cast<int>(i % channels);
    kernels::InverseGatherTapsRow(dy_img, channels, t.inv_offsets, t.inv_rows, t.inv_weights,
                                  q0 + r, g_rows + r * kernels::kConvTaps * channels, c, c + 1, 1);
  }
}

__global__ void FillRowsWithBiasKernel(const float* bias, int64_t n, int channels, float* y) {
  SAL_GRID_STRIDE_LOOP(i, n) { y[i] = bias[i % channels]; }
}

// Stage 1: partial[k][c] = sum of dy rows of chunk k; stage 2: db[c] += sum_k partial.
// One thread per (chunk, channel), rows in ascending order: the CPU loop's order.
__global__ void BiasPartialKernel(const float* dy, int64_t rows, int channels, int64_t n,
                                  float* partial) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int64_t k = i / channels;
    const int c = static_cast<int>(i % channels);
    float* acc = partial + k * channels;
    acc[c] = 0.0f;
    const int64_t r0 = k * kernels::kBiasChunkRows;
    const int64_t r1 = r0 + kernels::kBiasChunkRows < rows ? r0 + kernels::kBiasChunkRows : rows;
    for (int64_t r = r0; r < r1; ++r) kernels::AccumulateRow(dy + r * channels, acc, c, c + 1, 1);
  }
}
__global__ void BiasReduceKernel(const float* partial, int64_t chunks, int channels, float* db) {
  SAL_GRID_STRIDE_LOOP(i, channels) {
    const int c = static_cast<int>(i);
    for (int64_t k = 0; k < chunks; ++k) {
      kernels::AccumulateRow(partial + k * channels, db, c, c + 1, 1);
    }
  }
}

// The two permuted weight layouts: index of w[tap][ci][co] in the z-space operand Wz
// (output side) and in the cudnn engine's KRSC filter.
struct ZLayout {
  int cin, cout;
  SAL_HD int64_t operator()(int tap, int ci, int co) const {
    return kernels::ZWeightIndex(tap, ci, co, cout);
  }
};
struct KrscLayout {
  int cin, cout;
  SAL_HD int64_t operator()(int tap, int ci, int co) const {
    return kernels::KrscWeightIndex(tap, ci, co, cin);
  }
};

template <typename Layout>
__global__ void WeightToLayoutKernel(const float* w, Layout layout, int64_t n, float* out) {
  SAL_GRID_STRIDE_LOOP(i, n) {  // i = (tap*cin + ci)*cout + co
    const int co = static_cast<int>(i % layout.cout);
    const int ci = static_cast<int>((i / layout.cout) % layout.cin);
    const int tap = static_cast<int>(i / (int64_t{layout.cout} * layout.cin));
    out[layout(tap, ci, co)] = w[i];
  }
}
template <typename Layout>
__global__ void AddLayoutToWeightKernel(const float* d, Layout layout, int64_t n, float* w) {
  SAL_GRID_STRIDE_LOOP(i, n) {
    const int co = static_cast<int>(i % layout.cout);
    const int ci = static_cast<int>((i / layout.cout) % layout.cin);
    const int tap = static_cast<int>(i / (int64_t{layout.cout} * layout.cin));
    w[i] += d[layout(tap, ci, co)];
  }
}

template <typename Layout>
void WeightToLayout(const float* w, Layout layout, float* out, void* stream) {
  const int64_t n = int64_t{kernels::kConvTaps} * layout.cin * layout.cout;
  if (n <= 0) return;
  SAL_LAUNCH(WeightToLayoutKernel<Layout>, Blocks(n), kThreads, 0, S(stream))(w, layout, n, out);
  SAL_CUDA_CHECK_LAUNCH();
}
template <typename Layout>
void AddLayoutToWeight(const float* d, Layout layout, float* w, void* stream) {
  const int64_t n = int64_t{kernels::kConvTaps} * layout.cin * layout.cout;
  if (n <= 0) return;
  SAL_LAUNCH(AddLayoutToWeightKernel<Layout>, Blocks(n), kThreads, 0, S(stream))(d, layout, n, w);
  SAL_CUDA_CHECK_LAUNCH();
}


}  // namespace

void GatherColumns(const ConvTableView& t, const float* x_img, int channels, int64_t pt0,
                   int64_t pt1, float* col, void* stream) {
  const int64_t n = (pt1 - pt0) * channels;
  if (n <= 0) return;
  SAL_LAUNCH(GatherColumnsKernel, Blocks(n), kThreads, 0, S(stream))
  (t, x_img, channels, pt0, n, col);
  SAL_CUDA_CHECK_LAUNCH();
}

void InverseGather(const ConvTableView& t, const float* dcol_img, int channels, int64_t q0,
                   int64_t q1, float* dx_rows, void* stream) {
  const int64_t n = (q1 - q0) * channels;
  if (n <= 0) return;
  SAL_LAUNCH(InverseGatherKernel, Blocks(n), kThreads, 0, S(stream))
  (t, dcol_img, channels, q0, n, dx_rows);
  SAL_CUDA_CHECK_LAUNCH();
}

void GatherSum(const ConvTableView& t, const float* z_img, int channels, const float* bias,
               int64_t p0, int64_t p1, float* y_rows, void* stream) {
  const int64_t n = (p1 - p0) * channels;
  if (n <= 0) return;
  SAL_LAUNCH(GatherSumKernel, Blocks(n), kThreads, 0, S(stream))
  (t, z_img, channels, bias, p0, n, y_rows);
  SAL_CUDA_CHECK_LAUNCH();
}

void InverseGatherTaps(const ConvTableView& t, const float* dy_img, int channels, int64_t q0,
                       int64_t q1, float* g_rows, void* stream) {
  const int64_t n = (q1 - q0) * channels;
  if (n <= 0) return;
  SAL_LAUNCH(InverseGatherTapsKernel, Blocks(n), kThreads, 0, S(stream))
  (t, dy_img, channels, q0, n, g_rows);
  SAL_CUDA_CHECK_LAUNCH();
}

void FillRowsWithBias(const float* bias, int64_t rows, int channels, float* y, void* stream) {
  const int64_t n = rows * channels;
  if (n <= 0) return;
  SAL_LAUNCH(FillRowsWithBiasKernel, Blocks(n), kThreads, 0, S(stream))(bias, n, channels, y);
  SAL_CUDA_CHECK_LAUNCH();
}

void BiasGrad(const float* dy, int64_t rows, int channels, float* partial, float* db,
              void* stream) {
  if (rows <= 0 || channels <= 0) return;
  const int64_t chunks = (rows + kernels::kBiasChunkRows - 1) / kernels::kBiasChunkRows;
  const int64_t n = chunks * channels;
  SAL_LAUNCH(BiasPartialKernel, Blocks(n), kThreads, 0, S(stream))(dy, rows, channels, n, partial);
  SAL_CUDA_CHECK_LAUNCH();
  SAL_LAUNCH(BiasReduceKernel, Blocks(channels), kThreads, 0, S(stream))
  (partial, chunks, channels, db);
  SAL_CUDA_CHECK_LAUNCH();
}

void WeightToZ(const float* w, int cin, int cout, float* wz, void* stream) {
  WeightToLayout(w, ZLayout{cin, cout}, wz, stream);
}

void AddZToWeight(const float* dwz, int cin, int cout, float* w, void* stream) {
  AddLayoutToWeight(dwz, ZLayout{cin, cout}, w, stream);
}

void WeightToKrsc(const float* w, int cin, int cout, float* krsc, void* stream) {
  WeightToLayout(w, KrscLayout{cin, cout}, krsc, stream);
}

void AddKrscToWeight(const float* dkrsc, int cin, int cout, float* w, void* stream) {
  AddLayoutToWeight(dkrsc, KrscLayout{cin, cout}, w, stream);
}

void RowMajorGemm(void* cublas, Precision precision, bool trans_a, bool trans_b, int m, int n,
                  int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                  float* c, int ldc) {
  // Row-major X (r, s) with leading dimension ld is column-major X^T (s, r): compute
  // C^T (n, m) = op(B)^T (n, k) · op(A)^T (k, m) with the operands swapped.
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = static_cast<cublasHandle_t>(cublas);
  if (precision == Precision::kFp32) {
    SAL_CUDA_CHECK(cublasSgemm(h, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
  } else {
    // FP32 in and out; the compute type lets cuBLAS round the operands to TF32 or BF16
    // for the tensor cores and accumulate in FP32.
    const cublasComputeType_t compute = precision == Precision::kTf32
                                            ? CUBLAS_COMPUTE_32F_FAST_TF32
                                            : CUBLAS_COMPUTE_32F_FAST_16BF;
    SAL_CUDA_CHECK(cublasGemmEx(h, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F,
                                lda, &beta, c, CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT));
  }
  CountCublasGemm();
}

}  // namespace sal360::nn::cuda
