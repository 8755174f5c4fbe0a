// SphericalConv arithmetic shared by the CPU loops (spherical_conv.cc) and the CUDA
// kernels (spherical_conv.cu). Each body computes the channels c0, c0+cstep, ... < c1
// of one row; the CPU passes the whole row (c0 = 0, cstep = 1: the channel loop is
// innermost and contiguous), a CUDA thread passes one channel. Per element the
// operations and their order are identical in both cases.
//
// Index conventions (one image; the batch is an outer loop):
//   table entry   e  = (p*9 + tap)*taps + t       src[e] in [0, H*W), weight[e]
//   column row    pt = p*9 + tap = e / taps        col (P, 9*Cin): col[pt*Cin + ci]
//   z-space row   Z (P, 9*Cout): z[q*9*Cout + tap*Cout + co]
// Bodies never check bounds: ConvTable validated every index once, on creation.
#ifndef SAL360_NN_OPS_SPHERICAL_CONV_KERNELS_H_
#define SAL360_NN_OPS_SPHERICAL_CONV_KERNELS_H_

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

constexpr int kConvTaps = 9;         // positions of the 3x3 kernel
constexpr int kBiasChunkRows = 256;  // rows per partial sum of the bias gradient

// col[pt][c] = sum_t weight[e] * x[src[e]][c] over the table entries of (p, tap).
// x_img: (H*W, C); out: the C floats of column row pt. Nearest tables (taps = 1,
// weight 1) copy the source vector exactly.
SAL_HD void GatherColumnRow(const float* x_img, int channels, const int32_t* src,
                            const float* weight, int taps, int64_t pt, float* out, int c0, int c1,
                            int cstep) {
  const int64_t e0 = pt * taps;
  const float* x0 = x_img + int64_t{src[e0]} * channels;
  const float w0 = weight[e0];
  for (int c = c0; c < c1; c += cstep) out[c] = w0 * x0[c];
  for (int t = 1; t < taps; ++t) {
    const float* xt = x_img + int64_t{src[e0 + t]} * channels;
    const float wt = weight[e0 + t];
    for (int c = c0; c < c1; c += cstep) out[c] += wt * xt[c];
  }
}

// The adjoint of GatherColumnRow, as a gather over the inverse table (deterministic):
// dx[q][c] = sum over the entries e that read q, ascending, of weight[e] * dcol[e / taps][c],
// with the inverse in its flattened form (ConvTable / FlattenInverse: inv_rows[k] =
// e / taps, inv_weights[k] = weight[e]). dcol_img: (H*W*9, C); out: dx row q.
SAL_HD void InverseGatherRow(const float* dcol_img, int channels, const int32_t* inv_offsets,
                             const int32_t* inv_rows, const float* inv_weights, int64_t q,
                             float* out, int c0, int c1, int cstep) {
  for (int c = c0; c < c1; c += cstep) out[c] = 0.0f;
  for (int32_t k = inv_offsets[q]; k < inv_offsets[q + 1]; ++k) {
    const float w = inv_weights[k];
    const float* d = dcol_img + int64_t{inv_rows[k]} * channels;
    for (int c = c0; c < c1; c += cstep) out[c] += w * d[c];
  }
}

// Output-side ("GEMM first") forward: with Z = x · Wz already computed (z-space, one
// (9, Cout) block per source pixel), y[p][c] = bias[c] + sum_{tap,t} weight[e] *
// Z[src[e]][tap][c]. z_img: (H*W, 9*Cout); out: the Cout floats of y row p.
SAL_HD void GatherSumRow(const float* z_img, int channels, const int32_t* src,
                         const float* weight, int taps, int64_t p, const float* bias, float* out,
                         int c0, int c1, int cstep) {
  for (int c = c0; c < c1; c += cstep) out[c] = bias[c];
  for (int tap = 0; tap < kConvTaps; ++tap) {
    const int64_t e0 = (p * kConvTaps + tap) * taps;
    for (int t = 0; t < taps; ++t) {
      const float* z = z_img + int64_t{src[e0 + t]} * (kConvTaps * channels) + tap * channels;
      const float w = weight[e0 + t];
      for (int c = c0; c < c1; c += cstep) out[c] += w * z[c];
    }
  }
}

// The adjoint of GatherSumRow's gather (without the bias): for source pixel q,
// g[q][tap][c] = sum over the entries e of that tap that read q, ascending, of
// weight[e] * dy[e / taps / 9][c]. Flattened inverse as in InverseGatherRow.
// dy_img: (H*W, Cout); out: the 9*Cout floats of g row q.
SAL_HD void InverseGatherTapsRow(const float* dy_img, int channels, const int32_t* inv_offsets,
                                 const int32_t* inv_rows, const float* inv_weights, int64_t q,
                                 float* out, int c0, int c1, int cstep) {
  for (int tap = 0; tap < kConvTaps; ++tap) {
    for (int c = c0; c < c1; c += cstep) out[tap * channels + c] = 0.0f;
  }
  for (int32_t k = inv_offsets[q]; k < inv_offsets[q + 1]; ++k) {
    const int32_t pt = inv_rows[k];
    const float w = inv_weights[k];
    const float* d = dy_img + int64_t{pt / kConvTaps} * channels;
    float* o = out + (pt % kConvTaps) * channels;
    for (int c = c0; c < c1; c += cstep) o[c] += w * d[c];
  }
}

