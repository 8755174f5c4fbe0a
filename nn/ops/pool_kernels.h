// Max-pool 2x2 and nearest upsample x2 arithmetic, shared by the CPU loops (pool.cc)
// and the CUDA kernels (pool.cu). Tensors are NHWC; see nn/ops/pool.h for the rules
// (scan order, ties, NaN, floor division, fixed summation order).
#ifndef SAL360_NN_OPS_POOL_KERNELS_H_
#define SAL360_NN_OPS_POOL_KERNELS_H_

#include <cstdint>

#include "util/hd.h"

namespace sal360::nn::kernels {

SAL_HD int64_t NhwcIndex(int n, int h, int w, int c, int H, int W, int C) {
  return ((int64_t{n} * H + h) * W + w) * C + c;
}

// One 2x2 window: the candidates v00, v01, v10, v11 in scan order, the in-plane index
// h0*W + w0 of the first. Returns the maximum and stores the winner's in-plane index.
SAL_HD float MaxPool2x2Window(float v00, float v01, float v10, float v11, int32_t index00, int W,
                              int32_t* argmax) {
  float best = v00;
  int32_t best_index = index00;
  // Strictly greater, or NaN: the first maximum in scan order wins, NaN propagates.
  if (v01 > best || v01 != v01) best = v01, best_index = index00 + 1;
  if (v10 > best || v10 != v10) best = v10, best_index = index00 + W;
  if (v11 > best || v11 != v11) best = v11, best_index = index00 + W + 1;
  *argmax = best_index;
  return best;
}

// Output element (n, ho, wo, c) of the 2x2/stride-2 max pool over x (N,H,W,C).
SAL_HD float MaxPool2x2At(const float* x, int H, int W, int C, int n, int ho, int wo, int c,
                          int32_t* argmax) {
  const int64_t i00 = NhwcIndex(n, 2 * ho, 2 * wo, c, H, W, C);
  const int64_t row = int64_t{W} * C;
  return MaxPool2x2Window(x[i00], x[i00 + C], x[i00 + row], x[i00 + row + C], 2 * ho * W + 2 * wo,
                          W, argmax);
}

// Input-gradient element (n, h, w, c) of the max pool: dy of its window when the
// window's argmax names (h, w), else 0. dy and argmax are (N, H/2, W/2, C).
SAL_HD float MaxPool2x2GradAt(const float* dy, const int32_t* argmax, int H, int W, int C, int n,
                              int h, int w, int c) {
  const int ho = h >> 1, wo = w >> 1, Ho = H >> 1, Wo = W >> 1;
  if (ho >= Ho || wo >= Wo) return 0.0f;  // dropped odd row/column
  const int64_t o = NhwcIndex(n, ho, wo, c, Ho, Wo, C);
  return argmax[o] == h * W + w ? dy[o] : 0.0f;
}

// Nearest upsample x2: y (N,2H,2W,C) element (n, h, w, c) reads x (N,H,W,C).
// The flat argmax (h*W + w) of output (ho, wo) from a window-relative index k in 0..3,
// row-major within the 2x2 window ((0,0), (0,1), (1,0), (1,1)) — how the cudnn engine's
// max-pool reports its winner (nn/cuda/cudnn_graph.h). An index outside 0..3 gives -1,
// which the backward treats as "no winner" (gradient 0).
SAL_HD int32_t WindowIndexToFlat(int k, int ho, int wo, int W) {
  if (k < 0 || k > 3) return -1;
  return (2 * ho + k / 2) * W + (2 * wo + k % 2);
}

SAL_HD float Upsample2xAt(const float* x, int H, int W, int C, int n, int h, int w, int c) {
  return x[NhwcIndex(n, h >> 1, w >> 1, c, H, W, C)];
}
// Its backward: dx (N,H,W,C) element = sum of the 4 children in dy (N,2H,2W,C).
SAL_HD float Upsample2xGradAt(const float* dy, int H, int W, int C, int n, int h, int w, int c) {
  const int H2 = 2 * H, W2 = 2 * W;
  float s = dy[NhwcIndex(n, 2 * h, 2 * w, c, H2, W2, C)];
  s += dy[NhwcIndex(n, 2 * h, 2 * w + 1, c, H2, W2, C)];
  s += dy[NhwcIndex(n, 2 * h + 1, 2 * w, c, H2, W2, C)];
  s += dy[NhwcIndex(n, 2 * h + 1, 2 * w + 1, c, H2, W2, C)];
  return s;
}

}  // namespace sal360::nn::kernels

#ifdef SAL360_WITH_CUDA
namespace sal360::nn::cuda {
// Launchers (pool.cu). Shapes are those of the input x / the gradient dx: (N,H,W,C).
void MaxPool2x2Forward(const float* x, int n, int h, int w, int c, float* y, int32_t* argmax,
                       void* stream);
void MaxPool2x2Backward(const float* dy, const int32_t* argmax, int n, int h, int w, int c,
                        float* dx, void* stream);
void UpsampleNearest2xForward(const float* x, int n, int h, int w, int c, float* y, void* stream);
// argmax (N, H/2, W/2, C) int32 flat indices from window indices (int8, same layout).
void ArgmaxFromWindowIndex(const int8_t* window_index, int n, int h, int w, int c,
                           int32_t* argmax, void* stream);
void UpsampleNearest2xBackward(const float* dy, int n, int h, int w, int c, float* dx,
                               void* stream);
}  // namespace sal360::nn::cuda
#endif

#endif  // SAL360_NN_OPS_POOL_KERNELS_H_
