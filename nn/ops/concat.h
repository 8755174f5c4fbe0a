// Channel concatenation of two NHWC tensors (the U-Net's skip connections) and its
// split in backward. Pure copies: exact on every device.
#ifndef SAL360_NN_OPS_CONCAT_H_
#define SAL360_NN_OPS_CONCAT_H_

#include "nn/tensor.h"

namespace sal360::nn {

// a (N,H,W,Ca), b (N,H,W,Cb) -> y (N,H,W,Ca+Cb) = [a | b] along channels. "=".
void ConcatChannelsForward(const Tensor& a, const Tensor& b, Tensor& y);
// dy (N,H,W,Ca+Cb) -> da = dy[..., :Ca], db = dy[..., Ca:]. "=".
void ConcatChannelsBackward(const Tensor& dy, Tensor& da, Tensor& db);

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_CONCAT_H_
