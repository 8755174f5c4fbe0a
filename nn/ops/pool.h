// MaxPool2d(kernel 2, stride 2) with argmax, and nearest-neighbour Upsample x2, over
// NHWC tensors. Activations and input gradients are written with "=".
//
// MaxPool2x2: y (N, H/2, W/2, C) with floor division like PyTorch (an odd last row or
// column is dropped; its gradient is 0). Within each 2x2 window the candidates are
// scanned in the order (0,0), (0,1), (1,0), (1,1); a candidate replaces the current
// best when it is strictly greater or is NaN — so among tied maxima the FIRST in scan
// order wins (PyTorch's CPU rule) and a NaN propagates. argmax[n,ho,wo,c] holds the
// winner's flat index h*W + w within the input plane (PyTorch's convention).
// Backward: dx[n,h,w,c] = dy[n,h/2,w/2,c] if argmax there names (h, w), else 0 — a
// gather (each input position lies in at most one window), deterministic, no atomics.
//
// UpsampleNearest2x: y[n,h,w,c] = x[n, h/2, w/2, c], y (N, 2H, 2W, C). Backward: dx is
// the sum of the 4 children, added in the fixed order (0,0)+(0,1)+(1,0)+(1,1).
#ifndef SAL360_NN_OPS_POOL_H_
#define SAL360_NN_OPS_POOL_H_

#include "nn/buffer.h"
#include "nn/tensor.h"

namespace sal360::nn {

// argmax: int32 (N, H/2, W/2, C) on x's device, caller-allocated (bytes checked).
void MaxPool2x2Forward(const Tensor& x, Tensor& y, Buffer& argmax);
// dx (N, H, W, C) "=". Invalid argmax entries (not in the window) only zero the gradient;
// they can never cause an out-of-range access.
void MaxPool2x2Backward(const Tensor& dy, const Buffer& argmax, Tensor& dx);
void UpsampleNearest2xForward(const Tensor& x, Tensor& y);    // y (N,2H,2W,C) "="
void UpsampleNearest2xBackward(const Tensor& dy, Tensor& dx);  // dx "=" (sum of the 4 children)

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_POOL_H_
