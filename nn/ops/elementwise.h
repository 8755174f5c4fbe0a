// Elementwise ops on tensors of any shape: fill, axpy, ReLU forward/backward.
// All tensors of one call live on the same device; shapes must match.
#ifndef SAL360_NN_OPS_ELEMENTWISE_H_
#define SAL360_NN_OPS_ELEMENTWISE_H_

#include "nn/tensor.h"

namespace sal360::nn {

void Fill(Tensor& y, float value);
void Axpy(float a, const Tensor& x, Tensor& y);          // y = a·x + y
void ReluForward(const Tensor& x, Tensor& y);            // y = max(x, 0); in place ok
void ReluBackward(const Tensor& y, const Tensor& dy, Tensor& dx);  // dx = dy·[y > 0]

}  // namespace sal360::nn

#endif  // SAL360_NN_OPS_ELEMENTWISE_H_
