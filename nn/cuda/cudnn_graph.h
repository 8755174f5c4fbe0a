// The cudnn engine (issue #17): the spherical conv's GEMM as cuDNN 9 graph-API (backend)
// convolutions, batch-norm + ReLU and max-pool as graphs too. CUDA builds; under
// --config=cuda_emu the same code runs against the emulated backend API
// (nn/cuda/emu/cudnn_graph.cc: our reading of cuDNN's semantics, interpreted on the host).
//
// The spherical conv over the gathered column matrix col (P, 9*Cin) (nn/ops/
// spherical_conv.h) is a Conv2d(k=3, stride=3) over the published 3H x 3W expanded image.
// Here that image is described to cuDNN as what it is in memory: a batch of P patches, each
// a 3x3 NHWC image of Cin channels (tap = r*3 + c), so that
//   X  (P, Cin, 3, 3)  strides (9*Cin, 1, 3*Cin, Cin)    the column matrix, unchanged
//   W  (Cout, Cin, 3, 3) strides (9*Cin, 1, 3*Cin, Cin)  KRSC: w_krsc[co][tap][ci]
//   Y  (P, Cout, 1, 1) strides (Cout, 1, Cout, Cout)     the layer's NHWC output rows
// and a 3x3 valid convolution produces each output pixel from exactly its own patch: the
// same sums as the stride-3 convolution, with no gaps to describe. Forward, data-gradient
// (dcol = dy · W^T) and filter-gradient (dW = col^T · dy) are one-operation graphs.
//
// Plans are built once per (operation, P, Cin, Cout, precision) and cached for the
// process: the operation graph, cuDNN's heuristics (mode A, then the fallback list), and
// the first engine config that finalises among those allowed by the precision:
//   fp32  no tensor-core (TF32) and no down-converting engines;
//   tf32  tensor-core engines first (TF32 math on FP32 tensors), no down-converting ones;
// and, for both, no engine whose numerical notes say non-deterministic (sal360's backward
// is deterministic). bf16 would need BF16 tensors, which this engine does not build: at
// bf16 the convolutions run on the native engine's BF16 cuBLAS GEMMs (nn/ops/spherical_conv.cc).
//
// Every cuDNN status is checked; a failure names the call (and, while building a plan,
// the operation and shape). Workspaces come from the caller (the model's arena).
#ifndef SAL360_NN_CUDA_CUDNN_GRAPH_H_
#define SAL360_NN_CUDA_CUDNN_GRAPH_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "nn/math_mode.h"