// Bias gradient in two fixed-order stages (deterministic on both devices):
// partial[k][c] = sum of the dy rows of chunk k (kBiasChunkRows rows), ascending, then
// db[c] += sum of the partials, ascending. Both stages accumulate rows with this body.
SAL_HD void AccumulateRow(const float* row, float* acc, int c0, int c1, int cstep) {
  for (int c = c0; c < c1; c += cstep) acc[c] += row[c];
}

// Weight permutations between the stored layout w (9, Cin, Cout) and the z-space GEMM
// operand Wz (Cin, 9*Cout): Wz[ci][tap*Cout + co] = w[tap][ci][co].
SAL_HD int64_t WeightIndex(int tap, int ci, int co, int cin, int cout) {
  return (int64_t{tap} * cin + ci) * cout + co;
}
SAL_HD int64_t ZWeightIndex(int tap, int ci, int co, int cout) {
  return int64_t{ci} * (kConvTaps * cout) + int64_t{tap} * cout + co;
}
// The cudnn engine's filter (nn/cuda/cudnn_graph.h), KRSC: w_krsc[co][tap][ci].
SAL_HD int64_t KrscWeightIndex(int tap, int ci, int co, int cin) {
  return (int64_t{co} * kConvTaps + tap) * cin + ci;
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
#include "nn/math_mode.h"

namespace sal360::nn::cuda {
// Launchers (spherical_conv.cu). Pointers are device memory; `stream` is the context's
// cudaStream_t, `cublas` its cublasHandle_t. Image-strided loops: `images` images of
// `pixels` pixels each; table pointers index within one image.
struct ConvTableView {
  const int32_t* src;
  const float* weight;
  const int32_t* inv_offsets;
  const int32_t* inv_rows;
  const float* inv_weights;
  int taps;
  int64_t pixels;  // H*W
};
// col rows [pt0, pt1) of one image (pt = p*9 + tap): col[(pt - pt0)*C + c].
void GatherColumns(const ConvTableView& t, const float* x_img, int channels, int64_t pt0,
                   int64_t pt1, float* col, void* stream);
// dx rows [q0, q1) of one image from that image's full dcol (H*W*9, C).
void InverseGather(const ConvTableView& t, const float* dcol_img, int channels, int64_t q0,
                   int64_t q1, float* dx_rows, void* stream);
// y rows [p0, p1) of one image from its z-space rows (H*W, 9*Cout).
void GatherSum(const ConvTableView& t, const float* z_img, int channels, const float* bias,
               int64_t p0, int64_t p1, float* y_rows, void* stream);
// g rows [q0, q1) (9*Cout each) of one image from its dy (H*W, Cout).
void InverseGatherTaps(const ConvTableView& t, const float* dy_img, int channels, int64_t q0,
                       int64_t q1, float* g_rows, void* stream);
// y (rows, C) = bias broadcast.
void FillRowsWithBias(const float* bias, int64_t rows, int channels, float* y, void* stream);
// db[c] += sum_r dy[r][c]; `partial` is scratch of ceil(rows / kBiasChunkRows) * channels
// floats.
void BiasGrad(const float* dy, int64_t rows, int channels, float* partial, float* db,
              void* stream);
// wz (Cin, 9*Cout) = permute(w (9, Cin, Cout)); w += permute^-1(dwz).
void WeightToZ(const float* w, int cin, int cout, float* wz, void* stream);
void AddZToWeight(const float* dwz, int cin, int cout, float* w, void* stream);
// krsc (Cout, 9, Cin) = permute(w (9, Cin, Cout)); w += permute^-1(dkrsc).
void WeightToKrsc(const float* w, int cin, int cout, float* krsc, void* stream);
void AddKrscToWeight(const float* dkrsc, int cin, int cout, float* w, void* stream);
// Row-major C (M, N) = alpha * op(A) · op(B) + beta * C through cuBLAS (column-major):
// computed as C^T = op(B)^T · op(A)^T. FP32 storage throughout; `precision` (nn/math_mode.h)
// picks the math: fp32 cublasSgemm, tf32/bf16 cublasGemmEx with the tensor-core compute
// type (operands rounded inside the GEMM, FP32 accumulation).
void RowMajorGemm(void* cublas, Precision precision, bool trans_a, bool trans_b, int m, int n,
                  int k, float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                  float* c, int ldc);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPS_SPHERICAL_CONV_KERNELS_H_