namespace sal360::nn::cuda {

// Whether the cudnn engine can run here (cuDNN >= 9 and a plan for a small convolution
// finalises on this device). `why` says what failed. Checked once per process.
bool CudnnGraphAvailable(void* cudnn, std::string* why);

enum class CudnnConvOp { kForward, kBackwardData, kBackwardFilter };
const char* CudnnConvOpName(CudnnConvOp op);

struct CudnnConvShape {
  int64_t pixels = 0;  // P: patches (output pixels) in one call
  int cin = 0, cout = 0;
  Precision precision = Precision::kFp32;
};

// Bytes of workspace the cached plan of (op, shape) needs (builds the plan on first use).
size_t CudnnConvWorkspaceBytes(void* cudnn, CudnnConvOp op, const CudnnConvShape& shape);

// Runs the plan on the handle's stream. Every pointer is device memory, 16-byte aligned;
// `workspace` holds CudnnConvWorkspaceBytes (may be null when that is 0). The plans'
// beta is fixed per operation (a graph attribute):
//   kForward        y (P, Cout) += col · W             (the caller fills y with the bias)
//   kBackwardData   dcol (P, 9*Cin) = dy · W^T
//   kBackwardFilter dw_krsc (Cout, 9*Cin) += col^T · dy (the caller zeroes it first)
// For kForward pass (col, w_krsc, y); kBackwardData (dcol, w_krsc, dy); kBackwardFilter
// (col, dw_krsc, dy): the three tensors as X, W, Y of the convolution.
void CudnnConv(void* cudnn, CudnnConvOp op, const CudnnConvShape& shape, float* x, float* w,
               float* y, void* workspace);

// ---- Batch-norm fused with ReLU (the model's every batch-norm; nn/ops/batchnorm.h) ----
// x, y, dy, dx are (M, C) NHWC rows; per-channel vectors have C floats. Graphs:
//   kForwardTrain  NORM_FORWARD (batch norm, training phase) -> POINTWISE RELU_FWD
//                  reads x, gamma, beta, running_mean/var; writes y, save_mean,
//                  save_invstd and the updated running statistics (momentum = cuDNN's
//                  exponential-average factor; the running variance is the unbiased one)
//   kForwardEval   NORM_FORWARD (inference phase; mean = running_mean and inv_variance =
//                  `invstd` given, 1/sqrt(running_var + eps)) -> RELU_FWD
//   kBackward      POINTWISE RELU_BWD (dy masked where the ReLU output y is 0) ->
//                  NORM_BACKWARD with the forward's save_mean/save_invstd; writes dx,
//                  dgamma, dbeta ("=": the caller accumulates)
// cuDNN offers these fusions on some devices, layouts and sizes only: the plan of (op, M,
// C) is tried once and cached, and when it does not build (or only non-deterministic
// engines would run it) CudnnBnReluSupported says why and the caller runs the native
// kernels.
enum class CudnnBnOp { kForwardTrain, kForwardEval, kBackward };
const char* CudnnBnOpName(CudnnBnOp op);

struct CudnnBnArgs {
  const float* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;          // forward
  float* running_mean = nullptr;        // forward (kForwardTrain updates both)
  float* running_var = nullptr;         // kForwardTrain
  const float* invstd = nullptr;        // kForwardEval
  float* save_mean = nullptr;           // kForwardTrain writes; kBackward reads
  float* save_invstd = nullptr;         // kForwardTrain writes; kBackward reads
  float* y = nullptr;                   // forward writes; kBackward reads (the ReLU output)
  const float* dy = nullptr;            // kBackward
  float* dx = nullptr;                  // kBackward
  float* dgamma = nullptr;              // kBackward ("=")
  float* dbeta = nullptr;               // kBackward ("=")
  float epsilon = 1e-5f, momentum = 0.1f;
};

// Whether (op, M, C) runs on cuDNN here; `workspace` the bytes CudnnBnRelu needs.
bool CudnnBnReluSupported(void* cudnn, CudnnBnOp op, int64_t m, int c, size_t* workspace,
                          std::string* why);
// Runs a supported (op, M, C) on the handle's stream; `workspace` as reported above.
void CudnnBnRelu(void* cudnn, CudnnBnOp op, int64_t m, int c, const CudnnBnArgs& args,
                 void* workspace);

// ---- Max-pool 2x2 stride 2 (nn/ops/pool.h) as a RESAMPLE_FWD (MAXPOOL, -inf padding) ----
// x (N, H, W, C), y (N, H/2, W/2, C) NHWC, H and W even; `window_index` (int8, y's
// layout) receives cuDNN's index of each window's maximum, which nn/ops/pool.cc turns into
// our argmax (kernels::WindowIndexToFlat); the backward is then our own gather. Plans per
// shape as above; unsupported shapes run the native kernel (the reason from here).
bool CudnnMaxPoolSupported(void* cudnn, int n, int h, int w, int c, size_t* workspace,
                           std::string* why);
void CudnnMaxPool(void* cudnn, int n, int h, int w, int c, const float* x, float* y,
                  int8_t* window_index, void* workspace);

// cudnnBackendExecute calls so far (for benchmarks, like CublasGemmCalls).
int64_t CudnnExecutions();

}  // namespace sal360::nn::cuda

#endif  // SAL360_NN_CUDA_CUDNN_GRAPH_H_
